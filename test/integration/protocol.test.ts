/**
 * The agent's MQTT behaviour against a scripted broker that we control packet by packet:
 * window limits, replay after reconnect, CONNACK refusals and hostile bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { hostile, startScriptedBroker } from '../support/scripted-broker.js';
import type { ScriptedConnection } from '../support/scripted-broker.js';
import { sleep, waitUntil } from '../support/wait.js';
import { agentFixture, countLogs, logMsg } from './harness.js';

const isPublish = (p: Packet): p is IPublishPacket => p.cmd === 'publish';

function connack(conn: ScriptedConnection, sessionPresent: boolean, returnCode = 0): void {
  conn.onPacket((p) => {
    if (p.cmd === 'connect') conn.send({ cmd: 'connack', returnCode, sessionPresent });
    if (p.cmd === 'pingreq') conn.send({ cmd: 'pingresp' });
  });
}

function dataPublishes(conn: ScriptedConnection, topic: string): IPublishPacket[] {
  return conn.packets.map((r) => r.packet).filter(isPublish).filter((p) => p.topic === topic);
}

void test('window: never more than mqtt.inflight unacked; replay after reconnect is windowed, same ids, DUP=1; session lost resends as new', { timeout: 60_000 }, async (t) => {
  const inflight = 5;
  let ackData = false;
  const outstanding = new Set<number>();
  let maxOutstanding = 0;
  const broker = await startScriptedBroker((conn) => {
    const sessionPresent = conn.index === 1;
    connack(conn, sessionPresent);
    conn.onPacket((p) => {
      if (!isPublish(p) || p.messageId === undefined) return;
      outstanding.add(p.messageId);
      maxOutstanding = Math.max(maxOutstanding, outstanding.size);
      if (p.topic.endsWith('/status') || ackData) {
        outstanding.delete(p.messageId);
        conn.send({ cmd: 'puback', messageId: p.messageId });
      }
    });
  }, { t });
  const fx = await agentFixture({ url: broker.url, inflight, count: 40, t });
  const agent = fx.start();

  // Connection 0: acks only the status; the window fills and stops.
  const c0 = await broker.waitForConnection(1, 10_000);
  await waitUntil(() => dataPublishes(c0, fx.dataTopic).length >= inflight, 10_000, 'window to fill');
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  await sleep(300);
  const first = dataPublishes(c0, fx.dataTopic);
  assert.equal(first.length, inflight, 'exactly inflight publishes while nothing is acked');
  assert.ok(first.every((p) => !p.dup));
  const ids = first.map((p) => p.messageId);
  c0.destroy();
  outstanding.clear();

  // Connection 1: session present → status first, then the same ids with DUP=1, all before any ack.
  const c1 = await broker.waitForConnection(2, 10_000);
  await waitUntil(() => dataPublishes(c1, fx.dataTopic).length >= inflight, 10_000, 'replay');
  await sleep(300);
  const publishes1 = c1.packets.map((r) => r.packet).filter(isPublish);
  assert.equal(publishes1[0]?.topic, fx.statusTopic, 'status goes before the replay');
  const replay = dataPublishes(c1, fx.dataTopic);
  assert.equal(replay.length, inflight, 'replay is windowed and still limited');
  assert.deepEqual(replay.map((p) => p.messageId), ids, 'same packet ids');
  assert.ok(replay.every((p) => p.dup), 'DUP=1 on resends');
  assert.deepEqual(replay.map((p) => JSON.parse(p.payload.toString()) as { seq: number }).map((m) => m.seq), [1, 2, 3, 4, 5]);
  assert.ok(!ids.includes(publishes1[0]?.messageId), 'status id does not collide with restored ids');
  c1.destroy();
  outstanding.clear();

  // Connection 2: session lost → sent again as new messages (DUP=0), then everything drains.
  ackData = true;
  const c2 = await broker.waitForConnection(3, 10_000);
  await waitUntil(() => dataPublishes(c2, fx.dataTopic).length >= 40, 15_000, 'all 40 delivered');
  const all = dataPublishes(c2, fx.dataTopic);
  assert.ok(all.slice(0, inflight).every((p) => !p.dup), 'no DUP when the broker has no session');
  assert.deepEqual(all.map((p) => (JSON.parse(p.payload.toString()) as { seq: number }).seq), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.ok(maxOutstanding <= inflight, `max outstanding ${maxOutstanding}`);
  await agent.stop();
});

void test('QoS 2: after PUBREC the release is persisted and replayed as PUBREL, never as a new PUBLISH', { timeout: 60_000 }, async (t) => {
  let complete = false;
  const broker = await startScriptedBroker((conn) => {
    connack(conn, conn.index > 0);
    conn.onPacket((p) => {
      if (isPublish(p) && p.messageId !== undefined) {
        if (p.qos === 1) conn.send({ cmd: 'puback', messageId: p.messageId });
        if (p.qos === 2) conn.send({ cmd: 'pubrec', messageId: p.messageId });
      }
      if (p.cmd === 'pubrel' && complete) conn.send({ cmd: 'pubcomp', messageId: p.messageId });
    });
  }, { t });
  const fx = await agentFixture({ url: broker.url, qos: 2, inflight: 4, count: 4, t });
  let agent = fx.start();
  const c0 = await broker.waitForConnection(1, 10_000);
  await waitUntil(() => c0.packets.filter((r) => r.packet.cmd === 'pubrel').length >= 4, 10_000, '4 PUBRELs');
  const ids = dataPublishes(c0, fx.dataTopic).map((p) => p.messageId);
  // Crash the agent mid-handshake: the PUBREC'd state must come back from disk.
  await agent.kill9();
  agent = fx.start();
  complete = true;
  const c1 = await broker.waitForConnection(2, 10_000);
  await waitUntil(() => c1.packets.filter((r) => r.packet.cmd === 'pubrel').length >= 4, 10_000, 'PUBRELs replayed');
  await sleep(200);
  assert.equal(dataPublishes(c1, fx.dataTopic).length, 0, 'no PUBLISH resent for released messages');
  assert.deepEqual(
    c1.packets.map((r) => r.packet).filter((p) => p.cmd === 'pubrel').map((p) => p.messageId),
    ids,
  );
  assert.equal(await agent.stop(), 0);
});

void test('CONNACK refusals: 1, 2, 4, 5 retry at the maximum delay with a clear reason; 3 backs off normally', { timeout: 60_000 }, async (t) => {
  const expectations: Array<[number, RegExp]> = [
    [1, /unacceptable protocol version/],
    [2, /client identifier rejected/],
    [3, /server unavailable/],
    [4, /bad user name or password/],
    [5, /not authorized/],
  ];
  await Promise.all(
    expectations.map(async ([code, reason]) => {
      const broker = await startScriptedBroker((conn) => connack(conn, false, code), { t });
      const fx = await agentFixture({ url: broker.url, minDelay: '100ms', maxDelay: '2s', interval: '50ms', t });
      const agent = fx.start();
      const a = await broker.waitForConnection(1, 10_000);
      const b = await broker.waitForConnection(2, 10_000);
      const line = await agent.waitForLog(logMsg('broker refused connection'), 5_000);
      assert.match(String(line.json?.msg), reason);
      assert.equal(line.json?.returnCode, code);
      assert.ok(typeof line.json?.hint === 'string' && line.json.hint.length > 0);
      const gap = b.acceptedAt - a.acceptedAt;
      if (code === 3) assert.ok(gap < 1_000, `code 3 retried after ${gap} ms`);
      else assert.ok(gap >= 1_900, `code ${code} retried after only ${gap} ms`);
      assert.ok(agent.running, 'refusal never stops the agent');
      // Readings keep being committed while the broker refuses us.
      assert.equal(await agent.stop(), 0);
      const stopped = agent.lines.find(logMsg('stopped'));
      assert.ok(Number(stopped?.json?.queuedMessages) > 0);
    }),
  );
});

void test('hostile broker bytes close the connection with a logged reason; the agent reconnects and keeps going', { timeout: 90_000 }, async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['bad remaining length', hostile.badRemainingLength()],
    ['reserved packet type 0', hostile.reservedType0()],
    ['reserved packet type 15', hostile.reservedType15()],
    ['invalid UTF-8 topic', hostile.publishInvalidUtf8Topic()],
    ['QoS 3 publish', hostile.publishQos3()],
    ['PUBACK for an unknown id', hostile.puback(4242)],
    ['PUBCOMP for an unknown id', hostile.pubcomp(4243)],
    ['oversized packet', hostile.hugeRemainingLength(5_000_000)],
    ['second CONNACK', hostile.connack(0)],
  ];
  await Promise.all(
    cases.map(async ([name, bytes]) => {
      const broker = await startScriptedBroker((conn) => {
        connack(conn, false);
        conn.onPacket((p) => {
          if (isPublish(p) && p.messageId !== undefined) conn.send({ cmd: 'puback', messageId: p.messageId });
        });
      }, { t });
      const fx = await agentFixture({ url: broker.url, interval: '50ms', t });
      const agent = fx.start();
      const c0 = await broker.waitForConnection(1, 10_000);
      await c0.waitForPacket(isPublish, 10_000);
      c0.sendRaw(bytes);
      await c0.waitForClose(5_000);
      const c1 = await broker.waitForConnection(2, 10_000);
      await c1.waitForPacket((p) => isPublish(p) && p.topic === fx.dataTopic, 10_000);
      const lost = agent.lines.find(logMsg('connection lost'));
      assert.ok(lost, `${name}: no 'connection lost' log`);
      assert.match(String(lost.json?.reason), /protocol violation|unparseable|exceeds|malformed/, `${name}: ${String(lost.json?.reason)}`);
      assert.ok(agent.running, `${name}: agent died`);
      assert.equal(await agent.stop(), 0, name);
    }),
  );
});

void test('an unexpected PUBREL is answered with PUBCOMP (the broker may be resending) and the link stays up', { timeout: 30_000 }, async (t) => {
  const broker = await startScriptedBroker((conn) => connack(conn, false), { t });
  const fx = await agentFixture({ url: broker.url, interval: '100ms', t });
  const agent = fx.start();
  const c0 = await broker.waitForConnection(1, 10_000);
  await c0.waitForPacket(isPublish, 10_000);
  c0.sendRaw(hostile.pubrel(77));
  const comp = await c0.waitForPacket((p) => p.cmd === 'pubcomp', 5_000);
  assert.equal(comp.cmd === 'pubcomp' ? comp.messageId : -1, 77);
  await sleep(300);
  assert.equal(c0.closed, false);
  assert.equal(await agent.stop(), 0);
});

void test('repeated drops right after CONNACK are reported as a probable client id clash', { timeout: 30_000 }, async (t) => {
  const broker = await startScriptedBroker((conn) => {
    connack(conn, false);
    setTimeout(() => conn.destroy(), 100);
  }, { t });
  const fx = await agentFixture({ url: broker.url, minDelay: '50ms', maxDelay: '200ms', interval: '1s', t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('another client is probably using the same client id'), 15_000);
  assert.equal(await agent.stop(), 0);
});

void test('incoming QoS 2 is delivered once across reconnects and a kill -9, and answered PUBREC/PUBCOMP', { timeout: 60_000 }, async (t) => {
  const broker = await startScriptedBroker((conn) => connack(conn, conn.index > 0), { t });
  const fx = await agentFixture({ url: broker.url, interval: '1s', t });
  const incoming = { cmd: 'publish', topic: 'sensorgate/cmd/ping', payload: Buffer.from('x'), qos: 2, retain: false, messageId: 9 } as const;
  let agent = fx.start();
  const c0 = await broker.waitForConnection(1, 10_000);
  await c0.waitForPacket(isPublish, 10_000);
  c0.send({ ...incoming, dup: false });
  await c0.waitForPacket((p) => p.cmd === 'pubrec' && p.messageId === 9, 5_000);
  await agent.waitForLog(logMsg('incoming message'), 5_000);
  c0.destroy();

  const c1 = await broker.waitForConnection(2, 10_000);
  await c1.waitForPacket(isPublish, 10_000);
  c1.send({ ...incoming, dup: true });
  await c1.waitForPacket((p) => p.cmd === 'pubrec' && p.messageId === 9, 5_000);
  await sleep(200);
  assert.equal(countLogs(agent, 'incoming message'), 1, 'a resent QoS 2 PUBLISH is not delivered again');

  await agent.kill9();
  agent = fx.start();
  const c2 = await broker.waitForConnection(3, 10_000);
  await c2.waitForPacket(isPublish, 10_000);
  c2.send({ ...incoming, dup: true });
  await c2.waitForPacket((p) => p.cmd === 'pubrec' && p.messageId === 9, 5_000);
  await sleep(200);
  assert.equal(countLogs(agent, 'incoming message'), 0, 'not delivered again after a restart either');
  c2.send({ cmd: 'pubrel', messageId: 9 });
  await c2.waitForPacket((p) => p.cmd === 'pubcomp' && p.messageId === 9, 5_000);
  // The id is free again: a new message with it is a new delivery.
  c2.send({ ...incoming, dup: false });
  await agent.waitForLog(logMsg('incoming message'), 5_000);
  assert.equal(await agent.stop(), 0);
});
