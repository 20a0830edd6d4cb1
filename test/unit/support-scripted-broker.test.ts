import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { test } from 'node:test';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import type { IConnackPacket, Packet } from 'mqtt-packet';
import type { AfterHook } from '../support/cleanup.js';
import { autoResponder, hostile, startScriptedBroker } from '../support/scripted-broker.js';
import { waitUntil, withTimeout } from '../support/wait.js';

const T = { timeout: 30_000 };

interface RawClient {
  socket: Socket;
  packets: Packet[];
  bytes: () => Buffer;
  closed: () => boolean;
}

async function rawClient(port: number, t: AfterHook): Promise<RawClient> {
  const socket = createConnection({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  const packets: Packet[] = [];
  let closed = false;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', () => undefined);
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    parser.parse(d);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 5000, 'raw connect');
  t.after(() => {
    socket.destroy();
  });
  return { socket, packets, bytes: () => Buffer.concat(chunks), closed: () => closed };
}

const connectBytes = (clientId: string): Buffer =>
  mqttPacket.generate({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 10 });

void test('scripted broker answers CONNACK with a chosen code and sessionPresent, then sends raw bytes', T, async (t) => {
  const broker = await startScriptedBroker(async (conn) => {
    const connect = await conn.waitForPacket((p) => p.cmd === 'connect', 5000);
    assert.equal(connect.cmd, 'connect');
    conn.send({ cmd: 'connack', returnCode: 0, sessionPresent: true });
    conn.sendRaw(hostile.reservedType0());
  }, { t });
  const client = await rawClient(broker.port, t);
  client.socket.write(connectBytes('raw-1'));

  const conn = await broker.waitForConnection(1, 5000);
  await waitUntil(() => client.bytes().length >= 6, 5000, 'CONNACK + raw bytes');
  const connack = client.packets[0] as IConnackPacket | undefined;
  assert.equal(connack?.cmd, 'connack');
  assert.equal(connack.returnCode, 0);
  assert.equal(connack.sessionPresent, true);
  assert.deepEqual([...client.bytes().subarray(4)], [0x00, 0x00]);
  assert.equal(conn.packets[0]?.packet.cmd, 'connect');
  assert.deepEqual(broker.handlerErrors, []);
});

void test('CONNACK refusal codes reach MQTT.js; attempts are counted with timestamps', T, async (t) => {
  const broker = await startScriptedBroker(autoResponder({ returnCode: 5 }), { t });
  for (let i = 0; i < 3; i++) {
    const client = mqtt.connect(broker.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    const err = await withTimeout(
      new Promise<Error>((resolve) => client.once('error', resolve)),
      5000,
      'MQTT.js to report the refusal',
    );
    assert.match(err.message, /Not authorized/i);
    await client.endAsync(true);
  }
  await broker.waitForConnection(3, 5000);
  const times = broker.connections.map((c) => c.acceptedAt);
  assert.equal(times.length, 3);
  assert.ok(times.every((at, i) => i === 0 || at >= (times[i - 1] ?? 0)));
  await Promise.all(broker.connections.map((c) => c.waitForClose(5000)));
});

void test('autoResponder completes QoS 1 and QoS 2 for MQTT.js; held PUBACK leaves the publish pending', T, async (t) => {
  let hold = false;
  const broker = await startScriptedBroker((conn) => {
    autoResponder({ puback: false })(conn);
    conn.onPacket((p) => {
      if (p.cmd === 'publish' && p.qos === 1 && !hold) conn.send({ cmd: 'puback', messageId: p.messageId });
    });
  }, { t });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  await withTimeout(client.publishAsync('s/1', 'a', { qos: 1 }), 5000, 'QoS 1 publish');
  await withTimeout(client.publishAsync('s/2', 'b', { qos: 2 }), 5000, 'QoS 2 publish');

  hold = true;
  let acked = false;
  void client.publishAsync('s/3', 'c', { qos: 1 }).then(() => {
    acked = true;
  });
  const conn = await broker.waitForConnection(1, 1000);
  const held = await conn.waitForPacket((p) => p.cmd === 'publish' && p.topic === 's/3', 5000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(acked, false);
  conn.sendRaw(hostile.puback(held.messageId ?? 0));
  await waitUntil(() => acked, 5000, 'late PUBACK to complete the publish');
});

void test('packets are iterable; waitForPacket fails fast when the connection closes', T, async (t) => {
  const broker = await startScriptedBroker(undefined, { t });
  const client = await rawClient(broker.port, t);
  client.socket.write(
    Buffer.concat([connectBytes('iter'), mqttPacket.generate({ cmd: 'pingreq' }), mqttPacket.generate({ cmd: 'disconnect' })]),
  );
  const conn = await broker.waitForConnection(1, 5000);
  await conn.waitForPacket((p) => p.cmd === 'disconnect', 5000);
  client.socket.end();
  const cmds: string[] = [];
  for await (const p of conn) cmds.push(p.cmd);
  assert.deepEqual(cmds, ['connect', 'pingreq', 'disconnect']);
  await assert.rejects(conn.waitForPacket((p) => p.cmd === 'subscribe', 5000), /closed before/);
});

void test('hostile byte builders produce what they claim', () => {
  const parse = (b: Buffer): { packets: Packet[]; errors: string[] } => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: Packet[] = [];
    const errors: string[] = [];
    parser.on('packet', (p: Packet) => packets.push(p));
    parser.on('error', (e: Error) => errors.push(e.message));
    parser.parse(b);
    return { packets, errors };
  };
  assert.equal(parse(hostile.badRemainingLength()).errors.length, 1);
  assert.equal(parse(hostile.reservedType0()).packets.length, 0);
  assert.equal(parse(hostile.publishQos3()).errors.length, 1);
  const utf8 = hostile.publishInvalidUtf8Topic();
  assert.equal(utf8[1], utf8.length - 2);
  assert.deepEqual([...utf8.subarray(2, 7)], [0x00, 0x03, 0x74, 0xc3, 0x28]);
  assert.deepEqual([...hostile.hugeRemainingLength()], [0x30, 0xff, 0xff, 0xff, 0x7f]);
  const ack = parse(hostile.puback(0x1234)).packets[0];
  assert.equal(ack?.cmd, 'puback');
  assert.equal(ack.messageId, 0x1234);
  assert.equal(parse(hostile.pubrel(7)).packets[0]?.cmd, 'pubrel');
  const connack = parse(hostile.connack(3, true)).packets[0] as IConnackPacket | undefined;
  assert.equal(connack?.returnCode, 3);
  assert.equal(connack.sessionPresent, true);
});
