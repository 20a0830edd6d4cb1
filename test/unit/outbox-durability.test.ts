import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboxClosedError } from '../../src/outbox/level-outbox.js';
import type { Message } from '../../src/outbox/outbox.js';
import { T, outboxHarness, withRaw } from '../support/outbox-harness.js';

const msg = (i: number, qos: 0 | 1 | 2 = 1): Message => ({ topic: `dev/t/${i}`, payload: Buffer.from(`v${i}`), qos, retain: i % 2 === 0 });

void test('a resolved commit is readable after close and reopen, with exact counters', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  const before = Date.now();
  let outbox = await h.open(path, { sync: true });
  const result = await outbox.commit([msg(1, 0), msg(2, 2)]);
  assert.deepEqual(result, { seqs: [1, 2], rejected: 0 });
  const { messages, bytes } = outbox.stats();
  await outbox.close();

  outbox = await h.open(path);
  assert.equal(outbox.lastSeq(), 2);
  const stats = outbox.stats();
  assert.deepEqual({ messages: stats.messages, bytes: stats.bytes }, { messages, bytes });
  assert.equal(messages, 2);
  const read = await outbox.readAfter(0, 10);
  assert.deepEqual(
    read.map(({ seq, topic, payload, qos, retain, flight }) => ({ seq, topic, payload: payload.toString(), qos, retain, flight })),
    [
      { seq: 1, topic: 'dev/t/1', payload: 'v1', qos: 0, retain: false, flight: undefined },
      { seq: 2, topic: 'dev/t/2', payload: 'v2', qos: 2, retain: true, flight: undefined },
    ],
  );
  for (const m of read) assert.ok(m.enqueuedAt >= before && m.enqueuedAt <= Date.now());
  assert.equal(stats.oldestEnqueuedAt, read[0]?.enqueuedAt);
});

void test('source state is committed in the same batch as its message', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  assert.deepEqual(await outbox.readSourceState('sim'), {});
  // The outbox is closed without awaiting the commit: close must wait for the batch.
  const pending = outbox.commit([msg(1)], { source: 'sim', values: { seq: 41, unit: 'C' } });
  const other = outbox.commit([], { source: 'sim!2', values: { seq: 7 } });
  await outbox.close();
  assert.deepEqual(await pending, { seqs: [1], rejected: 0 });
  await other;

  outbox = await h.open(path);
  assert.deepEqual(await outbox.readSourceState('sim'), { seq: 41, unit: 'C' });
  assert.deepEqual(await outbox.readSourceState('sim!2'), { seq: 7 }, 'a ! in a source name must not mix ranges');
  assert.equal((await outbox.readAfter(0, 10)).length, 1);
  await outbox.commit([msg(2)], { source: 'sim', values: { seq: 42 } });
  assert.deepEqual(await outbox.readSourceState('sim'), { seq: 42, unit: 'C' });
});

void test('seqs are monotonic across reopen and never reused after the store is emptied', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  assert.equal(outbox.lastSeq(), 0);
  assert.deepEqual((await outbox.commit([msg(1), msg(2), msg(3)])).seqs, [1, 2, 3]);
  await outbox.settle([1, 2, 3]);
  assert.equal(outbox.stats().messages, 0);
  assert.equal(outbox.stats().oldestEnqueuedAt, null);
  await outbox.close();

  outbox = await h.open(path);
  assert.equal(outbox.lastSeq(), 3);
  assert.deepEqual((await outbox.commit([msg(4)])).seqs, [4]);
  await outbox.close();

  // Without the high-water mark the last message key still bounds the next seq.
  await withRaw(path, (raw) => raw.del('meta!next-seq'));
  outbox = await h.open(path);
  assert.deepEqual((await outbox.commit([msg(5)])).seqs, [5]);
});

void test('calls after close reject with OutboxClosedError; close is idempotent', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path());
  await Promise.all([outbox.close(), outbox.close()]);
  await assert.rejects(outbox.commit([msg(1)]), OutboxClosedError);
  await assert.rejects(outbox.readAfter(0, 1), /outbox is closed \(readAfter called after close\(\)\)/);
  await assert.rejects(outbox.settle([1]), OutboxClosedError);
  await assert.rejects(outbox.recordFlight([{ seq: 1, packetId: 1, phase: 'published' }]), OutboxClosedError);
  await assert.rejects(outbox.clearFlight(), OutboxClosedError);
  await assert.rejects(outbox.readSourceState('x'), OutboxClosedError);
  await assert.rejects(outbox.incomingQos2.has(1), OutboxClosedError);
  await assert.rejects(outbox.incomingQos2.add(1), OutboxClosedError);
});

void test('invalid messages are rejected before they reach the batch', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path());
  await assert.rejects(outbox.commit([{ topic: '', payload: Buffer.alloc(0), qos: 0, retain: false }]), TypeError);
  await assert.rejects(outbox.commit([{ topic: 'a', payload: Buffer.alloc(0), qos: 3 as 1, retain: false }]), RangeError);
  await assert.rejects(outbox.commit([{ topic: 'a'.repeat(70_000), payload: Buffer.alloc(0), qos: 0, retain: false }]), RangeError);
  await assert.rejects(outbox.commit([], { source: 's', values: { x: Number.NaN } }), RangeError);
  await assert.rejects(outbox.settle([-1]), RangeError);
  await assert.rejects(outbox.incomingQos2.add(0), RangeError);
  assert.equal(outbox.stats().messages, 0);
  assert.deepEqual((await outbox.commit([msg(1)])).seqs, [1]);
});

void test('incoming QoS 2 ids survive reopen until removed', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  await Promise.all([outbox.incomingQos2.add(10), outbox.incomingQos2.add(65535)]);
  assert.equal(await outbox.incomingQos2.has(10), true);
  assert.equal(await outbox.incomingQos2.has(11), false);
  await outbox.close();

  outbox = await h.open(path);
  assert.equal(await outbox.incomingQos2.has(10), true);
  assert.equal(await outbox.incomingQos2.has(65535), true);
  await outbox.incomingQos2.remove(10);
  await outbox.close();

  outbox = await h.open(path);
  assert.equal(await outbox.incomingQos2.has(10), false);
  assert.equal(await outbox.incomingQos2.has(65535), true);
});
