import assert from 'node:assert/strict';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { startBroker } from '../support/broker.js';
import type { AfterHook } from '../support/cleanup.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { MqttAccounting } from '../support/mqtt-accounting.js';
import { sleep, waitUntil, withTimeout } from '../support/wait.js';

const T = { timeout: 30_000 };

interface Echo {
  port: number;
  sockets: Socket[];
  errors: string[];
}

async function startEcho(t: AfterHook): Promise<Echo> {
  const echo: Echo = { port: 0, sockets: [], errors: [] };
  const server = createServer((socket) => {
    echo.sockets.push(socket);
    socket.on('error', (err: NodeJS.ErrnoException) => echo.errors.push(err.code ?? err.message));
    socket.on('data', (d) => socket.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  echo.port = (server.address() as AddressInfo).port;
  t.after(async () => {
    for (const s of echo.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return echo;
}

interface TestClient {
  socket: Socket;
  received: () => string;
  events: string[];
}

async function connectClient(port: number, t: AfterHook): Promise<TestClient> {
  const socket = createConnection({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  const events: string[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => events.push('end'));
  socket.on('close', () => events.push('close'));
  socket.on('error', (err: NodeJS.ErrnoException) => events.push(`error:${err.code ?? err.message}`));
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 5000, 'client connect');
  t.after(() => {
    socket.destroy();
  });
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), events };
}

void test('proxy forwards bytes both ways and counts connections', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const c = await connectClient(proxy.port, t);
  c.socket.write('hello');
  await waitUntil(() => c.received() === 'hello', 5000, 'echo');
  assert.equal(proxy.connections, 1);
  assert.equal(proxy.totalConnections, 1);
  c.socket.end();
  await waitUntil(() => proxy.connections === 0, 5000, 'proxy to drop the closed connection');
  assert.equal(proxy.totalConnections, 1);
});

void test('proxy counts the bytes on the wire in each direction, across connections', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  assert.deepEqual(proxy.bytes, { fromClient: 0, toClient: 0 });
  const a = await connectClient(proxy.port, t);
  a.socket.write('hello');
  await waitUntil(() => a.received() === 'hello', 5000, 'echo a');
  const b = await connectClient(proxy.port, t);
  b.socket.write('x'.repeat(1000));
  await waitUntil(() => b.received().length === 1000, 5000, 'echo b');
  assert.deepEqual(proxy.bytes, { fromClient: 1005, toClient: 1005 });
  // Held by a blackhole: arrived from the client, not yet delivered to it.
  proxy.blackhole(true);
  a.socket.write('abc');
  await waitUntil(() => proxy.bytes.fromClient === 1008, 5000, 'bytes reach the proxy');
  assert.equal(proxy.bytes.toClient, 1005);
  proxy.blackhole(false);
  await waitUntil(() => proxy.bytes.toClient === 1008, 5000, 'held bytes delivered');
});

void test('bytes that are not MQTT are forwarded unchanged and only counted as parse errors', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const c = await connectClient(proxy.port, t);
  const garbage = Buffer.from([0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]);
  c.socket.write(garbage);
  await waitUntil(() => c.received() === garbage.toString('latin1'), 5000, 'garbage echoed');
  assert.ok(proxy.mqtt.parseErrors.length >= 1);
  c.socket.write('more');
  await waitUntil(() => c.received().endsWith('more'), 5000, 'forwarding continues');
});

void test('blackhole holds bytes without closing either side, then delivers them (hold) or drops them (drop)', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const c = await connectClient(proxy.port, t);
  c.socket.write('a');
  await waitUntil(() => c.received() === 'a', 5000, 'first echo');

  proxy.blackhole(true);
  c.socket.write('b');
  await sleep(300);
  assert.equal(c.received(), 'a');
  assert.deepEqual(c.events, []);
  assert.equal(echo.sockets[0]?.destroyed, false);
  proxy.blackhole(false);
  await waitUntil(() => c.received() === 'ab', 5000, 'held byte delivered after blackhole');

  proxy.blackhole(true, 'drop');
  c.socket.write('c');
  await sleep(200);
  proxy.blackhole(false);
  c.socket.write('d');
  await waitUntil(() => c.received() === 'abd', 5000, 'only post-blackhole byte delivered');
  await sleep(100);
  assert.equal(c.received(), 'abd');
  assert.deepEqual(c.events, []);
});

void test('a close during blackhole is held until it lifts', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const c = await connectClient(proxy.port, t);
  c.socket.write('x');
  await waitUntil(() => c.received() === 'x', 5000, 'echo');
  proxy.blackhole(true);
  c.socket.end();
  const server = echo.sockets[0];
  assert.ok(server);
  let serverEnded = false;
  server.on('end', () => {
    serverEnded = true;
    server.end();
  });
  await sleep(300);
  assert.equal(serverEnded, false);
  proxy.blackhole(false);
  await waitUntil(() => serverEnded, 5000, 'FIN delivered after blackhole');
});

void test('resetAll gives both sides ECONNRESET', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const c = await connectClient(proxy.port, t);
  c.socket.write('x');
  await waitUntil(() => c.received() === 'x', 5000, 'echo');
  proxy.resetAll();
  await waitUntil(() => c.events.includes('error:ECONNRESET'), 5000, 'client ECONNRESET', {
    detail: () => c.events.join(','),
  });
  await waitUntil(() => echo.errors.includes('ECONNRESET'), 5000, 'server ECONNRESET', {
    detail: () => echo.errors.join(','),
  });
  await waitUntil(() => proxy.connections === 0, 5000, 'no live connections');
});

void test('refuse resets new connections; existing ones keep working', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const kept = await connectClient(proxy.port, t);
  proxy.refuse(true);
  const refused = createConnection({ host: '127.0.0.1', port: proxy.port });
  const outcome = await withTimeout(
    new Promise<string>((resolve) => {
      refused.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      refused.on('close', () => resolve('close'));
    }),
    5000,
    'refused connection to fail',
  );
  assert.match(outcome, /ECONNRESET|close/);
  assert.equal(echo.sockets.length, 1);
  kept.socket.write('still');
  await waitUntil(() => kept.received() === 'still', 5000, 'existing connection');
  proxy.refuse(false);
  const later = await connectClient(proxy.port, t);
  later.socket.write('ok');
  await waitUntil(() => later.received() === 'ok', 5000, 'accepting again');
  assert.equal(proxy.totalConnections, 3);
});

void test('latency delays each direction by at least the setting; bandwidth throttles', T, async (t) => {
  const echo = await startEcho(t);
  const proxy = await startFaultProxy({ targetPort: echo.port, t });
  const c = await connectClient(proxy.port, t);

  proxy.setLatency(100);
  let start = performance.now();
  c.socket.write('p');
  await waitUntil(() => c.received() === 'p', 5000, 'echo with latency', { intervalMs: 1 });
  const rtt = performance.now() - start;
  assert.ok(rtt >= 200, `round trip ${rtt.toFixed(1)} ms should be ≥ 200 ms`);
  assert.ok(rtt < 1000, `round trip ${rtt.toFixed(1)} ms is implausibly slow`);

  proxy.setLatency(0);
  proxy.setBandwidth(20_000);
  const big = Buffer.alloc(10_000, 0x61);
  start = performance.now();
  c.socket.write(big);
  await waitUntil(() => c.received().length === 1 + big.length, 10_000, 'throttled echo');
  const elapsed = performance.now() - start;
  // 10 kB each way at 20 kB/s ≈ 0.5 s per direction; pipelined so ≥ ~0.45 s overall.
  assert.ok(elapsed >= 450, `10 kB at 20 kB/s took only ${elapsed.toFixed(0)} ms`);
  proxy.setBandwidth(null);
});

void test('MQTT accounting: QoS 1 inflight, QoS 2 PUBREL, CONNECT capture (MQTT.js via mosquitto)', T, async (t) => {
  const broker = await startBroker({ t });
  const proxy = await startFaultProxy({ targetPort: broker.port, t });
  // Latency on the ack path keeps all publishes outstanding at once.
  proxy.setLatency(50);
  const client = await mqtt.connectAsync(proxy.url, {
    protocolVersion: 4,
    clientId: 'acct',
    clean: true,
    reconnectPeriod: 0,
    will: { topic: 'acct/status', payload: Buffer.from('offline'), qos: 1, retain: true },
  });
  t.after(() => client.endAsync(true));
  const n = 8;
  await Promise.all(Array.from({ length: n }, (_, i) => client.publishAsync('acct/x', String(i), { qos: 1 })));
  assert.equal(proxy.maxInflightObserved, n);
  assert.deepEqual(proxy.mqtt.inflightOf(0), []);
  assert.equal(proxy.mqtt.clientPublishCount, n);
  assert.deepEqual(
    proxy.mqtt.clientPublishes.map((p) => p.payload.toString()),
    Array.from({ length: n }, (_, i) => String(i)),
  );

  await client.publishAsync('acct/y', 'two', { qos: 2 });
  assert.equal(proxy.mqtt.pubrelCount, 1);
  assert.deepEqual(proxy.mqtt.inflightOf(0), []);
  assert.equal(proxy.mqtt.counts.broker.pubcomp, 1);

  assert.equal(proxy.mqtt.connectCount, 1);
  const connect = proxy.mqtt.connects[0]?.packet;
  assert.equal(connect?.clean, true);
  assert.equal(connect?.will?.topic, 'acct/status');
  assert.equal(proxy.mqtt.connacks[0]?.returnCode, 0);
  assert.equal(proxy.mqtt.dupCount, 0);
  assert.deepEqual(proxy.mqtt.parseErrors, []);
});

void test('MqttAccounting counts DUP, PUBREL resends and acks per connection', () => {
  const seen: string[] = [];
  const acct = new MqttAccounting({ keepPublishes: 2, onClientPacket: (p) => seen.push(p.cmd) });
  const conn = acct.openConnection(0);
  const gen = (p: mqttPacket.Packet): Buffer => mqttPacket.generate(p);
  const pub = (id: number, qos: 1 | 2, dup: boolean): Buffer =>
    gen({ cmd: 'publish', topic: 't', payload: Buffer.from(String(id)), qos, dup, retain: false, messageId: id });
  // One chunk with several packets, then one packet split across chunks.
  conn.fromClient(Buffer.concat([pub(1, 1, false), pub(2, 1, true)]));
  const third = pub(3, 2, false);
  conn.fromClient(third.subarray(0, 3));
  conn.fromClient(third.subarray(3));
  assert.equal(acct.maxInflightObserved, 3);
  conn.toClient(gen({ cmd: 'puback', messageId: 1 }));
  conn.toClient(gen({ cmd: 'pubrec', messageId: 3 }));
  assert.deepEqual(acct.inflightOf(0).sort(), [2, 3]);
  conn.toClient(gen({ cmd: 'puback', messageId: 3 })); // wrong ack type for a QoS 2 id: ignored
  assert.deepEqual(acct.inflightOf(0).sort(), [2, 3]);
  conn.fromClient(gen({ cmd: 'pubrel', messageId: 3 }));
  conn.toClient(gen({ cmd: 'pubcomp', messageId: 3 }));
  conn.toClient(gen({ cmd: 'puback', messageId: 2 }));
  assert.deepEqual(acct.inflightOf(0), []);
  assert.equal(acct.dupCount, 1);
  assert.equal(acct.pubrelCount, 1);
  assert.equal(acct.clientPublishCount, 3);
  assert.deepEqual(acct.clientPublishes.map((p) => p.messageId), [2, 3]);
  assert.deepEqual(seen, ['publish', 'publish', 'publish', 'pubrel']);

  // A reconnect that resends only a PUBREL still has that message in flight.
  const next = acct.openConnection(1);
  next.fromClient(gen({ cmd: 'pubrel', messageId: 9 }));
  assert.deepEqual(acct.inflightOf(1), [9]);
  assert.equal(acct.maxInflightOf(1), 1);

  next.fromClient(Buffer.from([0x00, 0x00]));
  assert.equal(acct.parseErrors.length, 1);
  next.fromClient(pub(10, 1, false)); // ignored after a framing error, by design
  assert.equal(acct.clientPublishCount, 3);
});
