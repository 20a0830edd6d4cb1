/**
 * End to end through the real CLI, a real mosquitto and the counting fault proxy:
 * every committed seq arrives, in order, with the inflight limit held on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, readRetained, startSubscriber } from '../support/subscriber.js';
import { agentFixture, logMsg } from './harness.js';

const N = 20_000;

for (const qos of [1, 2] as const) {
  void test(`gapless delivery of ${N} readings at QoS ${qos}, inflight limit held, clean stop says offline`, { timeout: 180_000 }, async (t) => {
    const broker = await startBroker({ t, verbose: false });
    const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 100, t });
    const inflight = 16;
    const fx = await agentFixture({ url: proxy.url, qos, inflight, count: N, t });
    const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic, fx.statusTopic], qos, t });

    const agent = fx.start();
    await agent.waitForLog(logMsg('connected to broker'), 15_000);
    await sub.waitFor((ms) => ms.some((m) => m.topic === fx.statusTopic && m.payload.toString() === 'online'), 10_000, 'online status');
    await sub.waitForCount(N, 150_000, fx.dataTopic);
    await agent.waitForLog(logMsg('simulated source finished'), 10_000);

    const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), N);
    assert.deepEqual(report.missing, []);
    assert.equal(report.outOfOrder, 0);
    assert.equal(report.duplicates, 0, 'a healthy link gives no duplicates');
    assert.ok(proxy.maxInflightObserved <= inflight, `inflight on the wire reached ${proxy.maxInflightObserved} > ${inflight}`);
    assert.ok(proxy.maxInflightObserved >= inflight - 1, `window was not used (max ${proxy.maxInflightObserved})`);

    // The first thing after CONNACK is the retained online status; the CONNECT asks for a persistent session and a will.
    const connect = proxy.mqtt.connects[0]?.packet;
    assert.equal(connect?.clean, false);
    assert.equal(connect?.will?.topic, fx.statusTopic);
    assert.equal(connect?.will?.payload.toString(), 'offline');
    assert.equal(connect?.will?.retain, true);
    assert.equal(connect?.will?.qos, 1);

    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
    assert.equal((await readRetained(broker.url, fx.statusTopic, 5_000))?.toString(), 'offline');
    assert.equal(proxy.mqtt.disconnectCount, 1, 'clean stop sends DISCONNECT');
  });
}

void test('the first PUBLISH after CONNACK is the retained online status', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, t });
  const fx = await agentFixture({ url: proxy.url, count: 50, t });
  // Readings committed while the broker is unreachable must still queue behind the status.
  proxy.refuse(true);
  const agent = fx.start();
  await agent.waitForLog(logMsg('simulated source finished'), 15_000);
  proxy.refuse(false);
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  const sub = await startSubscriber({ url: broker.url, topic: [fx.statusTopic], t });
  await sub.waitForCount(1, 5_000);
  const first = proxy.mqtt.clientPublishes[0];
  assert.equal(first?.topic, fx.statusTopic);
  assert.equal(first?.payload.toString(), 'online');
  assert.equal(first?.retain, true);
  assert.equal(first?.qos, 1);
  await agent.stop();
});
