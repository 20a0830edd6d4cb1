import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, outboxHarness, rawKeys, sized } from '../support/outbox-harness.js';

void test('readAfter pages through the backlog in order, each message with its flight state', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path());
  await outbox.commit(Array.from({ length: 250 }, (_, i) => sized(i)));
  await outbox.recordFlight([
    { seq: 5, packetId: 7, phase: 'published' },
    { seq: 150, packetId: 9, phase: 'released' },
  ]);

  const windows: number[][] = [];
  const flights = new Map<number, unknown>();
  for (let after = 0; ; ) {
    const page = await outbox.readAfter(after, 100);
    if (page.length === 0) break;
    windows.push(page.map((m) => m.seq));
    for (const m of page) if (m.flight !== undefined) flights.set(m.seq, m.flight);
    after = page[page.length - 1]?.seq ?? after;
  }
  assert.deepEqual(windows.map((w) => w.length), [100, 100, 50]);
  assert.deepEqual(windows.flat(), Array.from({ length: 250 }, (_, i) => i + 1));
  assert.deepEqual(
    [...flights],
    [
      [5, { packetId: 7, phase: 'published' }],
      [150, { packetId: 9, phase: 'released' }],
    ],
  );
  assert.deepEqual((await outbox.readAfter(120, 3)).map((m) => m.seq), [121, 122, 123]);
  assert.equal((await outbox.readAfter(120, 3))[0]?.payload.length, 120);
});

void test('flight records survive reopen, clearFlight removes them durably, and settled seqs get none', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  await outbox.commit([sized(1), sized(2), sized(3)]);
  await outbox.recordFlight([
    { seq: 1, packetId: 100, phase: 'published' },
    { seq: 2, packetId: 101, phase: 'published' },
  ]);
  await outbox.recordFlight([{ seq: 2, packetId: 101, phase: 'released' }]);
  await outbox.settle([3]);
  await outbox.recordFlight([{ seq: 3, packetId: 102, phase: 'published' }]);
  await outbox.close();

  assert.deepEqual(await rawKeys(path, 'f!'), ['f!0000000000000001', 'f!0000000000000002'], 'no record for the settled seq');
  outbox = await h.open(path);
  assert.deepEqual(
    (await outbox.readAfter(0, 10)).map((m) => [m.seq, m.flight]),
    [
      [1, { packetId: 100, phase: 'published' }],
      [2, { packetId: 101, phase: 'released' }],
    ],
  );
  await outbox.clearFlight();
  await outbox.recordFlight([{ seq: 2, packetId: 5, phase: 'published' }]);
  await outbox.close();

  outbox = await h.open(path);
  assert.deepEqual(
    (await outbox.readAfter(0, 10)).map((m) => [m.seq, m.flight]),
    [
      [1, undefined],
      [2, { packetId: 5, phase: 'published' }],
    ],
  );
});

void test('settle deletes messages and their flight records; counters stay exact, absent seqs are no-ops', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  const sizes = [0, 5, 17, 100, 3, 64];
  const { seqs } = await outbox.commit(sizes.map((n) => sized(n)));
  const total = sizes.reduce((sum, n) => sum + 11 + n, 0);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes }, { m: 6, b: total });
  await outbox.recordFlight([{ seq: 2, packetId: 1, phase: 'published' }]);
  const oldest = (await outbox.readAfter(0, 1))[0]?.enqueuedAt;
  assert.equal(outbox.stats().oldestEnqueuedAt, oldest);

  await Promise.all([outbox.settle([1, 2]), outbox.settle([2, 999]), outbox.settle([4])]);
  const left = total - (11 + 0) - (11 + 5) - (11 + 100);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes }, { m: 3, b: left });
  await outbox.settle([1, 2, 4, 12345]);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes }, { m: 3, b: left });
  assert.deepEqual((await outbox.readAfter(0, 10)).map((m) => m.seq), [seqs[2], seqs[4], seqs[5]]);
  assert.equal(outbox.stats().oldestEnqueuedAt, (await outbox.readAfter(0, 1))[0]?.enqueuedAt);
  await outbox.close();

  assert.deepEqual(await rawKeys(path, 'f!'), []);
  outbox = await h.open(path);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes }, { m: 3, b: left }, 'the open scan agrees');
});

void test('settling 20k messages one ack at a time completes (group commit keeps it fast)', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path());
  const n = 20_000;
  for (let i = 0; i < n; i += 5000) await outbox.commit(Array.from({ length: 5000 }, () => sized(20)));
  assert.equal(outbox.stats().messages, n);
  const started = performance.now();
  // Acks arrive one by one, unawaited, as the session issues them.
  const settles: Array<Promise<void>> = [];
  for (let seq = 1; seq <= n; seq++) settles.push(outbox.settle([seq]));
  await Promise.all(settles);
  const ms = performance.now() - started;
  t.diagnostic(`settled ${n} in ${ms.toFixed(0)} ms (${Math.round(n / (ms / 1000))}/s), ${outbox.stats().batches} batches total`);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, oldest: outbox.stats().oldestEnqueuedAt }, { m: 0, b: 0, oldest: null });
  assert.deepEqual(await outbox.readAfter(0, 10), []);
});
