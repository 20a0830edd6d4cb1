/**
 * Dead-link detection: a blackholed link (no FIN, no RST) is declared dead within
 * keepalive + pingTimeout, the agent redials and nothing is lost; a slow but working link
 * is never declared dead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, startSubscriber } from '../support/subscriber.js';
import { sleep } from '../support/wait.js';
import { agentFixture, countLogs, logMsg, waitForAllSeqs, waitForRetained } from './harness.js';


const KEEPALIVE_MS = 1_000;
const SLACK_MS = 1_000;

void test('a blackholed link is declared dead within keepalive + pingTimeout, then the agent reconnects and loses nothing', { timeout: 45_000 }, async (t) => {
  const pingTimeoutMs = 500;
  const count = 60; // 6 s of readings at 100 ms
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, t });
  const fx = await agentFixture({ url: proxy.url, qos: 1, count, interval: '100ms', keepalive: '1s', pingTimeout: `${pingTimeoutMs}ms`, t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 1, t });

  const agent = fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  await sub.waitFor((ms) => ms.length >= 5, 5_000, 'readings flowing before the blackhole');

  const since = agent.lines.length;
  const pingsBefore = proxy.mqtt.counts.client.pingreq ?? 0;
  const holeAt = Date.now();
  proxy.blackhole(true, 'hold');
  const lost = await agent.waitForLog(logMsg('connection lost'), 10_000, { since });
  const detectMs = lost.at - holeAt;
  t.diagnostic(`link declared dead ${detectMs} ms after the blackhole started: ${String(lost.json?.reason)}`);
  assert.match(String(lost.json?.reason), /link dead/, 'the first loss after the blackhole is the keepalive verdict');
  assert.ok(detectMs <= KEEPALIVE_MS + pingTimeoutMs + SLACK_MS, `dead link noticed after ${detectMs} ms (> ${KEEPALIVE_MS} + ${pingTimeoutMs} + ${SLACK_MS})`);
  assert.ok(detectMs >= pingTimeoutMs, `declared dead after ${detectMs} ms, before a PINGREQ could time out (${pingTimeoutMs} ms)`);
  assert.ok((proxy.mqtt.counts.client.pingreq ?? 0) > pingsBefore, 'the verdict followed an unanswered PINGREQ');

  // The broker gives up on the silent connection (1.5 × keepalive) and publishes the will.
  await waitForRetained(broker.url, fx.statusTopic, 'offline', 5_000);

  const lostIndex = agent.lines.indexOf(lost);
  proxy.blackhole(false);
  await agent.waitForLog(logMsg('connected to broker'), 15_000, { since: lostIndex });
  await waitForAllSeqs(sub, fx.dataTopic, count, 20_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForRetained(broker.url, fx.statusTopic, 'online', 5_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), count);
  t.diagnostic(`${sub.messages.length} arrivals, ${report.duplicates} duplicate(s), ${proxy.totalConnections} connection(s)`);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.unexpected, []);
  assert.equal(report.outOfOrder, 0);
});

void test('a slow but alive link (300 ms each way) never trips the keepalive, busy or idle', { timeout: 45_000 }, async (t) => {
  const count = 70; // 7 s of readings at 100 ms
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, t });
  // Round trip 600 ms: well inside the 900 ms ping timeout, but longer than half the keepalive.
  const fx = await agentFixture({ url: proxy.url, qos: 1, count, interval: '100ms', keepalive: '1s', pingTimeout: '900ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 1, t });

  const agent = fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  proxy.setLatency(300);

  // Busy phase: readings keep arriving every second for 5 s.
  const perSecond: number[] = [];
  for (let i = 0; i < 5; i++) {
    const before = sub.messages.length;
    await sleep(1_000);
    perSecond.push(sub.messages.length - before);
  }
  t.diagnostic(`arrivals per second over a 600 ms round trip: ${perSecond.join(', ')}`);
  for (const [i, n] of perSecond.entries()) assert.ok(n >= 3, `only ${n} arrival(s) in second ${i + 1}: ${perSecond.join(', ')}`);

  // Idle phase: nothing to send, so the keepalive pings; each answer takes 600 ms.
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await waitForAllSeqs(sub, fx.dataTopic, count, 10_000);
  const pingsBefore = proxy.mqtt.counts.client.pingreq ?? 0;
  await sleep(2_500);
  const pings = (proxy.mqtt.counts.client.pingreq ?? 0) - pingsBefore;
  t.diagnostic(`${pings} PINGREQ(s) while idle`);
  assert.ok(pings >= 1, 'the idle phase exercised the ping path');

  assert.equal(countLogs(agent, 'connection lost'), 0, `the link was dropped:\n${agent.output()}`);
  assert.equal(agent.lines.filter((l) => /link dead/.test(l.line)).length, 0);
  assert.equal(proxy.totalConnections, 1, 'one connection the whole time');
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), count);
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
  assert.equal(report.outOfOrder, 0);
});
