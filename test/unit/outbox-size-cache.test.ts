/**
 * The size cache lets a settle be accounted without reading the message back. It must never
 * claim a deleted message is stored: stats would drift and whenFull would drop too little.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassicLevel } from 'classic-level';
import { SizeCache } from '../../src/outbox/size-cache.js';
import { T, outboxHarness, sized } from '../support/outbox-harness.js';

void test('a read that raced a delete does not bring the deleted seq back into the cache', async () => {
  const cache = new SizeCache();
  let finishRead: () => void = () => undefined;
  const read = cache.track(
    () => new Promise<number[]>((resolve) => (finishRead = () => resolve([1, 2, 3]))),
    (seqs) => seqs.map((seq) => ({ seq, size: 10 })),
  );
  cache.forget([2]); // a batch deleted seq 2 while the read was running
  finishRead();
  await read;
  assert.equal(cache.get(1), 10);
  assert.equal(cache.get(2), undefined);
  assert.equal(cache.get(3), 10);
  cache.forget([1, 3]);
  assert.equal(cache.size, 0);
});

void test('the cache stops growing at its capacity', () => {
  const cache = new SizeCache(4);
  cache.rememberAppended([1, 2, 3, 4, 5, 6].map((seq) => ({ seq, size: seq })));
  assert.equal(cache.size, 4);
  assert.equal(cache.get(5), undefined);
  cache.rememberAppended([{ seq: 2, size: 20 }]); // an existing entry may still be updated
  assert.equal(cache.get(2), 20);
});

void test('settles of cached messages need no read and keep the counters exact, repeated settles included', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.openFresh();
  const { seqs } = await outbox.commit([sized(100), sized(200), sized(300)]);
  const window = await outbox.readAfter(0, 10);
  assert.deepEqual(window.map((m) => m.seq), seqs);

  // Calls through to the real getMany, counting them; restored after the test.
  const getMany = t.mock.method(ClassicLevel.prototype, 'getMany');
  const reads = (): number => getMany.mock.callCount();

  const [a, b, c] = seqs as [number, number, number];
  await Promise.all([outbox.settle([a]), outbox.settle([b]), outbox.settle([b])]);
  assert.equal(reads(), 0, 'sizes came from the cache');
  // A later ack for a seq already deleted (a resend) is not in the cache: read, found gone, no-op.
  await outbox.settle([a]);
  const stats = outbox.stats();
  assert.equal(stats.messages, 1);
  assert.equal(stats.bytes, (await outbox.readAfter(0, 10)).reduce((sum, m) => sum + 10 + m.topic.length + m.payload.length, 0));
  await outbox.settle([c]);
  assert.deepEqual({ messages: outbox.stats().messages, bytes: outbox.stats().bytes }, { messages: 0, bytes: 0 });
});

void test('a window read while its messages are being settled leaves the counters exact', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.openFresh();
  const { seqs } = await outbox.commit(Array.from({ length: 50 }, () => sized(64)));
  // Settle everything while reads of the same range are in flight, then settle again.
  await Promise.all([outbox.settle(seqs), outbox.readAfter(0, 50), outbox.readAfter(0, 50), outbox.settle(seqs.slice(0, 10))]);
  await outbox.settle(seqs);
  assert.deepEqual({ messages: outbox.stats().messages, bytes: outbox.stats().bytes }, { messages: 0, bytes: 0 });
  const reopened = await (async () => {
    await outbox.close();
    return h.open((outbox as unknown as { db: { location: string } }).db.location);
  })();
  assert.equal(reopened.stats().messages, 0);
});
