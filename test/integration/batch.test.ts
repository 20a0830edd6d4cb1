/**
 * publish.batch end to end (real CLI, real mosquitto, fault proxy): subscribers get JSON arrays
 * with every seq in order; readings waiting in an open batch are lost by kill -9 but their
 * source regenerates the same seqs (its state rides with the batch: no gap, no reuse); a clean
 * stop commits the open batch; and batching cuts the bytes on the wire per reading.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, startSubscriber, topicMatches } from '../support/subscriber.js';
import type { ReceivedMessage, Subscriber } from '../support/subscriber.js';
import { sleep } from '../support/wait.js';
import { agentFixture, logMsg, waitForAllSeqs, waitForQuiet } from './harness.js';

interface ArrivedReading {
  seq: number;
  ts: number;
}

/** The readings of every data message, in arrival order; each payload must be a JSON array. */
function readingsOf(sub: Subscriber, topic: string): ArrivedReading[] {
  return sub.messages
    .filter((m) => topicMatches(topic, m.topic))
    .flatMap((m) => {
      const value: unknown = JSON.parse(m.payload.toString());
      assert.ok(Array.isArray(value), `payload is not a JSON array: ${m.payload.toString().slice(0, 120)}`);
      return (value as Array<{ seq: number; ts: number }>).map(({ seq, ts }) => ({ seq, ts }));
    });
}

function dataMessages(sub: Subscriber, topic: string): ReceivedMessage[] {
  return sub.messages.filter((m) => topicMatches(topic, m.topic));
}

for (const qos of [2, 1] as const) {
  void test(`QoS ${qos}: batches of 10 arrive as JSON arrays; every seq ${qos === 2 ? 'exactly' : 'at least'} once, in order`, { timeout: 90_000 }, async (t) => {
    const N = 2_000;
    const inflight = 8;
    const broker = await startBroker({ t, verbose: false });
    const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 10, t });
    const fx = await agentFixture({ url: proxy.url, qos, inflight, count: N, interval: '0ms', batch: { maxReadings: 10, maxDelay: '200ms' }, t });
    const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos, t });
    const agent = fx.start();
    await waitForAllSeqs(sub, fx.dataTopic, N, 60_000);
    await agent.waitForLog(logMsg('simulated source finished'), 10_000);
    await waitForQuiet(sub, 300, 10_000);

    const messages = dataMessages(sub, fx.dataTopic);
    const sizes = messages.map((m) => (JSON.parse(m.payload.toString()) as unknown[]).length);
    t.diagnostic(`${messages.length} messages for ${N} readings; sizes ${Math.min(...sizes)}..${Math.max(...sizes)}`);
    assert.ok(sizes.every((n) => n >= 1 && n <= 10), `a batch outside 1..10 readings: ${sizes.filter((n) => n < 1 || n > 10).join(', ')}`);
    // Flat out the source hands over 64 readings at a time: six batches of 10 and one of 4.
    assert.ok(messages.length <= Math.ceil(N / 64) * 7, `${messages.length} messages: readings were not batched`);
    const report = analyzeSeqs(
      readingsOf(sub, fx.dataTopic).map((r) => r.seq),
      N,
    );
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unexpected, []);
    assert.equal(report.outOfOrder, 0, 'first arrivals are in seq order, across and within arrays');
    if (qos === 2) assert.equal(report.duplicates, 0);
    assert.ok(proxy.maxInflightObserved <= inflight, `inflight on the wire reached ${proxy.maxInflightObserved} > ${inflight}`);
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  });
}

/** 25 readings, batches of 10 and a maxDelay no test waits for: 21..25 stay in the open batch. */
const PARTIAL = { count: 25, interval: '20ms', batch: { maxReadings: 10, maxDelay: '30s' } } as const;

void test('kill -9 loses the open batch from memory; the restart regenerates the same seqs: no gap, no reuse', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await agentFixture({ url: broker.url, qos: 2, ...PARTIAL, t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 2, t });

  const first = fx.start();
  await first.waitForLog(logMsg('simulated source finished'), 15_000);
  await waitForAllSeqs(sub, fx.dataTopic, 20, 10_000);
  await sleep(300);
  assert.deepEqual(
    readingsOf(sub, fx.dataTopic).map((r) => r.seq),
    Array.from({ length: 20 }, (_, i) => i + 1),
    'only the two full batches were committed and sent',
  );
  await first.kill9();
  const restartedAt = Date.now();

  const second = fx.start();
  // The state committed with the second batch says seq 20: the source makes 21..25 again.
  await second.waitForLog(logMsg('simulated source finished'), 15_000);
  assert.equal(await second.stop('SIGTERM', 15_000), 0);
  const flushed = await second.waitForLog(logMsg('open batches committed'), 1_000);
  assert.equal(flushed.json?.readings, 5, 'the regenerated 21..25 were waiting in the open batch');

  const third = fx.start();
  await waitForAllSeqs(sub, fx.dataTopic, 25, 15_000);
  await third.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForQuiet(sub, 300, 5_000);
  const readings = readingsOf(sub, fx.dataTopic);
  const report = analyzeSeqs(
    readings.map((r) => r.seq),
    25,
  );
  assert.deepEqual(report.missing, [], 'no gap');
  assert.equal(report.duplicates, 0, 'no reuse: each seq once (QoS 2)');
  assert.equal(report.outOfOrder, 0);
  const regenerated = readings.filter((r) => r.seq > 20);
  assert.ok(
    regenerated.every((r) => r.ts >= restartedAt),
    `21..25 should be the restarted agent's readings: ts ${regenerated.map((r) => r.ts - restartedAt).join(', ')} ms after the restart`,
  );
  await third.stop();
});

void test('kill -9 at random points mid-stream with batching: every seq exactly once, in order', { timeout: 90_000 }, async (t) => {
  const N = 3_000;
  const broker = await startBroker({ t, verbose: false });
  // One reading per emit (interval > 0), so an open batch is almost always holding readings at the kill.
  const fx = await agentFixture({ url: broker.url, qos: 2, count: N, interval: '1ms', batch: { maxReadings: 10, maxDelay: '100ms' }, t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 2, clientId: `batch-crash-sub-${fx.deviceId}`, clean: false, t });
  const killedAt: number[] = [];
  for (let cycle = 0; cycle < 3; cycle++) {
    const agent = fx.start();
    await agent.waitForLog(logMsg('connected to broker'), 15_000);
    const target = sub.seqsOf(fx.dataTopic).length + 200 + Math.floor(Math.random() * 400);
    await sub.waitFor(() => sub.seqsOf(fx.dataTopic).length >= target, 30_000, `${target} readings before the kill`);
    await sleep(Math.floor(Math.random() * 15));
    killedAt.push(sub.seqsOf(fx.dataTopic).length);
    await agent.kill9();
  }
  t.diagnostic(`killed with ${killedAt.join(', ')} readings at the subscriber`);
  const agent = fx.start();
  await waitForAllSeqs(sub, fx.dataTopic, N, 45_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForQuiet(sub, 300, 5_000);
  const report = analyzeSeqs(
    readingsOf(sub, fx.dataTopic).map((r) => r.seq),
    N,
  );
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.unexpected, []);
  assert.equal(report.duplicates, 0);
  assert.equal(report.outOfOrder, 0);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);
});

void test('SIGTERM commits the open batch before the store closes: its readings arrive after the restart', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await agentFixture({ url: broker.url, qos: 2, ...PARTIAL, t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 2, t });

  const first = fx.start();
  await first.waitForLog(logMsg('simulated source finished'), 15_000);
  await waitForAllSeqs(sub, fx.dataTopic, 20, 10_000);
  const stoppedAt = Date.now();
  assert.equal(await first.stop('SIGTERM', 15_000), 0);
  const flushed = await first.waitForLog(logMsg('open batches committed'), 1_000);
  assert.deepEqual([flushed.json?.batches, flushed.json?.readings, flushed.json?.failedCommits], [1, 5, 0]);

  // Well within maxDelay (30 s): only a committed batch can arrive this soon.
  const second = fx.start();
  await waitForAllSeqs(sub, fx.dataTopic, 25, 10_000);
  await second.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForQuiet(sub, 300, 5_000);
  const readings = readingsOf(sub, fx.dataTopic);
  const report = analyzeSeqs(
    readings.map((r) => r.seq),
    25,
  );
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
  assert.equal(report.outOfOrder, 0);
  const last = readings.filter((r) => r.seq > 20);
  assert.ok(
    last.every((r) => r.ts < stoppedAt),
    `21..25 should be the first run's readings (committed by the stop), not regenerated: ts ${last.map((r) => r.ts - stoppedAt).join(', ')} ms after the stop`,
  );
  await second.stop();
});

interface WireFigures {
  label: string;
  publishes: number;
  upPerReading: number;
  downPerReading: number;
}

async function measureWire(t: TestContext, label: string, batch: Record<string, unknown> | undefined, n: number): Promise<WireFigures> {
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: n + 10, t });
  const fx = await agentFixture({ url: proxy.url, qos: 1, count: n, interval: '2ms', ...(batch === undefined ? {} : { batch }), t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 1, t });
  const agent = fx.start();
  await waitForAllSeqs(sub, fx.dataTopic, n, 60_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForQuiet(sub, 300, 5_000);
  // Before the stop: CONNECT, the online status and the readings, not the offline status and DISCONNECT.
  const { fromClient, toClient } = proxy.bytes;
  const publishes = proxy.mqtt.clientPublishes.filter((p) => p.topic === fx.dataTopic).length;
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  return { label, publishes, upPerReading: fromClient / n, downPerReading: toClient / n };
}

void test('bytes on the wire per reading: batching cuts client→broker bytes', { timeout: 90_000 }, async (t) => {
  const N = 1_000;
  const plain = await measureWire(t, 'one message per reading', undefined, N);
  const by10 = await measureWire(t, 'batch maxReadings 10', { maxReadings: 10, maxDelay: '30s' }, N);
  const by50 = await measureWire(t, 'batch maxReadings 50', { maxReadings: 50, maxDelay: '30s' }, N);
  for (const f of [plain, by10, by50]) {
    t.diagnostic(
      `${f.label}: ${f.publishes} data PUBLISHes, client→broker ${f.upPerReading.toFixed(1)} B/reading, broker→client ${f.downPerReading.toFixed(1)} B/reading (QoS 1, ${N} readings)`,
    );
  }
  t.diagnostic(`client→broker bytes/reading vs plain: batch 10 ${((by10.upPerReading / plain.upPerReading) * 100).toFixed(0)} %, batch 50 ${((by50.upPerReading / plain.upPerReading) * 100).toFixed(0)} %`);
  // One reading per emit and a maxDelay no run reaches: the counts close every batch.
  assert.equal(plain.publishes, N);
  assert.equal(by10.publishes, N / 10);
  assert.equal(by50.publishes, N / 50);
  assert.ok(by10.upPerReading < plain.upPerReading * 0.8, `batch 10: ${by10.upPerReading.toFixed(1)} vs plain ${plain.upPerReading.toFixed(1)} B/reading`);
  assert.ok(by50.upPerReading < by10.upPerReading, `batch 50 (${by50.upPerReading.toFixed(1)}) should beat batch 10 (${by10.upPerReading.toFixed(1)})`);
  assert.ok(by10.downPerReading < plain.downPerReading / 5, 'one PUBACK per batch instead of per reading');
});
