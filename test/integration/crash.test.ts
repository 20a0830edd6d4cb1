/**
 * kill -9 of the real agent process, mid-stream, several times: committed readings survive
 * in the store and arrive after the restart (invariants 1, 2, 3), QoS 2 without duplicates
 * (invariant 5: restored packet ids, DUP=1 / PUBREL resends), the will says `offline`
 * (invariant 7), and the inflight limit holds during replay (invariant 4).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from 'mqtt-packet';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, readRetained, startSubscriber } from '../support/subscriber.js';
import { seedFrom, seeded } from '../support/random.js';
import { sleep, waitUntil } from '../support/wait.js';
import { agentFixture, connectedLogs, logMsg, waitForAllSeqs, waitForRetained } from './harness.js';


const N = 5_000;
const INFLIGHT = 8;

/**
 * When to kill, as "this many more arrivals at the subscriber after the agent logged
 * `connected to broker`": early in the stream, right after a restart (during the replay of
 * the restored window, 0 = at once), and later in the stream.
 */
const KILL_SCHEDULE: ReadonlyArray<readonly [number, number]> = [
  [0.05 * N, 0.25 * N],
  [0, 150],
  [0.1 * N, 0.3 * N],
];

async function crashCycles(t: TestContext, qos: 1 | 2): Promise<void> {
  const seed = seedFrom('SG_CRASH_SEED');
  const random = seeded(seed);
  t.diagnostic(`kill schedule seed ${seed} (SG_CRASH_SEED=${seed} replays it)`);

  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 100, t });
  const fx = await agentFixture({ url: proxy.url, qos, inflight: INFLIGHT, count: N, interval: '0ms', t });
  // A persistent observer that never goes away: it sees everything the broker accepted.
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos, clientId: `crash-sub-${fx.deviceId}`, clean: false, t });

  const killedAt: number[] = [];
  for (const [lo, hi] of KILL_SCHEDULE) {
    const agent = fx.start();
    await agent.waitForLog(logMsg('connected to broker'), 15_000);
    const target = sub.messages.length + Math.floor(lo + random() * (hi - lo));
    await sub.waitFor((ms) => ms.length >= target, 30_000, `${target} arrivals before the kill`);
    await sleep(Math.floor(random() * 15));
    killedAt.push(sub.messages.length);
    const exit = await agent.kill9();
    assert.equal(exit.signal, 'SIGKILL');
    const connected = connectedLogs(agent);
    // The first run of a new client id has no session; every restart must find the broker's.
    if (killedAt.length > 1) assert.equal(connected[0]?.sessionPresent, true, 'restart after kill -9 resumes the broker session');
  }
  t.diagnostic(`killed with ${killedAt.join(', ')} arrivals at the subscriber`);

  const agent = fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  assert.equal(connectedLogs(agent)[0]?.sessionPresent, true);
  await waitForAllSeqs(sub, fx.dataTopic, N, 45_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  // Every message was acknowledged and deleted: a fresh start finds an empty store.
  const check = fx.start();
  const opened = await check.waitForLog(logMsg('store opened'), 10_000);
  assert.equal(opened.json?.messages, 0, 'store is empty after everything was acknowledged');
  await check.kill9();

  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), N);
  const perConnection = proxy.mqtt.connacks.map((c) => proxy.mqtt.maxInflightOf(c.connIndex));
  t.diagnostic(
    `QoS ${qos}: ${sub.messages.length} arrivals, ${report.duplicates} duplicate(s), ${proxy.mqtt.dupCount} DUP=1 publish(es), ` +
      `${proxy.mqtt.connectCount} connections, max inflight per connection [${perConnection.join(', ')}]`,
  );
  assert.deepEqual(report.missing, [], 'every committed seq arrives');
  assert.deepEqual(report.unexpected, []);
  assert.equal(report.outOfOrder, 0, 'first arrivals are in seq order');
  if (qos === 2) assert.equal(report.duplicates, 0, 'QoS 2 across kill -9: exactly once');
  assert.ok(proxy.maxInflightObserved <= INFLIGHT, `inflight on the wire reached ${proxy.maxInflightObserved} > ${INFLIGHT}`);
  assert.deepEqual(proxy.mqtt.parseErrors, []);
}

void test('QoS 2: three kill -9/restart cycles mid-stream, every seq exactly once and in order', { timeout: 90_000 }, async (t) => {
  await crashCycles(t, 2);
});

void test('QoS 1: three kill -9/restart cycles mid-stream, no seq lost, first arrivals in order', { timeout: 90_000 }, async (t) => {
  await crashCycles(t, 1);
});

void test('the will: kill -9 leaves the retained status offline, the restart sets it online', { timeout: 30_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await agentFixture({ url: broker.url, interval: '50ms', t });
  for (let cycle = 1; cycle <= 2; cycle++) {
    const agent = fx.start();
    await agent.waitForLog(logMsg('connected to broker'), 15_000);
    await waitForRetained(broker.url, fx.statusTopic, 'online', 5_000);
    await agent.kill9();
    await waitForRetained(broker.url, fx.statusTopic, 'offline', 5_000);
    // Still offline a moment later: nothing else (a late online) overwrites the will.
    await sleep(300);
    assert.equal((await readRetained(broker.url, fx.statusTopic, 2_000))?.toString(), 'offline', `cycle ${cycle}`);
  }
  const agent = fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  await waitForRetained(broker.url, fx.statusTopic, 'online', 5_000);
});

void test('SIGTERM during startup (right after "store opened") still stops cleanly', { timeout: 30_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await agentFixture({ url: broker.url, interval: '50ms', t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('store opened'), 10_000);
  // What systemd does when a stop is requested while the service is still starting.
  const stop = agent.stop('SIGTERM', 10_000);
  const exit = await agent.exited;
  t.diagnostic(`exit code ${String(exit.code)}, signal ${String(exit.signal)}`);
  assert.equal(exit.signal, null, `the agent died of ${String(exit.signal)} (default action: no handler installed yet) instead of stopping cleanly`);
  assert.equal(await stop, 0);
  await agent.waitForLog(logMsg('stopped'), 1_000);
});

void test('replay after kill -9 with a full window: same packet ids resent (DUP=1 or PUBREL), inflight limit held', { timeout: 60_000 }, async (t) => {
  const inflight = 5;
  const count = 400;
  // Client packets per connection, to see exactly what the restarted agent replays first.
  const clientPackets = new Map<number, Packet[]>();
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({
    targetPort: broker.port,
    // Latency keeps the window full, so the kill always finds `inflight` messages unacknowledged.
    latencyMs: 20,
    onClientPacket: (packet, connIndex) => {
      const list = clientPackets.get(connIndex) ?? [];
      if (list.length < 200) list.push(packet);
      clientPackets.set(connIndex, list);
    },
    t,
  });
  const fx = await agentFixture({ url: proxy.url, qos: 2, inflight, count, interval: '0ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 2, clientId: `replay-sub-${fx.deviceId}`, clean: false, t });

  const first = fx.start();
  await first.waitForLog(logMsg('connected to broker'), 15_000);
  await sub.waitFor((ms) => ms.length >= 50, 20_000, '50 arrivals');
  await waitUntil(() => proxy.mqtt.inflightOf(0).length === inflight, 5_000, 'a full window on the wire', {
    detail: () => `outstanding ids: ${proxy.mqtt.inflightOf(0).join(', ')}`,
  });
  // Hold the link so no ack reaches the agent between seeing the full window and the kill;
  // the agent refills any slot an ack freed just before, so the window is full again.
  proxy.blackhole(true);
  await waitUntil(() => proxy.mqtt.inflightOf(0).length === inflight, 5_000, 'a full window while held', {
    detail: () => `outstanding ids: ${proxy.mqtt.inflightOf(0).join(', ')}`,
  });
  await first.kill9();
  proxy.blackhole(false);
  // After the exit nothing more reaches this agent: these ids are what it may believe unacknowledged.
  const outstanding = proxy.mqtt.inflightOf(0).sort((a, b) => a - b);
  t.diagnostic(`outstanding at kill: ${outstanding.join(', ')}`);
  assert.ok(outstanding.length >= Math.ceil(inflight / 2), `the window was (nearly) full at the kill (${outstanding.length})`);
  proxy.setLatency(0);

  const second = fx.start();
  await second.waitForLog(logMsg('connected to broker'), 15_000);
  assert.equal(connectedLogs(second)[0]?.sessionPresent, true);
  await waitForAllSeqs(sub, fx.dataTopic, count, 30_000);
  await second.stop();

  const conn = proxy.mqtt.connacks.find((c) => c.connIndex > 0 && c.returnCode === 0)?.connIndex;
  assert.notEqual(conn, undefined);
  const replay = clientPackets.get(conn ?? -1) ?? [];
  // The first packet the restarted agent sends for each id it had in flight is a resend under
  // the same id (a DUP=1 PUBLISH, or PUBREL if PUBREC was recorded), and every such resend
  // comes before the first new (DUP=0) data PUBLISH: replay in order, oldest first.
  const firstNew = replay.findIndex((p) => p.cmd === 'publish' && p.topic === fx.dataTopic && !p.dup);
  for (const id of outstanding) {
    const at = replay.findIndex((p) => (p.cmd === 'publish' || p.cmd === 'pubrel') && p.messageId === id);
    const p = replay[at];
    assert.ok(p !== undefined, `packet id ${id}, unacknowledged at the kill, was not resent after the restart`);
    assert.ok(p.cmd === 'pubrel' || (p.cmd === 'publish' && p.dup && p.topic === fx.dataTopic), `packet id ${id} came back as ${p.cmd} dup=${String(p.cmd === 'publish' && p.dup)}`);
    assert.ok(firstNew === -1 || at < firstNew, `resend of packet id ${id} (#${at}) after the first new publish (#${firstNew})`);
  }
  t.diagnostic(`replay connection: ${proxy.mqtt.dupCount} DUP=1 publish(es), first new publish at packet #${firstNew}`);

  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), count);
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
  assert.equal(report.outOfOrder, 0);
  assert.ok(proxy.mqtt.maxInflightOf(conn ?? -1) <= inflight, `replay connection had ${proxy.mqtt.maxInflightOf(conn ?? -1)} > ${inflight} in flight`);
  assert.ok(proxy.maxInflightObserved <= inflight, `inflight on the wire reached ${proxy.maxInflightObserved} > ${inflight}`);
});
