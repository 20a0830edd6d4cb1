/**
 * The session's SUBSCRIBE/SUBACK, control publishes and the incoming QoS 2 ids across a lost
 * broker session, against a real LevelOutbox and a link that records what is written.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from 'mqtt-packet';
import { ProtocolViolation } from '../../src/mqtt/connection.js';
import { Session } from '../../src/mqtt/session.js';
import type { IncomingMessage, PacketLink } from '../../src/mqtt/session.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { LevelOutbox } from '../../src/outbox/level-outbox.js';
import { outboxHarness, T } from '../support/outbox-harness.js';
import { waitUntil } from '../support/wait.js';

class RecordingLink implements PacketLink {
  isOpen = true;
  readonly packets: Packet[] = [];
  send(packet: Packet): void {
    if (packet.cmd === 'publish' && packet.topic === 'bad') throw new Error('invalid packet');
    this.packets.push(packet);
  }
  batch(writes: () => void): void {
    writes();
  }
  of<C extends Packet['cmd']>(cmd: C): Array<Extract<Packet, { cmd: C }>> {
    return this.packets.filter((p): p is Extract<Packet, { cmd: C }> => p.cmd === cmd);
  }
}

async function fixture(t: TestContext, path?: string): Promise<{ outbox: LevelOutbox; session: Session; delivered: IncomingMessage[] }> {
  const h = outboxHarness(t);
  const outbox = path === undefined ? await h.openFresh() : await h.open(path);
  const delivered: IncomingMessage[] = [];
  const session = new Session(outbox, { inflight: 4, logger: silentLogger, onMessage: (m) => delivered.push(m) });
  t.after(() => session.close());
  return { outbox, session, delivered };
}

void test('subscribe: one SUBSCRIBE under an id no publish holds; SUBACK resolves the return codes and frees the id', T, async (t) => {
  const { outbox, session } = await fixture(t);
  await outbox.commit([{ topic: 'd', payload: Buffer.from('1'), qos: 1, retain: false }]);
  await outbox.recordFlight([{ seq: 1, packetId: 1, phase: 'published' }]);
  const link = new RecordingLink();
  await session.attach(link, true);
  await waitUntil(() => link.of('publish').length === 1, 5_000, 'the replayed publish');
  const granted = session.subscribe([
    { topic: 'a/+', qos: 2 },
    { topic: 'homeassistant/status', qos: 1 },
  ]);
  const [subscribe] = link.of('subscribe');
  assert.ok(subscribe !== undefined);
  assert.deepEqual(subscribe.subscriptions, [
    { topic: 'a/+', qos: 2 },
    { topic: 'homeassistant/status', qos: 1 },
  ]);
  assert.notEqual(subscribe.messageId, 1, 'not the id of the message in flight');
  assert.equal(session.inflight, 1, 'a SUBSCRIBE is not counted in the inflight window');
  session.handle({ cmd: 'suback', messageId: subscribe.messageId, granted: [2, 0x80] });
  assert.deepEqual(await granted, [2, 0x80]);
  assert.throws(() => session.handle({ cmd: 'suback', messageId: subscribe.messageId, granted: [1] }), ProtocolViolation, 'a second SUBACK for it is a violation');
});

void test('subscribe: SUBACK with the wrong number of codes is a protocol violation; a lost connection resolves null', T, async (t) => {
  const { session } = await fixture(t);
  const link = new RecordingLink();
  await session.attach(link, false);
  const first = session.subscribe([{ topic: 'x', qos: 1 }]);
  const id = link.of('subscribe')[0]?.messageId;
  assert.throws(() => session.handle({ cmd: 'suback', messageId: id, granted: [1, 1] }), ProtocolViolation);
  session.detach();
  assert.equal(await first, null);
  assert.equal(await session.subscribe([{ topic: 'x', qos: 1 }]), null, 'no link: nothing sent');
});

void test('a control publish that cannot be encoded frees its slot and resolves false', T, async (t) => {
  const { session } = await fixture(t);
  const link = new RecordingLink();
  await session.attach(link, false);
  assert.equal(await session.publishControl({ topic: 'bad', payload: Buffer.alloc(0), qos: 1, retain: false }), false);
  assert.equal(session.inflight, 0);
  const ok = session.publishControl({ topic: 'good', payload: Buffer.alloc(0), qos: 1, retain: true });
  const sent = await waitUntil(() => link.of('publish').find((p) => p.topic === 'good'), 5_000, 'the good control publish');
  session.handle({ cmd: 'puback', messageId: sent.messageId });
  assert.equal(await ok, true);
});

void test('last delivery: set by the ack of a stored message, not by a control publish', T, async (t) => {
  const { outbox, session } = await fixture(t);
  const link = new RecordingLink();
  await session.attach(link, false);
  const control = session.publishControl({ topic: 's', payload: Buffer.from('online'), qos: 1, retain: true });
  const status = await waitUntil(() => link.of('publish')[0], 5_000, 'the control publish');
  session.handle({ cmd: 'puback', messageId: status.messageId });
  await control;
  assert.equal(session.lastDeliveryAt, null);
  await outbox.commit([{ topic: 'd', payload: Buffer.from('1'), qos: 1, retain: false }]);
  await waitUntil(() => link.of('publish').length === 2, 5_000, 'the stored message sent');
  const before = Date.now();
  session.handle({ cmd: 'puback', messageId: link.of('publish')[1]?.messageId });
  assert.ok((session.lastDeliveryAt ?? 0) >= before);
});

const command = (id: number, dup: boolean): Packet => ({ cmd: 'publish', topic: 'cmd/ping', payload: Buffer.from(String(id)), qos: 2, retain: false, dup, messageId: id });

void test('incoming QoS 2: a resend in a kept session is not delivered again; after a lost session the same id is a new message', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  const { outbox, session, delivered } = await fixture(t, path);
  let link = new RecordingLink();
  await session.attach(link, false);
  session.handle(command(9, false));
  await waitUntil(() => link.of('pubrec').length === 1, 5_000, 'PUBREC');
  assert.equal(delivered.length, 1);

  // The broker kept the session and resends (no PUBREL yet): acknowledged, not delivered again.
  session.detach();
  link = new RecordingLink();
  await session.attach(link, true);
  session.handle(command(9, true));
  await waitUntil(() => link.of('pubrec').length === 1, 5_000, 'PUBREC for the resend');
  assert.equal(delivered.length, 1, 'not delivered twice');
  assert.equal(await outbox.incomingQos2.has(9), true);

  // The broker lost the session: it will never send PUBREL for id 9, so id 9 must not swallow a new message.
  session.detach();
  link = new RecordingLink();
  await session.attach(link, false);
  session.handle(command(9, false));
  await waitUntil(() => link.of('pubrec').length === 1, 5_000, 'PUBREC for the new message');
  assert.equal(delivered.length, 2, 'a new message under an old id is delivered');
});
