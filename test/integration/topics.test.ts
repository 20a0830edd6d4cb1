/**
 * Topics and payloads end to end (real CLI, real mosquitto): field mode publishes one plain value
 * per field on its own topic, per-source QoS and retain reach the subscriber, and the deadband
 * holds back values that did not move while a field without one is sent every reading.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeW1Tree, w1Slave } from '../support/gpio-standins.js';
import { startBroker } from '../support/broker.js';
import { readRetained, startSubscriber } from '../support/subscriber.js';
import type { ReceivedMessage } from '../support/subscriber.js';
import { agentFixture } from './harness.js';

const GREENHOUSE = '28-0316a2791dff';
const BARN = '28-0316a2791e00';

void test('field mode with per-source qos/retain and a deadband, next to a reading-mode source', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const tree = await makeW1Tree(t, { [GREENHOUSE]: w1Slave(21500), [BARN]: w1Slave(19000) });
  const fx = await agentFixture({
    url: broker.url,
    sources: [
      {
        type: 'onewire',
        name: 'temps',
        interval: '1s',
        baseDir: tree.baseDir,
        probes: [
          { id: GREENHOUSE, name: 'greenhouse' },
          { id: BARN, name: 'barn' },
        ],
        publish: { mode: 'field', topic: 'home/{device}/{source}/{field}', qos: 2, retain: true, deadband: { greenhouse: 0.5 } },
      },
      { type: 'simulated', name: 'sim', interval: '500ms', publish: { qos: 0 } },
    ],
    t,
  });
  const fieldTopic = (field: string): string => `home/${fx.deviceId}/temps/${field}`;
  const simTopic = `sensorgate/${fx.deviceId}/sim`;
  const sub = await startSubscriber({ url: broker.url, topic: [`home/${fx.deviceId}/#`, simTopic], qos: 2, t });
  const on = (topic: string): ReceivedMessage[] => sub.messages.filter((m) => m.topic === topic);
  const agent = fx.start();

  // Constant temperatures: barn (no deadband) goes out every reading, greenhouse once.
  await sub.waitFor(() => on(fieldTopic('barn')).length >= 4, 15_000, 'four barn readings');
  assert.deepEqual(on(fieldTopic('greenhouse')).map((m) => m.payload.toString()), ['21.5']);
  assert.ok(on(fieldTopic('barn')).every((m) => m.payload.toString() === '19' && m.qos === 2));

  // A move of 1 °C passes the deadband at the next reading; a move of 0.2 does not.
  await tree.setProbe(GREENHOUSE, w1Slave(22500));
  await sub.waitFor(() => on(fieldTopic('greenhouse')).length >= 2, 5_000, 'the changed greenhouse value');
  await tree.setProbe(GREENHOUSE, w1Slave(22700));
  const barnBefore = on(fieldTopic('barn')).length;
  await sub.waitFor(() => on(fieldTopic('barn')).length >= barnBefore + 3, 10_000, 'three more readings');
  assert.deepEqual(on(fieldTopic('greenhouse')).map((m) => m.payload.toString()), ['21.5', '22.5']);
  t.diagnostic(`barn ${on(fieldTopic('barn')).length} messages, greenhouse ${on(fieldTopic('greenhouse')).length}: the deadband held back the rest`);

  // The reading-mode source kept its JSON objects and its own QoS 0.
  const sim = on(simTopic);
  assert.ok(sim.length >= 4);
  assert.ok(sim.every((m) => m.qos === 0 && typeof (JSON.parse(m.payload.toString()) as { seq?: unknown }).seq === 'number'));
  assert.deepEqual(
    [...new Set(sub.messages.map((m) => m.topic))].sort(),
    [fieldTopic('barn'), fieldTopic('greenhouse'), simTopic].sort(),
    'one topic per field, nothing else',
  );

  assert.equal(await agent.stop(), 0);
  assert.equal((await readRetained(broker.url, fieldTopic('greenhouse'), 3_000))?.toString(), '22.5', 'field messages were published retained');
  assert.equal(await readRetained(broker.url, simTopic, 1_000), null, 'the reading-mode source was not retained');
});
