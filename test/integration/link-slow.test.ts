/**
 * A bad 2G/EDGE link: 300 ms one way and 2 KB/s, with readings produced faster than the link
 * can carry them. Delivery must keep going at close to the link's capacity, the keepalive
 * must not declare the busy-but-alive link dead (nor the idle one after it), memory must
 * stay bounded while the backlog grows (invariant 6), and every seq arrives in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { sampleRss } from '../support/rss.js';
import { sleep } from '../support/wait.js';
import { countLogs, logMsg, waitForAllSeqs } from './harness.js';
import { assertDelivered, linkRig } from './link.js';

const SLOW_MS = Number(process.env.SG_SLOW_MS ?? 30_000);
const BANDWIDTH = 2_048;
const INTERVAL_MS = 40; // ~25 readings/s of ~115 bytes: more than 2 KB/s can carry
const COUNT = Math.floor(SLOW_MS / INTERVAL_MS);
const INFLIGHT = 20;

void test('slow link (300 ms one way, 2 KB/s): delivery continues near capacity, keepalive never fires falsely, memory bounded', { timeout: SLOW_MS + 90_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const rig = await linkRig(t, broker, { qos: 1, inflight: INFLIGHT, count: COUNT, interval: `${INTERVAL_MS}ms`, latencyMs: 300, keepalive: '1s', pingTimeout: '1s' });
  rig.proxy.setBandwidth(BANDWIDTH);
  const agent = rig.fx.start();
  const rss = sampleRss(() => agent.pid, 500);
  t.after(() => rss.stop());
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  const slowFrom = Date.now();
  await sleep(SLOW_MS);
  const slowFor = Date.now() - slowFrom;
  const deliveredSlow = new Set(rig.sub.seqsOf(rig.fx.dataTopic)).size;
  const early = rss.samples.find((s) => s.at >= slowFrom + 5_000)?.mib ?? 0;
  const late = rss.samples[rss.samples.length - 1]?.mib ?? 0;

  // Then the link recovers its speed but keeps its latency; the backlog drains and the link idles.
  rig.proxy.setBandwidth(null);
  await waitForAllSeqs(rig.sub, rig.fx.dataTopic, COUNT, 60_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  const pingsBefore = rig.proxy.mqtt.counts.client.pingreq ?? 0;
  await sleep(4_000);
  const idlePings = (rig.proxy.mqtt.counts.client.pingreq ?? 0) - pingsBefore;
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  // PUBLISH on the wire: fixed header (2), topic length (2) + topic, packet id (2), payload.
  const kept = rig.proxy.mqtt.clientPublishes.filter((p) => p.topic === rig.fx.dataTopic);
  const bytesPerReading = kept.reduce((sum, p) => sum + 6 + Buffer.byteLength(p.topic) + p.payload.length, 0) / Math.max(1, kept.length);
  const carried = (deliveredSlow * bytesPerReading) / (slowFor / 1_000);
  t.diagnostic(
    `${deliveredSlow} readings delivered in ${slowFor} ms at 2 KB/s (~${Math.round(carried)} B/s of PUBLISH packets, ${bytesPerReading.toFixed(0)} B each); ` +
      `${idlePings} PINGREQ(s) in 4 s idle; RSS 5 s in ${early.toFixed(1)} MiB, at the end of the slow phase ${late.toFixed(1)} MiB, max ${rss.maxMiB.toFixed(1)} MiB`,
  );
  assert.equal(countLogs(agent, 'link dead'), 0, 'the keepalive never declared the slow link dead');
  assert.equal(rig.proxy.mqtt.connectCount, 1, 'one connection the whole time');
  assert.ok(carried >= BANDWIDTH * 0.6, `delivery kept going near the link's capacity (${Math.round(carried)} B/s of ${BANDWIDTH})`);
  assert.ok(deliveredSlow < COUNT * 0.95, 'the link really was the bottleneck (a backlog built up)');
  assert.ok(idlePings >= 2, `the idle link was kept alive with pings (${idlePings}), and they were answered in time`);
  assert.ok(late - early <= 15, `RSS grew from ${early} to ${late} MiB while the backlog grew`);
  assertDelivered(t, rig);
});
