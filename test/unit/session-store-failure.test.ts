/**
 * The session against a real outbox whose disk writes fail: what it does with acks it
 * cannot settle, and when it asks for a fresh connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from 'mqtt-packet';
import { silentLogger } from '../../src/observe/logger.js';
import { Session } from '../../src/mqtt/session.js';
import type { PacketLink } from '../../src/mqtt/session.js';
import type { FsSpace } from '../../src/outbox/disk-space.js';
import { T, outboxHarness, sized } from '../support/outbox-harness.js';

const enospc = (): Error => new Error('IO error: /store/000009.log: No space left on device');
const plenty = (): Promise<FsSpace> => Promise.resolve({ bavail: 1e6, bfree: 1e6, bsize: 4096 });

class FakeLink implements PacketLink {
  readonly sent: Packet[] = [];
  isOpen = true;
  send(packet: Packet): void {
    this.sent.push(packet);
  }
  batch(writes: () => void): void {
    writes();
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function failingStore(t: Parameters<typeof outboxHarness>[0]) {
  const fault = { full: false };
  const outbox = await outboxHarness(t).openFresh({}, silentLogger, {
    statfs: plenty,
    write: async (_ops, write) => {
      if (fault.full) throw enospc();
      await write();
    },
  });
  return { outbox, fault };
}

void test('QoS 2: an id whose delete failed after PUBCOMP stays taken until a new connection, so no other message can reuse it', T, async (t) => {
  const { outbox, fault } = await failingStore(t);
  await outbox.commit([sized(5, { qos: 2 })]);
  const session = new Session(outbox, { inflight: 5, logger: silentLogger });
  t.after(() => session.close());
  const link = new FakeLink();
  await session.attach(link, true);
  await until(() => link.sent.some((p) => p.cmd === 'publish'), 5_000, 'the publish');
  const id = (link.sent.find((p) => p.cmd === 'publish') as { messageId: number }).messageId;
  session.handle({ cmd: 'pubrec', messageId: id });
  await until(() => link.sent.some((p) => p.cmd === 'pubrel'), 5_000, 'PUBREL after the release is recorded');

  fault.full = true;
  session.handle({ cmd: 'pubcomp', messageId: id });
  assert.equal(session.inflight, 0, 'the window slot is free');
  await until(() => !outbox.stats().writable, 5_000, 'the failed delete');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(session.packetIdsInUse, 1, 'the id is still taken: on disk the message is "released" under it');
  assert.equal((await outbox.readAfter(0, 10))[0]?.flight?.phase, 'released');

  // Control: with a working disk the id is free again once the delete lands.
  session.detach();
  await until(() => outbox.stats().writable, 10_000, 'the store to be reopened');
  fault.full = false;
  const link2 = new FakeLink();
  await session.attach(link2, true);
  await until(() => link2.sent.some((p) => p.cmd === 'pubrel'), 5_000, 'the PUBREL replayed from disk');
  session.handle({ cmd: 'pubcomp', messageId: id });
  await until(() => outbox.stats().messages === 0, 5_000, 'the delete');
  await until(() => session.packetIdsInUse === 0, 5_000, 'the id to be released');
});

void test('once the store is writable again after failed writes, the session asks for a fresh connection (once, and only then)', T, async (t) => {
  const { outbox, fault } = await failingStore(t);
  await outbox.commit([sized(5), sized(5)]);
  let resyncs = 0;
  const session = new Session(outbox, { inflight: 5, logger: silentLogger, onResync: () => resyncs++ });
  t.after(() => session.close());
  const link = new FakeLink();
  await session.attach(link, true);
  await until(() => link.sent.filter((p) => p.cmd === 'publish').length === 2, 5_000, 'two publishes');
  const [a, b] = link.sent.filter((p) => p.cmd === 'publish') as Array<{ messageId: number }>;
  session.handle({ cmd: 'puback', messageId: (a as { messageId: number }).messageId });
  await until(() => outbox.stats().messages === 1, 5_000, 'the first delete');

  fault.full = true;
  session.handle({ cmd: 'puback', messageId: (b as { messageId: number }).messageId });
  await until(() => !outbox.stats().writable, 5_000, 'the failed delete');
  fault.full = false;
  await until(() => outbox.stats().writable, 10_000, 'the store to be reopened');
  await until(() => resyncs === 1, 2_000, 'a resync request');
  assert.equal(outbox.stats().messages, 1, 'the acked message is still stored: the new connection sends it again (QoS 1)');

  // A recovery with no failed write on this connection asks for nothing.
  session.detach();
  const link2 = new FakeLink();
  await session.attach(link2, true);
  await until(() => link2.sent.some((p) => p.cmd === 'publish'), 5_000, 'the resend');
  // Its send state is written before the fault, so only the commit below fails.
  for (let i = 0; i < 100 && (await outbox.readAfter(0, 10))[0]?.flight === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  fault.full = true;
  await assert.rejects(outbox.commit([sized(5)]));
  fault.full = false;
  await until(() => outbox.stats().writable, 10_000, 'the second reopen');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(resyncs, 1);
});
