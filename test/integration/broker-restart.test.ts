/**
 * The broker goes away mid-stream and comes back. With persistence the agent resumes its
 * session (sessionPresent=1, resends under the same ids); without it the session is gone and
 * every unacknowledged message must be sent again as a new message, DUP=0 (invariant 5).
 * Either way every committed seq arrives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, seqsFromPayload, startSubscriber } from '../support/subscriber.js';
import { waitUntil, withTimeout } from '../support/wait.js';
import { agentFixture, logMsg, waitForAllSeqs, waitForQuiet, waitForRetained } from './harness.js';
import type { LogLine } from '../support/cli.js';


const connectedWith = (sessionPresent: boolean) => (l: LogLine): boolean =>
  logMsg('connected to broker')(l) && l.json?.sessionPresent === sessionPresent;

void test('persistent broker restarted mid-stream: session resumed (sessionPresent), every seq arrives exactly once at QoS 2', { timeout: 60_000 }, async (t) => {
  const N = 3_000;
  const inflight = 10;
  const broker = await startBroker({ t, verbose: false, persistence: true });
  const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 100, t });
  const fx = await agentFixture({ url: proxy.url, qos: 2, inflight, count: N, interval: '0ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 2, clientId: `restart-sub-${fx.deviceId}`, clean: false, t });
  // CONNACKs after the first one (startSubscriber has already seen that).
  const subConnacks: boolean[] = [];
  sub.client.on('connect', (packet) => subConnacks.push(packet.sessionPresent));

  const agent = fx.start();
  await agent.waitForLog(connectedWith(false), 15_000);
  await sub.waitFor((ms) => ms.length >= N / 4, 20_000, `${N / 4} arrivals before the broker restart`);
  const before = agent.lines.length;
  await broker.stop(); // SIGTERM: mosquitto writes sessions and queued messages to its db
  await agent.waitForLog(logMsg('connection lost'), 10_000, { since: before });
  await broker.restart();

  await agent.waitForLog(connectedWith(true), 15_000, { since: before });
  await waitForAllSeqs(sub, fx.dataTopic, N, 40_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForRetained(broker.url, fx.statusTopic, 'online', 5_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  const accepted = proxy.mqtt.connacks.filter((c) => c.returnCode === 0);
  assert.ok(accepted.length >= 2, `agent reconnected (${accepted.length} accepted connection(s))`);
  assert.equal(accepted[0]?.sessionPresent, false, 'first connection of a new client id');
  assert.deepEqual(accepted.slice(1).map((c) => c.sessionPresent), accepted.slice(1).map(() => true), 'every reconnect resumed the persisted session');
  assert.ok(subConnacks.length >= 1 && subConnacks.every(Boolean), `subscriber resumed its session too: ${JSON.stringify(subConnacks)}`);

  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), N);
  t.diagnostic(`${sub.messages.length} arrivals, ${report.duplicates} duplicate(s), ${proxy.mqtt.dupCount} DUP=1 publish(es), ${proxy.mqtt.connectCount} CONNECT(s)`);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.unexpected, []);
  assert.equal(report.outOfOrder, 0);
  assert.equal(report.duplicates, 0, 'QoS 2 across a persistent broker restart: exactly once');
  assert.ok(proxy.maxInflightObserved <= inflight, `inflight on the wire reached ${proxy.maxInflightObserved} > ${inflight}`);
  assert.deepEqual(proxy.mqtt.parseErrors, []);
});

void test('broker restarted without persistence: session lost, unacked messages resent as new (DUP=0), every seq arrives', { timeout: 60_000 }, async (t) => {
  const count = 200;
  const inflight = 10;
  const broker = await startBroker({ t, verbose: false, persistence: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, t });
  // A long keepalive: the agent must learn of the dead connection from the held FIN/RST
  // when the blackhole lifts, not by pinging into it.
  const fx = await agentFixture({ url: proxy.url, qos: 1, inflight, count, interval: '20ms', keepalive: '30s', t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 1, clientId: `lost-sub-${fx.deviceId}`, clean: false, t });
  // CONNACKs after the first one (startSubscriber has already seen that).
  const subConnacks: boolean[] = [];
  sub.client.on('connect', (packet) => subConnacks.push(packet.sessionPresent));

  const agent = fx.start();
  await agent.waitForLog(connectedWith(false), 15_000);
  await sub.waitFor((ms) => ms.length >= 40, 15_000, '40 arrivals');

  // Pull the cable: what the agent sends from now on never reaches this broker.
  const oldConn = proxy.totalConnections - 1;
  proxy.blackhole(true, 'hold');
  await waitUntil(() => proxy.mqtt.inflightOf(oldConn).length >= inflight, 5_000, 'the agent to fill its window into the blackhole', {
    detail: () => `outstanding: ${proxy.mqtt.inflightOf(oldConn).join(', ')}`,
  });
  await waitForQuiet(sub, 500, 5_000);
  const outstandingIds = new Set(proxy.mqtt.inflightOf(oldConn));
  const received = new Set(sub.seqsOf(fx.dataTopic));
  // The seqs the old connection left unacknowledged and the broker never delivered.
  const lost = new Set<number>();
  for (const p of proxy.mqtt.clientPublishes) {
    if (p.connIndex !== oldConn || p.topic !== fx.dataTopic || p.messageId === undefined || !outstandingIds.has(p.messageId)) continue;
    for (const s of seqsFromPayload(p.payload)) if (!received.has(s)) lost.add(s);
  }
  t.diagnostic(`unacked at the blackhole: ids ${[...outstandingIds].join(', ')}; never delivered: seqs ${[...lost].join(', ')}`);
  assert.ok(lost.size >= inflight / 2, `messages were stuck in the blackhole (${lost.size})`);

  // The broker dies and comes back empty; the subscriber's session is gone with it.
  await broker.kill();
  await broker.restart();
  await waitUntil(() => subConnacks.length >= 1 && sub.client.connected, 10_000, 'the subscriber to reconnect', {
    detail: () => `subscriber connacks: ${JSON.stringify(subConnacks)}`,
  });
  assert.equal(subConnacks[0], false, 'the restarted broker has no session for the subscriber');
  // mqtt.js resubscribes on its own after sessionPresent=0; subscribing again and awaiting
  // the SUBACK makes sure the filter is in place before the agent sends anything.
  await withTimeout(sub.client.subscribeAsync(fx.dataTopic, { qos: 1 }), 5_000, 'resubscribe');

  const beforeLift = agent.lines.length;
  proxy.blackhole(false);
  await agent.waitForLog(logMsg('connection lost'), 10_000, { since: beforeLift });
  await agent.waitForLog(connectedWith(false), 15_000, { since: beforeLift });
  await waitForAllSeqs(sub, fx.dataTopic, count, 30_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForRetained(broker.url, fx.statusTopic, 'online', 5_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  const lostConnack = proxy.mqtt.connacks.find((c) => c.connIndex > oldConn && c.returnCode === 0);
  assert.equal(lostConnack?.sessionPresent, false, 'the agent was told its session is gone');
  const newConn = lostConnack?.connIndex ?? -1;
  const resent = proxy.mqtt.clientPublishes.filter((p) => p.connIndex === newConn && p.topic === fx.dataTopic);
  const dupFlagged = resent.filter((p) => p.dup);
  assert.deepEqual(
    dupFlagged.map((p) => p.payload.toString()),
    [],
    'after CONNACK sessionPresent=0 nothing is a resend within the session: every PUBLISH has DUP=0',
  );
  const resentSeqs = new Set(resent.flatMap((p) => seqsFromPayload(p.payload)));
  for (const s of lost) assert.ok(resentSeqs.has(s), `seq ${s}, lost in the blackhole, was sent again on the new session`);

  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), count);
  t.diagnostic(`${sub.messages.length} arrivals, ${report.duplicates} duplicate(s), ${resent.length} publish(es) on the new session`);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.unexpected, []);
  assert.equal(report.outOfOrder, 0);
  assert.ok(proxy.maxInflightObserved <= inflight, `inflight on the wire reached ${proxy.maxInflightObserved} > ${inflight}`);
});
