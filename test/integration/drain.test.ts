/**
 * Drain behaviour after an outage, end to end (real CLI, real mosquitto, the fault proxy):
 * oldest-first at full window, newest-first (live and the top of the backlog first, nothing
 * lost, QoS 2 exactly once across a reset), and mqtt.maxPublishRate measured on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Packet } from 'mqtt-packet';
import { parse } from 'yaml';
import { startBroker } from '../support/broker.js';
import { runCli, writeConfig } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import type { SeenPublish } from '../support/mqtt-accounting.js';
import { analyzeSeqs, startSubscriber } from '../support/subscriber.js';
import { makeTempDir } from '../support/temp.js';
import { sleep, waitUntil } from '../support/wait.js';
import { agentFixture, logMsg, waitForAllSeqs, waitForQuiet } from './harness.js';
import type { AgentFixture } from './harness.js';

interface Reading {
  seq: number;
  ts: number;
}

const reading = (p: SeenPublish): Reading => JSON.parse(p.payload.toString()) as Reading;

/** Index of the first connection the broker accepted after `after` (refused dials have no CONNACK). */
async function acceptedConnection(proxy: FaultProxy, after = -1): Promise<{ index: number; at: number }> {
  const ack = await waitUntil(() => proxy.mqtt.connacks.find((c) => c.returnCode === 0 && c.connIndex > after), 15_000, 'an accepted connection');
  return { index: ack.connIndex, at: ack.at };
}

function publishesOn(proxy: FaultProxy, connIndex: number, topic: string): SeenPublish[] {
  return proxy.mqtt.clientPublishes.filter((p) => p.connIndex === connIndex && p.topic === topic);
}

/** Sets keys of the fixture's config sections (the fixture writes mqtt and store itself). */
async function patchConfig(fx: AgentFixture, patch: { mqtt?: Record<string, unknown>; store?: Record<string, unknown> }): Promise<void> {
  const config = parse(await readFile(fx.configPath, 'utf8')) as Record<string, Record<string, unknown>>;
  config.mqtt = { ...config.mqtt, ...patch.mqtt };
  config.store = { ...config.store, ...patch.store };
  await writeConfig(dirname(fx.configPath), config, { name: basename(fx.configPath) });
}

const isStrictly = (seqs: readonly number[], dir: 1 | -1): boolean => seqs.every((s, i) => i === 0 || (s - (seqs[i - 1] as number)) * dir > 0);

void test('oldest-first: a backlog from an outage drains oldest first at full window while live readings keep coming', { timeout: 120_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 20_000, t });
  const inflight = 12;
  const n = 1_500;
  // 200 readings/s for 7.5 s: about 3 s of it (~600) pile up during the outage, the rest arrive live.
  const fx = await agentFixture({ url: proxy.url, qos: 1, inflight, count: n, interval: '5ms', maxDelay: '500ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, qos: 1, t });
  proxy.refuse(true);
  const agent = fx.start();
  await sleep(3_000);
  proxy.refuse(false);
  const conn = await acceptedConnection(proxy);

  await waitForAllSeqs(sub, fx.dataTopic, n, 60_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  const sent = publishesOn(proxy, conn.index, fx.dataTopic).map(reading);
  const backlog = sent.filter((r) => r.ts < conn.at - 100).length;
  const live = sent.filter((r) => r.ts > conn.at + 100).length;
  t.diagnostic(`backlog at connect ≈ ${backlog}, live after ≈ ${live}, max inflight ${proxy.mqtt.maxInflightOf(conn.index)}`);
  assert.ok(backlog >= 200 && live >= 200, `the test needs both a backlog (${backlog}) and live readings (${live})`);
  assert.deepEqual(
    sent.map((r) => r.seq),
    Array.from({ length: n }, (_, i) => i + 1),
    'every reading once, in seq order: no live reading overtakes the backlog',
  );
  assert.equal(proxy.mqtt.maxInflightOf(conn.index), inflight, 'the window was used fully and never exceeded');
  assert.ok(proxy.maxInflightObserved <= inflight);
  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), n);
  assert.deepEqual([report.missing, report.outOfOrder], [[], 0]);
  assert.equal(await agent.stop(), 0);
});

for (const qos of [1, 2] as const) {
  void test(`newest-first at QoS ${qos}: live readings and the top of the backlog go first; everything arrives${qos === 2 ? ' exactly once' : ''}, also across a reset`, { timeout: 150_000 }, async (t) => {
    const broker = await startBroker({ t, verbose: false });
    const clientPackets: Array<{ connIndex: number; packet: Packet }> = [];
    const proxy = await startFaultProxy({
      targetPort: broker.port,
      keepPublishes: 20_000,
      onClientPacket: (packet, connIndex) => clientPackets.push({ connIndex, packet }),
      t,
    });
    const inflight = 10;
    const bulkCount = 600;
    const liveCount = 140;
    // `bulk` is all backlog (committed at once during the outage); `live` reads every 50 ms
    // for 7 s, before, during and after the reconnect.
    const fx = await agentFixture({
      url: proxy.url,
      qos,
      inflight,
      maxDelay: '500ms',
      sources: [
        { type: 'simulated', name: 'bulk', interval: '0ms', count: bulkCount },
        { type: 'simulated', name: 'live', interval: '50ms', count: liveCount },
      ],
      t,
    });
    await patchConfig(fx, { store: { drain: 'newest-first' } });
    const bulkTopic = `sensorgate/${fx.deviceId}/bulk`;
    const liveTopic = `sensorgate/${fx.deviceId}/live`;
    const sub = await startSubscriber({ url: broker.url, topic: [bulkTopic, liveTopic], qos, t });
    proxy.refuse(true);
    const agent = fx.start();
    await sleep(2_500);
    // 25 ms each way: the window, not the CPU, sets the drain rate, so the drain lasts long
    // enough to watch live readings overtake the backlog.
    proxy.setLatency(25);
    proxy.refuse(false);
    const first = await acceptedConnection(proxy);

    // Reset mid-drain: the next connection (session present) must replay first, same ids.
    await waitUntil(() => publishesOn(proxy, first.index, bulkTopic).length >= 250, 30_000, '250 bulk readings sent');
    const outstanding = proxy.mqtt.inflightOf(first.index);
    proxy.resetAll();
    const second = await acceptedConnection(proxy, first.index);

    await waitForAllSeqs(sub, bulkTopic, bulkCount, 90_000);
    await waitForAllSeqs(sub, liveTopic, liveCount, 30_000);
    await waitForQuiet(sub, 500, 10_000);

    // Connection 1: the first data PUBLISH is the newest reading; then live in order and the backlog newest to oldest.
    const sent1 = proxy.mqtt.clientPublishes.filter((p) => p.connIndex === first.index && p.topic !== fx.statusTopic);
    const firstData = sent1[0];
    assert.ok(firstData !== undefined);
    const liveSent = publishesOn(proxy, first.index, liveTopic);
    const liveBefore = liveSent.filter((p) => reading(p).ts < first.at - 100);
    const liveAfter = liveSent.filter((p) => reading(p).ts > first.at + 100);
    assert.equal(firstData.topic, liveTopic, 'the newest stored reading is a live one');
    assert.ok(
      liveBefore.every((p) => reading(p).seq <= reading(firstData).seq),
      `first PUBLISH was live seq ${reading(firstData).seq}, not the newest`,
    );
    assert.ok(isStrictly(publishesOn(proxy, first.index, bulkTopic).map((p) => reading(p).seq), -1), 'bulk backlog newest to oldest');
    assert.equal(reading(publishesOn(proxy, first.index, bulkTopic)[0] as SeenPublish).seq, bulkCount, 'the bulk backlog starts at its top');
    assert.ok(isStrictly(liveBefore.map((p) => reading(p).seq), -1), 'stored live readings are backlog: newest to oldest');
    assert.ok(isStrictly(liveAfter.map((p) => reading(p).seq), 1), 'live readings in commit order');
    assert.ok(liveAfter.length >= 10, `${liveAfter.length} live readings during the drain`);
    // Live readings do not queue behind the backlog (which took seconds): each goes within a few round trips.
    const lag = Math.max(...liveAfter.map((p) => p.at - reading(p).ts));
    t.diagnostic(`connection 1: ${sent1.length} data publishes, ${liveAfter.length} live, worst live lag ${lag} ms`);
    assert.ok(lag < 1_000, `a live reading waited ${lag} ms`);

    // Connection 2 (after the reset): what was unacknowledged goes first, under the same ids, DUP=1 (or PUBREL).
    const toSession = proxy.mqtt.connacks.find((c) => c.connIndex === second.index);
    assert.equal(toSession?.sessionPresent, true);
    if (qos === 2) {
      // Every id the proxy saw outstanding at the reset comes back (DUP PUBLISH or PUBREL)
      // before the first new PUBLISH. Extra replays are fine: a PUBLISH can be lost in the
      // RST before the proxy read it, and the agent still counts it as sent.
      const replayed = new Set<number>();
      for (const { connIndex, packet } of clientPackets) {
        if (connIndex !== second.index) continue;
        if (packet.cmd === 'pubrel') replayed.add(packet.messageId as number);
        if (packet.cmd !== 'publish' || packet.topic === fx.statusTopic) continue;
        if (!packet.dup) break;
        replayed.add(packet.messageId as number);
      }
      t.diagnostic(`outstanding at the reset: ${outstanding.length}; replayed first: ${replayed.size}`);
      assert.ok(outstanding.length > 0, 'the reset caught messages in flight');
      assert.deepEqual(outstanding.filter((id) => !replayed.has(id)), [], 'ids outstanding at the reset not replayed first');
    }

    const bulk = analyzeSeqs(sub.seqsOf(bulkTopic), bulkCount);
    const live = analyzeSeqs(sub.seqsOf(liveTopic), liveCount);
    assert.deepEqual([bulk.missing, live.missing], [[], []]);
    if (qos === 2) assert.deepEqual([bulk.duplicates, live.duplicates], [0, 0], 'QoS 2: exactly once, also across the reset');
    assert.ok(proxy.maxInflightObserved <= inflight, `inflight on the wire reached ${proxy.maxInflightObserved}`);
    assert.equal(await agent.stop(), 0);
  });
}

void test('mqtt.maxPublishRate 50/s: at most 50 PUBLISHes in any second on the wire, smoothly, and the backlog still drains', { timeout: 120_000 }, async (t) => {
  const rate = 50;
  const n = 300;
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 20_000, t });
  const fx = await agentFixture({ url: proxy.url, qos: 1, inflight: 20, count: n, maxDelay: '500ms', t });
  await patchConfig(fx, { mqtt: { maxPublishRate: rate } });
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, qos: 1, t });
  proxy.refuse(true);
  const agent = fx.start();
  await agent.waitForLog(logMsg('simulated source finished'), 15_000);
  // The proxy runs in this process: when its event loop is blocked, packets are stamped late.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  proxy.refuse(false);
  const conn = await acceptedConnection(proxy);
  await waitForAllSeqs(sub, fx.dataTopic, n, 30_000);
  loopDelay.disable();
  const stalledMs = loopDelay.max / 1e6;

  const times = proxy.mqtt.clientPublishes.filter((p) => p.connIndex === conn.index).map((p) => p.at);
  assert.equal(times.length, n + 1, 'the status and every reading, once');
  // The proxy stamps a packet with Date.now() (whole ms) when this process reads it, not when
  // the agent wrote it. Two packets written 1000 ms apart can therefore be stamped closer by
  // the ms truncation and scheduling skew (5 ms), plus however long this process's event loop
  // was blocked (a stall stamps everything that arrived during it at its end). That is the
  // whole tolerance; the agent's own bound is exact (test/unit/session-drain.test.ts).
  const tolerance = 5 + stalledMs;
  let closest = Infinity;
  for (let k = 0; k + rate < times.length; k++) closest = Math.min(closest, (times[k + rate] as number) - (times[k] as number));
  let densest100 = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while ((times[hi] as number) - (times[lo] as number) >= 100) lo++;
    densest100 = Math.max(densest100, hi - lo + 1);
  }
  const span = (times[times.length - 1] as number) - (times[0] as number);
  t.diagnostic(`test process event loop blocked up to ${stalledMs.toFixed(1)} ms`);
  t.diagnostic(`${times.length} publishes over ${span} ms; closest ${rate + 1} apart: ${closest} ms; most in any 100 ms: ${densest100}`);
  assert.ok(closest >= 1_000 - tolerance, `${rate + 1} PUBLISHes within ${closest} ms`);
  // Smooth: a 100 ms slice holds the bucket's burst (3) plus 5 (+1 for the slice edge), not a
  // burst of 50; a stall here piles up what the agent sent meanwhile onto one stamp.
  const densestAllowed = 3 + 5 + 1 + Math.ceil((stalledMs * rate) / 1_000);
  assert.ok(densest100 <= densestAllowed, `${densest100} PUBLISHes in 100 ms (allowed ${densestAllowed})`);
  // 301 publishes at 50/s: publish 300 is at least 6 windows after publish 0.
  assert.ok(span >= 6 * (1_000 - tolerance), `drained in ${span} ms: faster than the limit allows`);
  assert.ok(span < 12_000, `drained in ${span} ms: far slower than 50/s`);
  assert.deepEqual(analyzeSeqs(sub.seqsOf(fx.dataTopic), n).missing, []);
  assert.equal(await agent.stop(), 0);
});

void test('config: bad store.drain and mqtt.maxPublishRate values name their field; good ones are shown by check', { timeout: 30_000 }, async (t) => {
  const dir = await makeTempDir('sg-drain-cfg-', t);
  const base = { device: { id: 'a' }, mqtt: { url: 'mqtt://h' } };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, store: { drain: 'sideways' } }, /store\.drain: must be one of: oldest-first, newest-first/],
    [{ ...base, mqtt: { url: 'mqtt://h', maxPublishRate: -5 } }, /mqtt\.maxPublishRate: must be a whole number of messages per second \(0 = unlimited\)/],
    [{ ...base, mqtt: { url: 'mqtt://h', maxPublishRate: 12.5 } }, /mqtt\.maxPublishRate: must be a whole number/],
    [{ ...base, mqtt: { url: 'mqtt://h', maxPublishRate: 1_000_000 } }, /mqtt\.maxPublishRate: must be at most 10000/],
  ];
  for (const [i, [config, expected]] of cases.entries()) {
    const r = await runCli(['check', '--config', await writeConfig(dir, config, { name: `bad-${i}.yaml` })]);
    assert.equal(r.code, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, expected);
  }
  const good = await runCli(['check', '--config', await writeConfig(dir, { ...base, mqtt: { url: 'mqtt://h', maxPublishRate: 100 }, store: { drain: 'newest-first' } }, { name: 'good.yaml' })]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /maxPublishRate: 100/);
  assert.match(good.stdout, /drain: newest-first/);
});
