/**
 * A long outage: the broker is unreachable for two minutes while readings keep coming, then
 * comes back. First the connection is refused (RST at connect: the modem is up, the route is
 * not), then connections open but nothing ever answers (CONNECT swallowed: the connect
 * timeout is what notices). The will says offline during the outage (invariant 7), the dial
 * loop backs off instead of hammering, memory stays flat while the backlog grows
 * (invariant 6), the agent is back within its backoff bound once the link heals, and the
 * backlog then drains through a full window with every seq delivered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { sampleRss } from '../support/rss.js';
import type { ReceivedMessage } from '../support/subscriber.js';
import { sleep } from '../support/wait.js';
import { logMsg, waitForAllSeqs, waitForRetained } from './harness.js';
import { assertDelivered, linkRig } from './link.js';

const OUTAGE_MS = Number(process.env.SG_OUTAGE_MS ?? 120_000);
const INTERVAL_MS = 50;
const BEFORE_MS = 3_000;
const AFTER_MS = 10_000;
const COUNT = Math.floor((BEFORE_MS + OUTAGE_MS + AFTER_MS) / INTERVAL_MS);
const CONNECT_TIMEOUT_MS = 3_000; // agentFixture's mqtt.connectTimeout
const MAX_DELAY_MS = 5_000;
const INFLIGHT = 10;

/** When arrivals after `from` were live again: the first reading delivered within 500 ms of being taken. */
function caughtUpAt(messages: readonly ReceivedMessage[], from: number): number {
  for (const m of messages) {
    if (m.receivedAt < from) continue;
    const ts = (JSON.parse(m.payload.toString()) as { ts?: unknown }).ts;
    if (typeof ts === 'number' && m.receivedAt - ts < 500) return m.receivedAt;
  }
  return Number.NaN;
}

void test('long outage: broker unreachable for two minutes while readings keep coming, then back; QoS 1 and QoS 2', { timeout: OUTAGE_MS + 150_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const rigs = await Promise.all(
    ([1, 2] as const).map((qos) =>
      linkRig(t, broker, { qos, inflight: INFLIGHT, count: COUNT, interval: `${INTERVAL_MS}ms`, keepalive: '2s', minDelay: '200ms', maxDelay: `${MAX_DELAY_MS}ms` }),
    ),
  );
  const agents = rigs.map((rig) => rig.fx.start());
  await Promise.all(agents.map((agent) => agent.waitForLog(logMsg('connected to broker'), 15_000)));
  const startedAt = Date.now();
  await sleep(BEFORE_MS);

  const rss = agents.map((agent) => sampleRss(() => agent.pid, 500));
  t.after(() => rss.forEach((r) => r.stop()));
  const attemptsBefore = rigs.map((rig) => rig.proxy.totalConnections);
  for (const rig of rigs) {
    rig.proxy.refuse(true);
    rig.proxy.resetAll();
  }
  await Promise.all(rigs.map((rig) => waitForRetained(broker.url, rig.fx.statusTopic, 'offline', 10_000)));
  await sleep(OUTAGE_MS / 2);
  for (const rig of rigs) {
    rig.proxy.blackhole(true, 'drop');
    rig.proxy.refuse(false);
  }
  await sleep(OUTAGE_MS / 2);
  const rssAtMidOutage = rss.map((r) => r.samples.find((s) => s.at >= Date.now() - OUTAGE_MS / 2)?.mib ?? 0);
  const rssAtEnd = rss.map((r) => r.samples[r.samples.length - 1]?.mib ?? 0);

  const healedAt = Date.now();
  const sinceHeal = agents.map((agent) => agent.lines.length);
  const backlogs = rigs.map((rig) => Math.floor((healedAt - startedAt) / INTERVAL_MS) - new Set(rig.sub.seqsOf(rig.fx.dataTopic)).size);
  for (const rig of rigs) rig.proxy.blackhole(false);

  for (const [i, rig] of rigs.entries()) {
    const agent = agents[i];
    assert.ok(agent !== undefined);
    const label = `QoS ${rig.qos}`;
    const attempts = rig.proxy.totalConnections - (attemptsBefore[i] ?? 0);
    const back = await agent.waitForLog(logMsg('connected to broker'), CONNECT_TIMEOUT_MS + MAX_DELAY_MS + 10_000, { since: sinceHeal[i] });
    const recoveryMs = back.at - healedAt;
    const backlog = backlogs[i] ?? 0;
    const connIndex = rig.proxy.totalConnections - 1;
    await waitForAllSeqs(rig.sub, rig.fx.dataTopic, COUNT, 60_000);
    const drainMs = caughtUpAt(rig.sub.messages, back.at) - back.at;
    await waitForRetained(broker.url, rig.fx.statusTopic, 'online', 5_000);
    await agent.waitForLog(logMsg('simulated source finished'), 30_000);
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);

    t.diagnostic(
      `${label}: ${attempts} dial attempts in ${OUTAGE_MS} ms of outage; back ${recoveryMs} ms after the link healed; ` +
        `backlog ~${backlog} drained (arrivals caught up with live readings) ${drainMs} ms after CONNACK; window on the drain connection ${rig.proxy.mqtt.maxInflightOf(connIndex)}/${INFLIGHT}; ` +
        `RSS mid-outage ${rssAtMidOutage[i]?.toFixed(1)} MiB, end of outage ${rssAtEnd[i]?.toFixed(1)} MiB, max ${rss[i]?.maxMiB.toFixed(1)} MiB`,
    );
    // Full-jitter backoff to 5 s, plus 3 s connect timeouts in the silent half: far below one dial a second.
    assert.ok(attempts >= 5 && attempts <= OUTAGE_MS / 1_000, `${label}: ${attempts} dial attempts during the outage (backoff not applied?)`);
    assert.ok(recoveryMs <= CONNECT_TIMEOUT_MS + MAX_DELAY_MS + 3_000, `${label}: reconnected ${recoveryMs} ms after the link healed`);
    assert.ok(backlog >= (OUTAGE_MS / INTERVAL_MS) * 0.8, `${label}: a backlog built up during the outage (${backlog})`);
    assert.equal(rig.proxy.mqtt.maxInflightOf(connIndex), INFLIGHT, `${label}: the backlog drains through a full window`);
    // Memory does not follow the backlog: the second half of the outage adds thousands of messages, not megabytes.
    assert.ok((rssAtEnd[i] ?? 0) - (rssAtMidOutage[i] ?? 0) <= 20, `${label}: RSS grew from ${rssAtMidOutage[i]} to ${rssAtEnd[i]} MiB during the outage`);
    assertDelivered(t, rig, label);
  }
});
