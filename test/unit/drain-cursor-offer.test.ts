/**
 * A caught-up cursor takes freshly committed messages from the commit itself instead of
 * reading them back from disk; it must never take them twice or skip one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDrainCursor } from '../../src/mqtt/drain-cursor.js';
import type { DrainCursor } from '../../src/mqtt/drain-cursor.js';
import type { AppendedMessages, DrainOrder, StoredMessage } from '../../src/mqtt/store.js';
import type { LevelOutbox } from '../../src/outbox/level-outbox.js';
import { T, outboxHarness, sized } from '../support/outbox-harness.js';

/** Drains the cursor completely (refilling from disk as needed) and returns the seqs in order. */
async function drainAll(cursor: DrainCursor): Promise<number[]> {
  const out: number[] = [];
  for (;;) {
    const next = cursor.peek();
    if (next !== undefined) {
      out.push(next.seq);
      cursor.shift();
      continue;
    }
    if (!(await cursor.refill())) return out;
  }
}

function counting(outbox: LevelOutbox): { reads: () => number } {
  let reads = 0;
  const readAfter = outbox.readAfter.bind(outbox);
  outbox.readAfter = (after: number, limit: number): Promise<StoredMessage[]> => {
    reads++;
    return readAfter(after, limit);
  };
  return { reads: () => reads };
}

for (const order of ['oldest-first', 'newest-first'] as const satisfies readonly DrainOrder[]) {
  void test(`${order}: a caught-up cursor takes appended messages without reading them back`, T, async (t) => {
    const outbox = await outboxHarness(t).openFresh();
    const cursor = createDrainCursor(order, { store: outbox, readAhead: 64, admissible: () => true });
    outbox.onAppend((appended) => cursor.offer(appended));
    await cursor.begin();
    const { reads } = counting(outbox);
    const taken: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { seqs } = await outbox.commit([sized(10)]);
      taken.push(...(await drainAll(cursor)));
      assert.deepEqual(taken.slice(-1), seqs);
    }
    assert.equal(reads(), 0, 'no disk read while caught up');
  });

  void test(`${order}: offers that arrive while a read runs, or when behind, are read from disk instead: nothing twice, nothing skipped`, T, async (t) => {
    const outbox = await outboxHarness(t).openFresh();
    const cursor = createDrainCursor(order, { store: outbox, readAhead: 8, admissible: () => true });
    const offers: AppendedMessages[] = [];
    outbox.onAppend((appended) => {
      offers.push(appended);
      cursor.offer(appended);
    });
    await cursor.begin();
    // Commits land while the cursor is refilling and while it is behind (more than one window).
    const commits = Array.from({ length: 30 }, () => outbox.commit([sized(10), sized(10)]));
    const taken: number[] = [];
    while (taken.length < 60) {
      taken.push(...(await drainAll(cursor)));
      await new Promise((resolve) => setImmediate(resolve));
      if (taken.length < 60) await Promise.race([Promise.all(commits), new Promise((r) => setTimeout(r, 5))]);
    }
    await Promise.all(commits);
    taken.push(...(await drainAll(cursor)));
    assert.equal(new Set(taken).size, taken.length, 'no message taken twice');
    assert.deepEqual([...taken].sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i + 1), 'every message taken');
    if (order === 'oldest-first') assert.deepEqual(taken, [...taken].sort((a, b) => a - b), 'in seq order');
    assert.ok(offers.length > 0);
  });
}
