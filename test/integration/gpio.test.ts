/**
 * GPIO end to end (real CLI, real mosquitto) against stand-ins: scripted libgpiod tools on the
 * agent's PATH and a fixture sysfs tree. This machine has no GPIO hardware.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAgent } from '../support/cli.js';
import { installGpioTools, makeSysfsTree } from '../support/gpio-standins.js';
import { makeTempDir } from '../support/temp.js';
import { readRetained, startSubscriber } from '../support/subscriber.js';
import type { ReceivedMessage } from '../support/subscriber.js';
import { startBroker } from '../support/broker.js';
import { waitUntilAsync } from '../support/wait.js';
import { agentFixture, logMsg, waitForQuiet } from './harness.js';

interface CounterMessage {
  ts: number;
  count: number;
  total: number;
  rate: number;
  pulses: number;
  pulsesTotal: number;
  unit: string;
}

const parse = (m: ReceivedMessage): CounterMessage => JSON.parse(m.payload.toString()) as CounterMessage;
const pulsesIn = (messages: readonly ReceivedMessage[], topic: string, since = 0): number =>
  messages.filter((m) => m.topic === topic).map(parse).filter((m) => m.ts >= since).reduce((n, m) => n + m.pulses, 0);

void test('GPIO counter (libgpiod v2 stand-ins): the total survives kill -9 exactly and continues from the committed value', { timeout: 90_000 }, async (t) => {
  const K = 20;
  const broker = await startBroker({ t, verbose: false });
  // Pulses with two bounces on every edge: without debouncing each would count three times.
  const tools = await installGpioTools(t, { version: 2, pulses: { count: -1, periodMs: 40, widthMs: 15, bounces: 2 }, then: 'idle', survivesClosedStdout: true });
  const fx = await agentFixture({
    url: broker.url,
    qos: 2,
    sources: [{ type: 'gpio', name: 'rain', mode: 'counter', line: 17, debounce: '5ms', interval: '250ms', scale: 0.2794, unit: 'mm' }],
    t,
  });
  const topic = `sensorgate/${fx.deviceId}/rain`;
  const sub = await startSubscriber({ url: broker.url, topic, qos: 2, t });
  const env = { PATH: tools.path };

  const first = runAgent({ configPath: fx.configPath, env, t });
  await first.waitForLog(logMsg('gpio line opened'), 15_000);
  await sub.waitFor((ms) => pulsesIn(ms, topic) >= 15, 20_000, '15 pulses counted');
  await first.kill9();
  const restartAt = Date.now();
  // The lifeline: the killed agent's gpiomon goes with it instead of holding the line.
  await waitUntilAsync(async () => (await tools.liveMonitors()).length === 0, 5_000, 'the orphaned gpiomon to exit');

  await tools.setScript({ version: 2, pulses: { count: K, periodMs: 40, widthMs: 15, bounces: 2, startDelayMs: 300 }, then: 'idle' });
  const second = runAgent({ configPath: fx.configPath, env, t });
  const resumed = await second.waitForLog(logMsg('gpio counter resumes'), 15_000);
  const committedTotal = resumed.json?.total as number;
  await sub.waitFor((ms) => pulsesIn(ms, topic, restartAt) >= K, 20_000, `${K} pulses after the restart`);
  assert.equal(await second.stop('SIGTERM', 15_000), 0);
  await waitForQuiet(sub, 300, 5_000);

  const messages = sub.messages.filter((m) => m.topic === topic).map(parse);
  t.diagnostic(`${messages.length} messages; committed total at the kill ${committedTotal}; final ${messages.at(-1)?.pulsesTotal}`);
  // Every message continues the one before: no pulse counted twice, no committed pulse lost.
  let previous = 0;
  for (const [i, m] of messages.entries()) {
    assert.equal(m.pulsesTotal, previous + m.pulses, `message ${i}: ${JSON.stringify(m)} after total ${previous}`);
    assert.equal(m.total, Math.round(m.pulsesTotal * 0.2794 * 1e6) / 1e6);
    assert.equal(m.unit, 'mm');
    previous = m.pulsesTotal;
  }
  const beforeKill = messages.filter((m) => m.ts < restartAt);
  assert.ok(beforeKill.length > 0);
  assert.equal(committedTotal, beforeKill.at(-1)?.pulsesTotal, 'the restart resumed from the last committed total');
  assert.equal(messages.at(-1)?.pulsesTotal, committedTotal + K, 'every pulse of the second run counted once (bounces filtered, the last interval committed by SIGTERM)');

  const monitors = (await tools.calls()).filter((c) => c.tool === 'gpiomon' && !c.args.includes('--version'));
  assert.equal(monitors.length, 2);
  for (const call of monitors) assert.deepEqual(call.args, ['--consumer', 'sensorgate', '--chip', 'gpiochip0', '--debounce-period', '5000us', '--format', '%e %S', '17']);
});

void test('GPIO input on the sysfs backend (fixture tree): field mode, retained, each change one message', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const tree = await makeSysfsTree(t, { bases: [512], exported: [529] });
  const fx = await agentFixture({
    url: broker.url,
    sources: [
      {
        type: 'gpio',
        name: 'door',
        line: 17,
        activeLow: true,
        debounce: '20ms',
        sysfsRoot: tree.root,
        pollInterval: '5ms',
        publish: { mode: 'field', topic: 'home/{device}/{source}/{field}', qos: 2, retain: true },
      },
    ],
    t,
  });
  const topic = `home/${fx.deviceId}/door/state`;
  const sub = await startSubscriber({ url: broker.url, topic, qos: 2, t });
  // No libgpiod tools on this PATH: auto picks sysfs.
  const agent = runAgent({ configPath: fx.configPath, env: { PATH: await makeTempDir('sg-empty-path-', t) }, t });
  const opened = await agent.waitForLog(logMsg('gpio line opened'), 15_000);
  assert.match(String(opened.json?.line), /^sysfs .*gpio/);
  await sub.waitForCount(1, 10_000, topic);
  // Active low: physical 0 is "1". Flip it closed, open, closed; a 5 ms glitch in between is debounced away.
  for (const level of [1, 0] as const) {
    await tree.setValue(529, level);
    await sub.waitForCount(sub.messages.length + 1, 5_000, topic);
  }
  await tree.setValue(529, 1);
  await new Promise((resolve) => setTimeout(resolve, 8));
  await tree.setValue(529, 0);
  await waitForQuiet(sub, 300, 5_000);
  assert.deepEqual(
    sub.messages.map((m) => [m.payload.toString(), m.qos]),
    [
      ['1', 2],
      ['0', 2],
      ['1', 2],
    ],
  );
  assert.equal((await readRetained(broker.url, topic, 3_000))?.toString(), '1', 'published retained');
  assert.equal((await tree.direction(529)).trim(), 'in');
  assert.equal(await agent.stop(), 0);
});
