/**
 * 1-Wire end to end (real CLI, real mosquitto) against a fixture w1 tree: this machine has no
 * 1-Wire bus. One good probe, one failing its CRC and one stuck at the 85000 power-on value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeW1Tree, w1Slave } from '../support/gpio-standins.js';
import { startBroker } from '../support/broker.js';
import { startSubscriber } from '../support/subscriber.js';
import { agentFixture, countLogs, logMsg } from './harness.js';

void test('1-Wire: only valid temperatures are published; the CRC failure and the 85000 value are logged, once each', { timeout: 60_000 }, async (t) => {
  const GOOD = '28-0316a2791dff';
  const CRC = '28-0316a2791e00';
  const POWER_ON = '28-0316a2791e01';
  const broker = await startBroker({ t, verbose: false });
  const tree = await makeW1Tree(t, { [GOOD]: w1Slave(21562), [CRC]: w1Slave(22000, { crc: 'NO' }), [POWER_ON]: w1Slave(85000) });
  const fx = await agentFixture({
    url: broker.url,
    sources: [
      {
        type: 'onewire',
        name: 'temps',
        interval: '1s',
        baseDir: tree.baseDir,
        probes: [
          { id: GOOD, name: 'greenhouse' },
          { id: CRC, name: 'barn' },
          { id: POWER_ON, name: 'cellar' },
        ],
      },
    ],
    t,
  });
  const topic = `sensorgate/${fx.deviceId}/temps`;
  const sub = await startSubscriber({ url: broker.url, topic, qos: 1, t });
  const agent = fx.start();
  await sub.waitForCount(3, 15_000, topic);
  assert.equal(await agent.stop(), 0);
  for (const m of sub.messages) {
    const { ts, ...fields } = JSON.parse(m.payload.toString()) as Record<string, number>;
    assert.equal(typeof ts, 'number');
    assert.deepEqual(fields, { greenhouse: 21.562 });
  }
  const rejected = agent.lines.filter(logMsg('1-Wire probe reading rejected')).map((l) => [l.json?.name, l.json?.problem]);
  assert.deepEqual(rejected.sort(), [
    ['barn', 'crc'],
    ['cellar', 'power-on'],
  ], 'logged once per probe and problem, however many intervals failed');
  assert.equal(countLogs(agent, 'source failed'), 0, 'a bad probe is not a source failure');
});
