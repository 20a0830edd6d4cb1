import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Level } from 'level';
import type { LogFields, Logger } from '../../src/observe/logger.js';
import { silentLogger } from '../../src/observe/logger.js';
import { openOutbox } from '../../src/outbox/level-outbox.js';
import type { LevelOutbox } from '../../src/outbox/level-outbox.js';
import type { Message, OutboxOptions } from '../../src/outbox/outbox.js';
import { makeTempDir, removeTempDir } from '../support/temp.js';

const T = { timeout: 30_000 };

function harness(t: TestContext) {
  const opened: LevelOutbox[] = [];
  const dirs: string[] = [];
  t.after(async () => {
    await Promise.allSettled(opened.map((o) => o.close()));
    for (const dir of dirs) await removeTempDir(dir);
  });
  return {
    async path(): Promise<string> {
      const dir = await makeTempDir('outbox');
      dirs.push(dir);
      return join(dir, 'store');
    },
    async open(path: string, options: Partial<OutboxOptions>, logger: Logger = silentLogger): Promise<LevelOutbox> {
      const outbox = await openOutbox({ path, whenFull: 'drop-oldest', sync: false, ...options }, logger);
      opened.push(outbox);
      return outbox;
    },
  };
}

function capture(): { logger: Logger; warnings: Array<{ msg: string; fields?: LogFields }> } {
  const warnings: Array<{ msg: string; fields?: LogFields }> = [];
  const logger: Logger = { ...silentLogger, warn: (msg, fields) => warnings.push({ msg, fields }), child: () => logger };
  return { logger, warnings };
}

/** 100 encoded bytes: 10 header + 1 topic + 89 payload. */
const hundred = (): Message => ({ topic: 'x', payload: Buffer.alloc(89), qos: 1, retain: false });

async function seqsStored(outbox: LevelOutbox): Promise<number[]> {
  return (await outbox.readAfter(0, 1000)).map((m) => m.seq);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

void test('drop-oldest by count deletes the oldest stored messages and their flight records', T, async (t) => {
  const h = harness(t);
  const path = await h.path();
  const { logger, warnings } = capture();
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
  const raw = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  assert.deepEqual(await raw.keys({ gt: 'f!', lt: 'f"' }).all(), [], "a dropped message's flight record goes with it");
  await raw.close();
});

void test('drop-oldest with one commit larger than the limit keeps its newest messages', T, async (t) => {
  const h = harness(t);
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
  const h = harness(t);
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
  const h = harness(t);
  const outbox = await h.open(await h.path(), { maxBytes: 1000, whenFull: 'drop-oldest' });
  for (let i = 0; i < 15; i++) await outbox.commit([hundred()]);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, d: outbox.stats().dropped }, { m: 10, b: 1000, d: 5 });
  // A 300-byte message pushes out three 100-byte ones.
  const big: Message = { topic: 'x', payload: Buffer.alloc(289), qos: 0, retain: false };
  assert.deepEqual(await outbox.commit([big]), { seqs: [16], rejected: 0 });
  assert.deepEqual(await seqsStored(outbox), [...range(9, 15), 16]);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, d: outbox.stats().dropped }, { m: 8, b: 1000, d: 8 });
});

void test('drop-newest by bytes refuses what does not fit', T, async (t) => {
  const h = harness(t);
  const outbox = await h.open(await h.path(), { maxBytes: 1050, whenFull: 'drop-newest' });
  for (let i = 0; i < 12; i++) await outbox.commit([hundred()]);
  assert.deepEqual({ m: outbox.stats().messages, b: outbox.stats().bytes, d: outbox.stats().dropped }, { m: 10, b: 1000, d: 2 });
  const fifty: Message = { topic: 'x', payload: Buffer.alloc(39), qos: 0, retain: false };
  assert.deepEqual((await outbox.commit([fifty])).seqs, [11]);
  assert.equal(outbox.stats().bytes, 1050);
});

void test('a message larger than maxBytes is refused and counted under either policy', T, async (t) => {
  const h = harness(t);
  for (const whenFull of ['drop-oldest', 'drop-newest'] as const) {
    const outbox = await h.open(await h.path(), { maxBytes: 150, whenFull });
    await outbox.commit([hundred()]);
    const huge: Message = { topic: 'x', payload: Buffer.alloc(200), qos: 1, retain: false };
    assert.deepEqual(await outbox.commit([huge]), { seqs: [], rejected: 1 }, whenFull);
    assert.deepEqual({ m: outbox.stats().messages, d: outbox.stats().dropped }, { m: 1, d: 1 }, whenFull);
    assert.deepEqual(await seqsStored(outbox), [1], whenFull);
  }
});
