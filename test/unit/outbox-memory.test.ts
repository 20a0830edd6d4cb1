import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { StoredMessage } from '../../src/mqtt/store.js';
import type { Message } from '../../src/outbox/outbox.js';
import { T, outboxHarness } from '../support/outbox-harness.js';

// A forced GC makes heap samples measure what is retained, not garbage awaiting collection.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function retained(): number {
  // The second collection finishes freeing the first one's ArrayBuffer backing stores,
  // which V8 sweeps concurrently; one gc() can still report ~30 MB of scan garbage.
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const COUNT = 200_000;
const WINDOW = 100;
/** Retaining every window read measures ~130 MB here; reading in windows stays near 1 MB. */
const BOUND = 12 * 1024 * 1024;

const message = (i: number): Message => ({ topic: 'site/dev-01/temp', payload: Buffer.from(`{"v":${i},"pad":"${'x'.repeat(40)}"}`), qos: 1, retain: false });

void test('committing, reopening and reading a 200k backlog in windows of 100 keeps memory flat', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path('outbox-memory');
  // Taken before anything is committed: whatever the commit phase, the open scan or the
  // reads leave reachable counts against the bound.
  const baseline = retained();
  const started = performance.now();
  let outbox = await h.open(path);
  const commits: Array<Promise<unknown>> = [];
  for (let i = 0; i < COUNT; i += 500) commits.push(outbox.commit(Array.from({ length: 500 }, (_, j) => message(i + j))));
  await Promise.all(commits);
  commits.length = 0;
  await outbox.close();
  const committedAt = performance.now();

  outbox = await h.open(path);
  assert.equal(outbox.stats().messages, COUNT);
  let peak = retained() - baseline;

  let after = 0;
  let read = 0;
  for (let windows = 1; ; windows++) {
    const page: StoredMessage[] = await outbox.readAfter(after, WINDOW);
    if (page.length === 0) break;
    assert.equal(page[0]?.seq, after + 1, 'windows are contiguous and in order');
    read += page.length;
    after = page[page.length - 1]?.seq ?? after;
    if (windows % 200 === 0) peak = Math.max(peak, retained() - baseline);
  }
  const readAt = performance.now();
  assert.equal(read, COUNT);
  t.diagnostic(
    `commit ${COUNT}: ${(committedAt - started).toFixed(0)} ms; reopen + read: ${(readAt - committedAt).toFixed(0)} ms; ` +
      `peak retained growth ${(peak / 1024 / 1024).toFixed(1)} MB`,
  );
  assert.ok(peak < BOUND, `retained memory grew by ${(peak / 1024 / 1024).toFixed(1)} MB while reading`);
});
