import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/observe/logger.js';
import { CorruptValueError, decodeFlight, decodeMessage, encodeFlight, encodeMessage } from '../../src/outbox/codec.js';
import type { Message } from '../../src/outbox/outbox.js';
import { T, captureWarnings, outboxHarness, withRaw } from '../support/outbox-harness.js';

const msg = (i: number): Message => ({ topic: `t/${i}`, payload: Buffer.from([i]), qos: 1, retain: false });

void test('codec round-trips and rejects damaged values with CorruptValueError only', T, () => {
  const message: Message = { topic: 'sensors/ü/temp', payload: Buffer.from([0, 1, 255]), qos: 2, retain: true };
  const encoded = encodeMessage(message, 1_700_000_000_123);
  assert.deepEqual({ ...decodeMessage(encoded), payload: [...decodeMessage(encoded).payload] }, { ...message, payload: [0, 1, 255], enqueuedAt: 1_700_000_000_123 });
  assert.deepEqual(decodeFlight(encodeFlight({ packetId: 65535, phase: 'released' })), { packetId: 65535, phase: 'released' });

  const damaged: Array<[string, Buffer]> = [
    ['truncated header', encoded.subarray(0, 5)],
    ['unknown version', Buffer.concat([Buffer.from([9]), encoded.subarray(1)])],
    ['qos 3', Buffer.concat([encoded.subarray(0, 1), Buffer.from([3]), encoded.subarray(2)])],
    ['topic past end', encoded.subarray(0, 14)],
    ['invalid utf-8', Buffer.concat([encoded.subarray(0, 8), Buffer.from([0, 2, 0xc3, 0x28])])],
  ];
  for (const [what, value] of damaged) assert.throws(() => decodeMessage(value), CorruptValueError, what);
  for (let i = 0; i < 5000; i++) {
    const value = randomBytes(i % 40);
    try {
      decodeMessage(value);
      decodeFlight(value);
    } catch (err) {
      assert.ok(err instanceof CorruptValueError, `random value ${value.toString('hex')} threw ${String(err)}`);
    }
  }
});

void test('a corrupt message on disk is moved to bad!<seq>, counted and logged; the rest is served', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  await outbox.commit([msg(1), msg(2), msg(3), msg(4)]);
  await outbox.commit([], { source: 'sim', values: { n: 1, ok: 'yes' } });
  await outbox.recordFlight([{ seq: 3, packetId: 3, phase: 'published' }]);
  await outbox.close();

  const garbage = Buffer.from('not a message');
  await withRaw(path, async (db) => {
    await db.put('m!0000000000000002', garbage);
    await db.put('m!nonsense', Buffer.from([1]));
    await db.put('f!0000000000000003', Buffer.from([7, 7]));
    await db.put('s!sim!n', Buffer.from('{oops'));
  });

  const { logger, warnings } = captureWarnings();
  outbox = await h.open(path, {}, logger);
  const stats = outbox.stats();
  assert.deepEqual({ m: stats.messages, c: stats.corrupt }, { m: 3, c: 2 });
  const read = await outbox.readAfter(0, 10);
  assert.deepEqual(read.map((m) => m.seq), [1, 3, 4]);
  assert.equal(read[1]?.flight, undefined, 'an unreadable flight record means "never sent", not a crash');
  assert.deepEqual(await outbox.readSourceState('sim'), { ok: 'yes' });
  assert.ok(warnings.some((w) => w.fields?.key === 'm!0000000000000002'), JSON.stringify(warnings));
  assert.deepEqual((await outbox.commit([msg(5)])).seqs, [5], 'a quarantined seq is not reused');
  await outbox.close();

  await withRaw(path, async (db) => {
    assert.deepEqual(await db.get('bad!0000000000000002'), garbage, 'kept for inspection, not deleted');
    assert.deepEqual(await db.keys({ gt: 'bad!', lt: 'bad"' }).all(), ['bad!0000000000000002', 'bad!nonsense']);
    assert.equal(await db.get('m!0000000000000002'), undefined);
  });
  outbox = await h.open(path);
  assert.deepEqual({ m: outbox.stats().messages, c: outbox.stats().corrupt }, { m: 4, c: 0 }, 'quarantine happens once');
});

void test('a message that turns unreadable while running is skipped by readAfter and quarantined', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  // Simulates a value damaged on its way to disk: same length, so the counters stay exact.
  const outbox = await h.open(path, {}, silentLogger, {
    beforeWrite: (ops) => {
      for (const op of ops) if (op.type === 'put' && op.key === 'm!0000000000000002') op.value = Buffer.alloc(op.value.length, 0xff);
    },
  });
  await outbox.commit([msg(1), msg(2), msg(3)]);
  assert.deepEqual((await outbox.readAfter(0, 2)).map((m) => m.seq), [1, 3], 'the window still fills up past the bad entry');
  await outbox.commit([]); // queued behind the quarantine write
  assert.deepEqual({ m: outbox.stats().messages, c: outbox.stats().corrupt }, { m: 2, c: 1 });
  assert.deepEqual((await outbox.readAfter(0, 10)).map((m) => m.seq), [1, 3]);
  const { bytes } = outbox.stats();
  await outbox.close();

  const reopened = await h.open(path);
  assert.deepEqual({ m: reopened.stats().messages, b: reopened.stats().bytes, c: reopened.stats().corrupt }, { m: 2, b: bytes, c: 0 });
});
