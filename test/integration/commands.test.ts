/**
 * Remote commands with the real CLI: ping, status and serial-write (to a socat pty) through
 * mosquitto; a QoS 2 command runs exactly once across a kill -9 between PUBREC and PUBCOMP
 * (scripted broker); subscriptions are made after every CONNACK, and messages a kept session
 * had queued, arriving in the same read as the CONNACK, are taken, not a protocol violation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket, ISubscribePacket, Packet } from 'mqtt-packet';
import { startBroker } from '../support/broker.js';
import { createPty } from '../support/pty.js';
import { startScriptedBroker } from '../support/scripted-broker.js';
import type { ScriptedConnection } from '../support/scripted-broker.js';
import { startSubscriber } from '../support/subscriber.js';
import { sleep, waitUntil, withTimeout } from '../support/wait.js';
import { agentFixture, countLogs, logMsg } from './harness.js';

const isPublish = (p: Packet): p is IPublishPacket => p.cmd === 'publish';
const isSubscribe = (p: Packet): p is ISubscribePacket => p.cmd === 'subscribe';

void test('ping, status and serial-write through mosquitto; results on <command>/result', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const pty = await createPty({ t });
  const fx = await agentFixture({
    url: broker.url,
    t,
    sources: [{ type: 'serial', name: 'dev', path: pty.path, parser: { type: 'lines' } }],
    extra: { commands: { enabled: true } },
  });
  const cmd = `sensorgate/${fx.deviceId}/cmd`;
  const results = await startSubscriber({ url: broker.url, topic: `${cmd}/+/result`, t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('serial port opened'), 15_000);
  await agent.waitForLog(logMsg('subscribed'), 15_000);

  const client = mqtt.connect(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
  client.on('error', () => undefined);
  t.after(() => client.endAsync(true));
  await withTimeout(new Promise<void>((resolve) => client.once('connect', () => resolve())), 10_000, 'commander connect');
  const ask = async (name: string, payload: unknown, qos: 0 | 1 | 2 = 1): Promise<Record<string, unknown>> => {
    const before = results.messages.filter((m) => m.topic === `${cmd}/${name}/result`).length;
    await client.publishAsync(`${cmd}/${name}`, payload === undefined ? '' : JSON.stringify(payload), { qos });
    const all = await results.waitFor((ms) => ms.filter((m) => m.topic === `${cmd}/${name}/result`).length > before, 10_000, `${name} result`);
    const last = all.filter((m) => m.topic === `${cmd}/${name}/result`).at(-1);
    assert.equal(last?.retain, false);
    return JSON.parse(last?.payload.toString() ?? '{}') as Record<string, unknown>;
  };

  const ping = await ask('ping', { id: 'p1' }, 2);
  assert.equal(ping.ok, true);
  assert.equal(ping.pong, true);
  assert.equal(ping.id, 'p1');

  const status = await ask('status', undefined);
  assert.equal(status.ok, true);
  const body = status.status as { device: string; connected: boolean; sources: Array<{ name: string; portOpen?: boolean }> };
  assert.equal(body.device, fx.deviceId);
  assert.equal(body.connected, true);
  assert.deepEqual(body.sources.map((s) => [s.name, s.portOpen]), [['dev', true]]);

  const written = await ask('serial-write', { source: 'dev', data: 'READ\\r\\n' });
  assert.deepEqual(written, { ok: true, command: 'serial-write', source: 'dev', bytes: 6 });
  await waitUntil(() => pty.received().toString() === 'READ\r\n', 5_000, 'the bytes at the device', { detail: () => JSON.stringify(pty.received().toString()) });

  const unknown = await ask('serial-write', { source: 'nope', hex: '00' });
  assert.equal(unknown.ok, false);
  assert.match(String(unknown.error), /no serial source "nope"/);
  assert.equal((await ask('reboot', {})).error, 'unknown command "reboot" (known: ping, status, serial-write)');

  // Unplugged: the command says so instead of pretending.
  await pty.unplug();
  await agent.waitForLog(logMsg('serial port closed/unplugged'), 10_000);
  const unplugged = await ask('serial-write', { source: 'dev', data: 'x' });
  assert.match(String(unplugged.error), /serial port .* is not open/);
  assert.equal(pty.received().toString(), 'READ\r\n', 'written once');
  assert.equal(await agent.stop(), 0);
});

/** CONNACK, PINGRESP, SUBACK (granting what was asked) and PUBACK for the agent's QoS 1 publishes. */
function cooperate(conn: ScriptedConnection, sessionPresent: boolean): void {
  conn.onPacket((p) => {
    if (p.cmd === 'connect') conn.send({ cmd: 'connack', returnCode: 0, sessionPresent });
    if (p.cmd === 'pingreq') conn.send({ cmd: 'pingresp' });
    if (isSubscribe(p)) conn.send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((s) => s.qos) });
    if (isPublish(p) && p.qos === 1 && p.messageId !== undefined) conn.send({ cmd: 'puback', messageId: p.messageId });
  });
}

void test('a QoS 2 command runs exactly once across a kill -9 before PUBCOMP; a new message under the same id runs again', { timeout: 60_000 }, async (t) => {
  const broker = await startScriptedBroker((conn) => cooperate(conn, conn.index > 0), { t });
  const pty = await createPty({ t });
  const fx = await agentFixture({
    url: broker.url,
    t,
    sources: [{ type: 'serial', name: 'dev', path: pty.path, parser: { type: 'lines' } }],
    extra: { commands: { enabled: true } },
  });
  const topic = `sensorgate/${fx.deviceId}/cmd/serial-write`;
  const command = (id: number, data: string, dup: boolean): Packet => ({
    cmd: 'publish',
    topic,
    payload: Buffer.from(JSON.stringify({ source: 'dev', data })),
    qos: 2,
    retain: false,
    dup,
    messageId: id,
  });
  const resultOn = (conn: ScriptedConnection): IPublishPacket[] => conn.packets.map((r) => r.packet).filter(isPublish).filter((p) => p.topic === `${topic}/result`);

  let agent = fx.start();
  await agent.waitForLog(logMsg('serial port opened'), 15_000);
  const c0 = await broker.waitForConnection(1, 10_000);
  const sub0 = await c0.waitForPacket<ISubscribePacket>(isSubscribe, 10_000);
  assert.deepEqual(sub0.subscriptions, [{ topic: `sensorgate/${fx.deviceId}/cmd/+`, qos: 2 }]);
  c0.send(command(9, 'ONE\\n', false));
  await c0.waitForPacket((p) => p.cmd === 'pubrec' && p.messageId === 9, 5_000);
  await waitUntil(() => pty.received().toString() === 'ONE\n', 5_000, 'the command ran');
  await waitUntil(() => resultOn(c0).length === 1, 5_000, 'its result');
  // No PUBREL: the broker's side of the handshake is still open when the agent dies.
  await agent.kill9();

  agent = fx.start();
  const c1 = await broker.waitForConnection(2, 10_000);
  await c1.waitForPacket(isSubscribe, 10_000, { description: 'SUBSCRIBE again, although the broker kept the session' });
  c1.send(command(9, 'ONE\\n', true));
  await c1.waitForPacket((p) => p.cmd === 'pubrec' && p.messageId === 9, 5_000);
  await sleep(500);
  assert.equal(pty.received().toString(), 'ONE\n', 'the resent command did not run again');
  assert.equal(resultOn(c1).length, 0);
  c1.send({ cmd: 'pubrel', messageId: 9 });
  await c1.waitForPacket((p) => p.cmd === 'pubcomp' && p.messageId === 9, 5_000);

  // The id is free: the next message under it is a new command.
  c1.send(command(9, 'TWO\\n', false));
  await waitUntil(() => pty.received().toString() === 'ONE\nTWO\n', 5_000, 'the new command ran', { detail: () => JSON.stringify(pty.received().toString()) });
  assert.equal(await agent.stop(), 0);
});

void test('messages a kept session queued arrive in the CONNACK read and are taken; a refused subscription is logged', { timeout: 30_000 }, async (t) => {
  const broker = await startScriptedBroker((conn) => {
    conn.onPacket((p) => {
      if (p.cmd === 'connect') {
        // CONNACK and a queued command in one write, as mosquitto sends a kept session's backlog.
        const ping = { cmd: 'publish', topic: `sensorgate/${deviceId}/cmd/ping`, payload: Buffer.from('{"id":1}'), qos: 1, retain: false, dup: false, messageId: 5 } as const;
        conn.sendRaw(Buffer.concat([mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: true }), mqttPacket.generate(ping)]));
      }
      if (p.cmd === 'pingreq') conn.send({ cmd: 'pingresp' });
      if (isSubscribe(p)) conn.send({ cmd: 'suback', messageId: p.messageId, granted: [0x80] });
      if (isPublish(p) && p.qos === 1 && p.messageId !== undefined) conn.send({ cmd: 'puback', messageId: p.messageId });
    });
  }, { t });
  const fx = await agentFixture({ url: broker.url, interval: '1s', t, extra: { commands: { enabled: true } } });
  const deviceId = fx.deviceId;
  const agent = fx.start();
  const c0 = await broker.waitForConnection(1, 10_000);
  await c0.waitForPacket((p) => p.cmd === 'puback' && p.messageId === 5, 5_000);
  const result = await c0.waitForPacket<IPublishPacket>((p) => isPublish(p) && p.topic.endsWith('/cmd/ping/result'), 5_000);
  assert.equal((JSON.parse(result.payload.toString()) as { id: number }).id, 1);
  const refused = await agent.waitForLog(logMsg('broker refused subscription'), 5_000);
  assert.equal(refused.json?.topic, `sensorgate/${deviceId}/cmd/+`);
  await sleep(300);
  assert.equal(c0.closed, false, 'the connection stays up');
  assert.equal(countLogs(agent, 'PUBLISH before CONNACK'), 0);
  assert.equal(await agent.stop(), 0);
});
