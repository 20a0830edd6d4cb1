import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/observe/logger.js';
import type { BatchOp } from '../../src/outbox/level-outbox.js';
import type { Message } from '../../src/outbox/outbox.js';
import { T, outboxHarness } from '../support/outbox-harness.js';

const msg = (i: number): Message => ({ topic: 'dev/t', payload: Buffer.from(String(i)), qos: 1, retain: false });

/** A gate the test opens by hand, to hold a batch write in progress. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

void test('1000 concurrent commits are written in a handful of batches', T, async (t) => {
  const outbox = await outboxHarness(t).openFresh({ sync: true });
  const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => outbox.commit([msg(i)])));
  const seqs = results.flatMap((r) => r.seqs);
  assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => i + 1), 'call order is seq order');
  const { batches, messages } = outbox.stats();
  assert.equal(messages, 1000);
  assert.ok(batches <= 5, `expected group commit, got ${batches} batches for 1000 commits`);
});

void test('writes arriving during a batch write ride together in the next batch', T, async (t) => {
  const held = gate();
  const written: number[] = [];
  let calls = 0;
  const outbox = await outboxHarness(t).openFresh(
    {},
    silentLogger,
    {
      beforeWrite: async (ops: readonly BatchOp[]) => {
        written.push(ops.length);
        if (calls++ === 0) await held.wait;
      },
    },
  );
  const first = outbox.commit([msg(0)]);
  // Let the first batch reach its write before the rest arrive.
  while (written.length === 0) await new Promise((resolve) => setImmediate(resolve));
  const rest = [
    ...Array.from({ length: 50 }, (_, i) => outbox.commit([msg(i + 1)])),
    outbox.recordFlight([{ seq: 1, packetId: 1, phase: 'published' }]),
    outbox.incomingQos2.add(5),
  ];
  let restDone = false;
  void Promise.all(rest).then(() => (restDone = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(restDone, false, 'nothing resolves before its batch is written');
  held.open();
  await first;
  await Promise.all(rest);
  assert.equal(outbox.stats().batches, 2);
  assert.equal(written.length, 2);
  // 50 message puts + 1 flight put + 1 incoming put + the seq high-water mark.
  assert.equal(written[1], 53);
});

void test('a failed batch rejects only its callers and the outbox stays usable', T, async (t) => {
  let fail = true;
  const outbox = await outboxHarness(t).openFresh({}, silentLogger, {
    beforeWrite: () => {
      if (fail) throw new Error('disk full (injected)');
    },
  });
  const a = outbox.commit([msg(1)]);
  const b = outbox.settle([1]);
  await assert.rejects(a, /disk full/);
  await assert.rejects(b, /disk full/);
  assert.deepEqual({ ...outbox.stats(), oldestEnqueuedAt: null }, { messages: 0, bytes: 0, dropped: 0, oldestEnqueuedAt: null, corrupt: 0, batches: 0, failedCommits: 0, writable: true });
  assert.equal(outbox.lastSeq(), 0);

  fail = false;
  const ok = await outbox.commit([msg(2)]);
  assert.deepEqual(ok.seqs, [2], 'the failed batch burnt seq 1; it is not reused');
  assert.equal(outbox.stats().messages, 1);
  assert.deepEqual((await outbox.readAfter(0, 10)).map((m) => m.seq), [2]);
});

void test('onAppend fires once per batch that added messages, before commit callers resume', T, async (t) => {
  const outbox = await outboxHarness(t).openFresh();
  const seen: number[] = [];
  const unsubscribe = outbox.onAppend(() => seen.push(outbox.lastSeq()));
  await Promise.all(Array.from({ length: 100 }, (_, i) => outbox.commit([msg(i)])));
  assert.deepEqual(seen, [100]);

  let order = '';
  const off = outbox.onAppend(() => (order += 'append;'));
  await outbox.commit([msg(101)]).then(() => (order += 'resolved;'));
  assert.equal(order, 'append;resolved;');
  off();

  await outbox.settle([1]);
  await outbox.commit([], { source: 's', values: { n: 1 } });
  assert.deepEqual(seen, [100, 101], 'batches without new messages do not notify');
  unsubscribe();
  await outbox.commit([msg(102)]);
  assert.deepEqual(seen, [100, 101]);
});

void test('a throwing listener is logged, not propagated to committers', T, async (t) => {
  const outbox = await outboxHarness(t).openFresh();
  outbox.onAppend(() => {
    throw new Error('listener bug');
  });
  assert.deepEqual((await outbox.commit([msg(1)])).seqs, [1]);
});
