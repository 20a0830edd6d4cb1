/**
 * The metrics listener and the operator commands, with the real CLI against mosquitto: /metrics
 * moves as readings flow, /healthz goes 503 with a reason during an outage that outlasts the
 * health window and 200 after it, `sensorgate status` prints the running agent's table, and
 * `sensorgate queue` reads a stopped agent's store (and refuses a running one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startBroker } from '../support/broker.js';
import { healthz, httpGet, scrape } from '../support/agent-http.js';
import { runCli } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { freePort, listenOnLoopback } from '../support/ports.js';
import { startSubscriber } from '../support/subscriber.js';
import { sleep, waitUntilAsync } from '../support/wait.js';
import { agentFixture, logMsg, waitForAllSeqs } from './harness.js';

const HEALTH_WINDOW_S = 2;

void test('metrics and health through an outage: counters move, queue gauges grow, /healthz 503 with a reason, then 200 and drained', { timeout: 90_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({ targetPort: broker.port, t });
  const port = await freePort();
  const fx = await agentFixture({
    url: proxy.url,
    interval: '50ms',
    t,
    extra: { metrics: { listen: `127.0.0.1:${port}`, healthWindow: `${HEALTH_WINDOW_S}s` } },
  });
  const agent = fx.start();
  await agent.waitForLog(logMsg('metrics listener started'), 15_000);
  await agent.waitForLog(logMsg('connected to broker'), 15_000);

  // Flowing: readings and acks move; nothing waits; healthy.
  const flowing = await waitUntilAsync(async () => {
    const m = await scrape(port);
    return (m.get('sensorgate_acked_total') ?? 0) >= 10 ? m : undefined;
  }, 15_000, '10 acked', { intervalMs: 100 });
  assert.equal(flowing.get('sensorgate_connected'), 1);
  assert.ok((flowing.get('sensorgate_readings_total{source="sim"}') ?? 0) >= 10);
  assert.ok((flowing.get('sensorgate_last_delivery_timestamp_seconds') ?? 0) > Date.now() / 1000 - 10);
  assert.ok((flowing.get('sensorgate_queue_messages') ?? 99) < 10, 'the queue stays near empty while connected');
  assert.equal((await healthz(port)).status, 200);
  const mediaType = (await httpGet(port, '/metrics')).contentType;
  assert.equal(mediaType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal((await httpGet(port, '/nope')).status, 404);

  const status = await runCli(['status', '--config', fx.configPath]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^broker\s+mqtt:\/\/127\.0\.0\.1:\d+\s+connected/m);
  assert.match(status.stdout, /^health\s+ok$/m);
  assert.match(status.stdout, /^source\s+type\s+state\s+last reading\s+readings\s+parse errors\s+failures$/m);
  assert.match(status.stdout, /^sim\s+simulated\s+running\s+\d+s ago\s+\d+\s+0\s+0$/m);

  // Outage: the link is cut and new connections are refused.
  const ackedBefore = flowing.get('sensorgate_acked_total') ?? 0;
  proxy.refuse(true);
  proxy.resetAll();
  const down = await waitUntilAsync(async () => {
    const m = await scrape(port);
    return m.get('sensorgate_connected') === 0 && (m.get('sensorgate_queue_messages') ?? 0) >= 10 ? m : undefined;
  }, 15_000, 'disconnected with a queue', { intervalMs: 100 });
  assert.ok((down.get('sensorgate_queue_bytes') ?? 0) > 0);
  const unhealthy = await waitUntilAsync(async () => {
    const h = await healthz(port);
    return h.status === 503 ? h : undefined;
  }, 15_000, '/healthz 503', { intervalMs: 100 });
  assert.equal(unhealthy.body.status, 'unhealthy');
  assert.match(String(unhealthy.body.reason), /queued message\(s\), the oldest waiting \d+s; nothing delivered for \d+s \(healthWindow 2s\); not connected to the broker/);
  assert.equal(unhealthy.body.connected, false);
  const outage = await scrape(port);
  assert.ok((outage.get('sensorgate_queue_oldest_age_seconds') ?? 0) > HEALTH_WINDOW_S);
  assert.equal(outage.get('sensorgate_healthy'), 0);
  const during = await runCli(['status', '--config', fx.configPath]);
  assert.equal(during.code, 0);
  assert.match(during.stdout, /DISCONNECTED/);
  assert.match(during.stdout, /^health\s+UNHEALTHY: /m);

  // Healed: reconnect, drain, healthy again.
  proxy.refuse(false);
  const healed = await waitUntilAsync(async () => {
    const h = await healthz(port);
    return h.status === 200 ? h : undefined;
  }, 20_000, '/healthz 200 again', { intervalMs: 100 });
  assert.equal(healed.body.status, 'ok');
  const drained = await waitUntilAsync(async () => {
    const m = await scrape(port);
    return m.get('sensorgate_connected') === 1 && (m.get('sensorgate_queue_messages') ?? 99) < 10 ? m : undefined;
  }, 20_000, 'the backlog drained', { intervalMs: 100 });
  assert.ok((drained.get('sensorgate_acked_total') ?? 0) >= ackedBefore + (down.get('sensorgate_queue_messages') ?? 0), 'the backlog was acked');
  assert.ok((drained.get('sensorgate_reconnects_total') ?? 0) >= 1);
  assert.equal(await agent.stop(), 0);

  const stopped = await runCli(['status', '--config', fx.configPath]);
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:\d+\/status\.json: ECONNREFUSED/);
});

void test('sensorgate queue: the running agent holds the store (points to status); stopped: depth, --peek, --purge needs --yes', { timeout: 60_000 }, async (t) => {
  // Nothing listens on this port: every reading stays queued.
  const fx = await agentFixture({ url: `mqtt://127.0.0.1:${await freePort()}`, count: 30, interval: '0ms', t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('simulated source finished'), 15_000);
  const locked = await runCli(['queue', '--config', fx.configPath]);
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, /the agent is running and holds the store at .*; use `sensorgate status`/);
  assert.equal(await agent.stop(), 0);

  const shown = await runCli(['queue', '--config', fx.configPath, '--peek', '3']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^messages\s+30$/m);
  assert.match(shown.stdout, /^oldest\s+\S+Z \(\d+s ago, seq 1\)$/m);
  assert.match(shown.stdout, /^newest\s+\S+Z \(\d+s ago, seq 30\)$/m);
  const peekRows = shown.stdout.split('\n').filter((line) => /^\d+\s/.test(line));
  assert.deepEqual(peekRows.map((line) => line.split(/\s+/)[0]), ['1', '2', '3']);
  assert.match(peekRows[0] ?? '', new RegExp(`${fx.dataTopic}\\s+\\{"ts":\\d+,"seq":1,`));

  const refused = await runCli(['queue', '--config', fx.configPath, '--purge']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /add --yes/);
  assert.match((await runCli(['queue', '--config', fx.configPath])).stdout, /^messages\s+30$/m, 'nothing purged without --yes');

  const purged = await runCli(['queue', '--config', fx.configPath, '--purge', '--yes']);
  assert.equal(purged.code, 0, purged.stderr);
  assert.match(purged.stdout, /purged: deleted 30 message\(s\)/);
  assert.match((await runCli(['queue', '--config', fx.configPath])).stdout, /^messages\s+0$/m);
  const restarted = fx.start();
  const opened = await restarted.waitForLog(logMsg('store opened'), 10_000);
  assert.equal(opened.json?.messages, 0);
  assert.equal(await restarted.stop(), 0);
});

void test('sensorgate status without metrics.listen says how to turn it on; queue on a store never created says nothing is queued', { timeout: 30_000 }, async (t) => {
  const fx = await agentFixture({ url: 'mqtt://127.0.0.1:1', t });
  const status = await runCli(['status', '--config', fx.configPath]);
  assert.equal(status.code, 1);
  assert.match(status.stderr, /metrics\.listen is not set in .*Add `metrics: \{listen: "127\.0\.0\.1:9464"\}`/);
  const queue = await runCli(['queue', '--config', fx.configPath]);
  assert.equal(queue.code, 0, queue.stderr);
  assert.match(queue.stdout, /^no store at .*: nothing is queued/);
  assert.equal((await runCli(['queue', '--config', fx.configPath, '--peek', 'x'])).code, 2);
});

void test('a metrics port already in use is logged and the agent delivers anyway', { timeout: 30_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const squatter = createServer();
  const port = await listenOnLoopback(squatter);
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const fx = await agentFixture({ url: broker.url, interval: '50ms', t, extra: { metrics: { listen: `127.0.0.1:${port}` } } });
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
  const agent = fx.start();
  const line = await agent.waitForLog(logMsg('metrics listener could not bind'), 15_000);
  assert.equal(line.json?.hint, 'another program uses this port');
  await waitForAllSeqs(sub, fx.dataTopic, 5, 15_000);
  await sleep(100);
  assert.ok(agent.running);
  assert.equal(await agent.stop(), 0);
});
