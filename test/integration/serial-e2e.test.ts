/**
 * End to end: a device on a pty → the real CLI agent (serial source, real binding) → mosquitto
 * → a subscriber. Includes an unplug/replug while a simulated source keeps publishing, and a
 * clean stop with the port open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { createPty } from '../support/pty.js';
import { startSubscriber } from '../support/subscriber.js';
import { agentFixture, logMsg } from './harness.js';

interface WeatherPayload {
  ts: number;
  temperature?: number;
  pressure?: number;
  H?: number;
}

void test('serial readings from a pty reach a subscriber through the agent, across an unplug', { timeout: 90_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const pty = await createPty({ t });
  const fx = await agentFixture({
    url: broker.url,
    t,
    sources: [
      {
        type: 'serial',
        name: 'weather',
        path: pty.path,
        baudRate: 115200,
        parser: { type: 'kv' },
        fields: { T: { rename: 'temperature', unit: '°C' }, P: { rename: 'pressure', scale: 0.1, unit: 'hPa' } },
      },
      { type: 'simulated', name: 'sim', interval: '100ms' },
    ],
  });
  const weatherTopic = `sensorgate/${fx.deviceId}/weather`;
  const sub = await startSubscriber({ url: broker.url, topic: [weatherTopic, fx.dataTopic], t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('serial port opened'), 15_000);
  await agent.waitForLog(logMsg('connected to broker'), 15_000);

  const before = Date.now();
  await pty.write('\nT=21.5 P=10132 H=40\r\nT=oops\x00\r\nT=21.6 P=10133 H=41\r\n');
  await sub.waitForCount(2, 15_000, weatherTopic);
  const payloads = (): WeatherPayload[] => sub.messages.filter((m) => m.topic === weatherTopic).map((m) => JSON.parse(m.payload.toString()) as WeatherPayload);
  const [first, second] = payloads();
  assert.deepEqual({ ...first, ts: 0 }, { ts: 0, temperature: 21.5, pressure: 1013.2, H: 40 });
  assert.deepEqual({ ...second, ts: 0 }, { ts: 0, temperature: 21.6, pressure: 1013.3, H: 41 });
  assert.ok((first?.ts ?? 0) >= before && (first?.ts ?? 0) <= Date.now(), 'ts is when the line arrived');
  await agent.waitForLog(logMsg('serial line with binary noise discarded'), 5_000);

  // Unplug: the agent logs it and keeps going; the other source keeps publishing meanwhile.
  await pty.unplug();
  await agent.waitForLog(logMsg('serial port closed/unplugged'), 10_000);
  await agent.waitForLog(logMsg('serial port not found, retrying'), 10_000);
  const simBefore = sub.messages.filter((m) => m.topic === fx.dataTopic).length;
  await sub.waitForCount(simBefore + 5, 10_000, fx.dataTopic);

  const opened = agent.lines.length;
  await pty.plug();
  await agent.waitForLog(logMsg('serial port opened'), 15_000, { since: opened });
  await pty.write('\nT=22 P=10140 H=42\n');
  await sub.waitForCount(3, 15_000, weatherTopic);
  assert.deepEqual({ ...payloads()[2], ts: 0 }, { ts: 0, temperature: 22, pressure: 1014, H: 42 });
  assert.equal(payloads().length, 3, 'nothing else was published for the serial source');

  assert.equal(await agent.stop('SIGTERM', 10_000), 0, 'clean stop with the port open');
  assert.ok(!agent.lines.some(logMsg('source failed')), 'the serial source never failed: bad input and unplugs are handled inside it');
});
