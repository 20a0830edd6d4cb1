import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { LevelOutbox } from '../../src/outbox/level-outbox.js';
import type { Message, OutboxOptions } from '../../src/outbox/outbox.js';
import { T, captureWarnings, outboxHarness, rawKeys, sized } from '../support/outbox-harness.js';

/** 100 encoded bytes: 10 header + 1 topic + 89 payload. */
const hundred = (): Message => sized(89, { fill: 0 });

async function seqsStored(outbox: LevelOutbox): Promise<number[]> {
  return (await outbox.readAfter(0, 1000)).map((m) => m.seq);
}

/** A fresh outbox with `n` hundred-byte messages committed one at a time. */
async function filled(t: TestContext, options: Partial<OutboxOptions>, n: number): Promise<LevelOutbox> {
  const outbox = await outboxHarness(t).openFresh(options);
  for (let i = 0; i < n; i++) await outbox.commit([hundred()]);
  return outbox;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

void test('drop-oldest by count deletes the oldest stored messages and their flight records', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  const { logger, warnings } = captureWarnings();
  const outbox = await h.open(path, { maxMessages: 10, whenFull: 'drop-oldest' }, logger);
  const dropped: number[] = [];
  outbox.onDropped((seqs) => dropped.push(...seqs));
  await outbox.commit(Array.from({ length: 10 }, hundred));
  await outbox.recordFlight([{ seq: 2, packetId: 2, phase: 'published' }]);
  for (let i = 0; i < 5; i++) assert.deepEqual(await outbox.commit([hundred()]), { seqs: [11 + i], rejected: 0 });

  assert.deepEqual(await seqsStored(outbox), range(6, 15));
  assert.deepEqual(dropped, range(1, 5));
  const stats = outbox.stats();
  assert.deepEqual({ m: stats.messages, b: stats.bytes, d: stats.dropped }, { m: 10, b: 1000, d: 5 });
  assert.equal(stats.oldestEnqueuedAt, (await outbox.readAfter(0, 1))[0]?.enqueuedAt);
  assert.equal(warnings.filter((w) => w.msg.startsWith('store full')).length, 1, 'drop warnings are rate limited');
  assert.equal(warnings[0]?.fields?.dropped, 1);

  await outbox.close();
  assert.deepEqual(await rawKeys(path, 'f!'), [], "a dropped message's flight record goes with it");
});

void test('drop-oldest with one commit larger than the limit keeps its newest messages', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path(), { maxMessages: 10, whenFull: 'drop-oldest' });
  const dropped: number[] = [];
  outbox.onDropped((seqs) => dropped.push(...seqs));
  await outbox.commit(Array.from({ length: 4 }, hundred));
  const result = await outbox.commit(Array.from({ length: 25 }, hundred));
  assert.deepEqual(result, { seqs: range(20, 29), rejected: 15 });
  assert.deepEqual(await seqsStored(outbox), range(20, 29));
  assert.deepEqual(dropped, range(1, 4), 'only stored messages are reported to the session');
  assert.equal(outbox.stats().dropped, 4 + 15);
  assert.equal(outbox.stats().messages, 10);
  assert.equal(outbox.lastSeq(), 29);
});

void test('drop-newest by count refuses new messages but still writes the source state', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path, { maxMessages: 10, whenFull: 'drop-newest' });
  await outbox.commit(Array.from({ length: 8 }, hundred));
  assert.deepEqual(await outbox.commit([hundred(), hundred(), hundred()], { source: 's', values: { seq: 1 } }), { seqs: [], rejected: 3 });
  assert.deepEqual(await outbox.commit([hundred(), hundred()], { source: 's', values: { seq: 2 } }), { seqs: [9, 10], rejected: 0 });
  assert.deepEqual(await outbox.commit([hundred()], { source: 's', values: { seq: 3 } }), { seqs: [], rejected: 1 });
  assert.deepEqual(await seqsStored(outbox), range(1, 10));
  assert.deepEqual({ m: outbox.stats().messages, d: outbox.stats().dropped }, { m: 10, d: 4 });
  await outbox.close();

  outbox = await h.open(path, { maxMessages: 10, whenFull: 'drop-newest' });
  assert.deepEqual(await outbox.readSourceState('s'), { seq: 3 });
  await outbox.settle([1]);
  assert.deepEqual((await outbox.commit([hundred()])).seqs, [11]);
});

void test('drop-oldest by bytes keeps the byte total at or under maxBytes', T, async (t) => {
  const outbox = await filled(t, { maxBytes: 1000, whenFull: 'drop-oldest' }, 15);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, d: outbox.stats().dropped }, { m: 10, b: 1000, d: 5 });
  // A 300-byte message pushes out three 100-byte ones.
  const big = sized(289, { qos: 0, fill: 0 });
  assert.deepEqual(await outbox.commit([big]), { seqs: [16], rejected: 0 });
  assert.deepEqual(await seqsStored(outbox), [...range(9, 15), 16]);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, d: outbox.stats().dropped }, { m: 8, b: 1000, d: 8 });
});

void test('drop-newest by bytes refuses what does not fit', T, async (t) => {
  const outbox = await filled(t, { maxBytes: 1050, whenFull: 'drop-newest' }, 12);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, d: outbox.stats().dropped }, { m: 10, b: 1000, d: 2 });
  const fifty = sized(39, { qos: 0, fill: 0 });
  assert.deepEqual((await outbox.commit([fifty])).seqs, [11]);
  assert.equal(outbox.stats().bytes, 1050);
});

void test('a message larger than maxBytes is refused and counted under either policy', T, async (t) => {
  const h = outboxHarness(t);
  for (const whenFull of ['drop-oldest', 'drop-newest'] as const) {
    const outbox = await h.open(await h.path(), { maxBytes: 150, whenFull });
    await outbox.commit([hundred()]);
    const huge = sized(200, { fill: 0 });
    assert.deepEqual(await outbox.commit([huge]), { seqs: [], rejected: 1 }, whenFull);
    assert.deepEqual({ m: outbox.stats().messages, d: outbox.stats().dropped }, { m: 1, d: 1 }, whenFull);
    assert.deepEqual(await seqsStored(outbox), [1], whenFull);
  }
});
