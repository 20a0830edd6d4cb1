/**
 * Keeping the store directory near its bound: LevelDB options scaled to the bound, the
 * drop-oldest cursor starting at the known oldest seq, and compaction of dropped ranges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/observe/logger.js';
import { DroppedRangeCompactor, KEEP_UP_MAX_WAIT_MS, LEVEL0_TRIGGER } from '../../src/outbox/compactor.js';
import { directoryBytes } from '../../src/outbox/disk-space.js';
import { encodeMessage } from '../../src/outbox/codec.js';
import { msgKey } from '../../src/outbox/keys.js';
import { levelTuning } from '../../src/outbox/leveldb.js';
import { BatchPlanner } from '../../src/outbox/plan.js';
import { T, outboxHarness, withRaw } from '../support/outbox-harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;

void test('LevelDB options: scaled to the bound, to a message bound, and to the free-space reserve', () => {
  assert.deepEqual(levelTuning({ maxBytes: 0 }), { writeBufferSize: 4 * MiB, maxFileSize: 2 * MiB, cacheSize: 2 * MiB });
  assert.deepEqual(levelTuning({ maxBytes: 1 * MiB }), { writeBufferSize: 256 * KiB, maxFileSize: 256 * KiB, cacheSize: 2 * MiB });
  assert.deepEqual(levelTuning({ maxBytes: 16 * MiB }), { writeBufferSize: 2 * MiB, maxFileSize: 256 * KiB, cacheSize: 2 * MiB });
  assert.deepEqual(levelTuning({ maxBytes: 1024 * MiB }), { writeBufferSize: 4 * MiB, maxFileSize: 2 * MiB, cacheSize: 2 * MiB });
  assert.deepEqual(levelTuning({ maxBytes: 0, maxMessages: 100_000 }), levelTuning({ maxBytes: 100_000 * 128 }));
  assert.deepEqual(levelTuning({ maxBytes: 0, minFreeSpace: 8 * MiB }), { writeBufferSize: 2 * MiB, maxFileSize: 256 * KiB, cacheSize: 2 * MiB });
  assert.deepEqual(levelTuning({ maxBytes: 0, minFreeSpace: 64 * MiB }), levelTuning({ maxBytes: 0 }));
});

void test('drop-oldest starts at the known floor instead of walking the key space from its start', T, async (t) => {
  const path = await outboxHarness(t).path();
  const value = encodeMessage({ topic: 't', payload: Buffer.alloc(10), qos: 1, retain: false }, 1);
  await withRaw(path, async (db) => {
    for (let seq = 1; seq <= 10; seq++) await db.put(msgKey(seq), value);
    const limits = { maxMessages: 10, maxBytes: 0, whenFull: 'drop-oldest' as const };
    const commit = { kind: 'commit' as const, messages: [{ value, enqueuedAt: 1 }], state: [] };
    const counters = { messages: 10, bytes: 10 * value.length, nextSeq: 11 };
    const fromStart = await new BatchPlanner(db, counters, limits).plan([commit]);
    assert.deepEqual(fromStart.droppedStored, [1]);
    // Seqs below the floor are known to be gone: the cursor does not even look at them.
    const fromFloor = await new BatchPlanner(db, counters, limits, { floor: 6 }).plan([commit]);
    assert.deepEqual(fromFloor.droppedStored, [6]);
    assert.equal(fromFloor.droppedStoredBytes, value.length);
  });
});

void test('compactor: one compaction at a time over the dropped range, once 1/8 of the store (at least minBytes) was dropped', async () => {
  const calls: Array<[string, string]> = [];
  let finish = (): void => undefined;
  const compactor = new DroppedRangeCompactor(
    (start, end) => {
      calls.push([start, end]);
      return new Promise<void>((resolve) => (finish = resolve));
    },
    { minBytes: 100, level0Files: () => 0, logger: silentLogger },
  );
  compactor.noteDropped([1, 2, 3], 60, 400);
  assert.equal(calls.length, 0, '60 < max(100, 400/8)');
  compactor.noteDropped([4, 5], 60, 400);
  assert.deepEqual(calls, [[msgKey(1), msgKey(5)]]);
  compactor.noteDropped([6, 7], 500, 400);
  assert.equal(calls.length, 1, 'never two at once');
  finish();
  await compactor.idle();
  compactor.noteDropped([8], 1, 400);
  assert.deepEqual(calls[1], [msgKey(6), msgKey(8)], 'the next covers everything dropped meanwhile');
  finish();
  await compactor.idle();
});

void test('compactor.keepUp: a batch waits while level 0 is at the compaction trigger (bounded) and for a compaction a whole step behind', async () => {
  let level0 = LEVEL0_TRIGGER;
  let finish = (): void => undefined;
  const compactor = new DroppedRangeCompactor(() => new Promise<void>((resolve) => (finish = resolve)), {
    minBytes: 100,
    level0Files: () => level0,
    logger: silentLogger,
  });
  let started = Date.now();
  setTimeout(() => (level0 = LEVEL0_TRIGGER - 1), 100);
  await compactor.keepUp();
  assert.ok(Date.now() - started >= 90, 'waited for level 0 to shrink');
  level0 = 99;
  started = Date.now();
  await compactor.keepUp();
  assert.ok(Date.now() - started < KEEP_UP_MAX_WAIT_MS + 500, 'but not for ever: LevelDB stalls writes itself beyond');

  level0 = 0;
  compactor.noteDropped([1], 100, 0);
  compactor.noteDropped([2], 100, 0);
  let waited = false;
  const wait = compactor.keepUp().then(() => (waited = true));
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(waited, false, 'a whole threshold dropped while one compaction runs: wait for it');
  finish();
  await wait;
  finish();
  await compactor.idle();
});

void test('a long outage with drop-oldest: the directory stays within 2 x maxBytes + 2 MB (incompressible payloads)', { timeout: 120_000 }, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  const maxBytes = 2 * MiB;
  const outbox = await h.open(path, { maxBytes, whenFull: 'drop-oldest' });
  let max = 0;
  let written = 0;
  for (let batch = 0; written < 20 * maxBytes; batch++) {
    const messages = Array.from({ length: 64 }, () => ({ topic: 'sensorgate/gw/sim', payload: randomBytes(100), qos: 1 as const, retain: false }));
    await outbox.commit(messages);
    written += 64 * 127;
    if (batch % 20 === 0) max = Math.max(max, await directoryBytes(path));
  }
  max = Math.max(max, await directoryBytes(path));
  t.diagnostic(`max directory ${(max / MiB).toFixed(2)} MiB for maxBytes ${maxBytes / MiB} MiB; ${outbox.compactions} compactions`);
  assert.ok(outbox.stats().dropped > 0);
  assert.ok(outbox.compactions > 0, 'dropped ranges were compacted');
  assert.ok(max <= 2 * maxBytes + 2 * MiB, `directory reached ${max} bytes`);
});
