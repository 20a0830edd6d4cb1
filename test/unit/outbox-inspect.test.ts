/**
 * The store seen by `sensorgate queue`: summary, peek and purge on a closed store, the lock of
 * an open one, and that a purge never lets a seq be used twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboxOpenError } from '../../src/outbox/errors.js';
import { inspectStore } from '../../src/outbox/inspect.js';
import { outboxHarness, T, withRaw } from '../support/outbox-harness.js';

const message = (i: number, qos: 0 | 1 | 2 = 1) => ({ topic: `t/${i}`, payload: Buffer.from(`{"i":${i}}`), qos, retain: i === 2 });

void test('summary and peek: depth, bytes, oldest and newest, in-flight count; the oldest first', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  const outbox = await h.open(path);
  const before = Date.now();
  await outbox.commit([message(1), message(2), message(3, 2)]);
  await outbox.recordFlight([{ seq: 1, packetId: 7, phase: 'published' }]);
  const { bytes } = outbox.stats();
  await outbox.close();

  const store = await inspectStore(path);
  t.after(() => store.close());
  const summary = await store.summary();
  assert.equal(summary.messages, 3);
  assert.equal(summary.bytes, bytes, 'the bytes the agent counts');
  assert.equal(summary.inFlight, 1);
  assert.equal(summary.oldest?.seq, 1);
  assert.equal(summary.newest?.seq, 3);
  assert.ok((summary.oldest?.enqueuedAt ?? 0) >= before);
  const peeked = await store.peek(2);
  assert.deepEqual(
    peeked.map((m) => [m.seq, m.topic, m.qos, m.retain, m.payload?.toString(), m.flight?.packetId]),
    [
      [1, 't/1', 1, false, '{"i":1}', 7],
      [2, 't/2', 1, true, '{"i":2}', undefined],
    ],
  );
});

void test('purge: deletes what is not in flight, keeps what is, and the next seq stays above every purged one', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  await outbox.commit([message(1), message(2), message(3), message(4)]);
  await outbox.recordFlight([{ seq: 2, packetId: 3, phase: 'released' }]);
  await outbox.close();
  // The persisted high-water mark is one input; a store where it lags must not reuse seqs either.
  await withRaw(path, (db) => db.del('meta!next-seq'));

  const store = await inspectStore(path);
  assert.deepEqual(await store.purge(), { deleted: 3, keptInFlight: 1 });
  assert.equal((await store.summary()).messages, 1);
  await store.close();

  outbox = await h.open(path);
  assert.equal(outbox.stats().messages, 1);
  const { seqs } = await outbox.commit([message(5)]);
  assert.deepEqual(seqs, [5], 'no seq is used twice');
  const flights = await outbox.readFlights();
  assert.deepEqual(flights.map((m) => [m.seq, m.flight?.phase]), [[2, 'released']], 'the in-flight message finishes its handshake');
});

void test('an open agent store is locked: OUTBOX_LOCKED; a missing one is not created', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  await h.open(path);
  await assert.rejects(inspectStore(path), (err: unknown) => err instanceof OutboxOpenError && err.code === 'OUTBOX_LOCKED');
  const missing = `${await h.dir()}/nothing-here`;
  await assert.rejects(inspectStore(missing), (err: unknown) => err instanceof OutboxOpenError && err.code === 'OUTBOX_OPEN_FAILED');
  await assert.rejects(import('node:fs/promises').then((fs) => fs.stat(missing)), /ENOENT/, 'not created');
});
