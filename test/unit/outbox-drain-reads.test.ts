/** The reads behind `store.drain: newest-first`: descending windows and the in-flight set, straight from disk. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFlight } from '../../src/outbox/codec.js';
import { OutboxClosedError } from '../../src/outbox/level-outbox.js';
import { T, captureWarnings, outboxHarness, withRaw, sized } from '../support/outbox-harness.js';

void test('readBefore pages down the backlog newest first, each message with its flight state', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path());
  await outbox.commit(Array.from({ length: 250 }, (_, i) => sized(i)));
  await outbox.recordFlight([
    { seq: 5, packetId: 7, phase: 'published' },
    { seq: 150, packetId: 9, phase: 'released' },
    { seq: 250, packetId: 11, phase: 'published' },
  ]);

  const windows: number[][] = [];
  const flights = new Map<number, unknown>();
  for (let before = outbox.lastSeq() + 1; ; ) {
    const page = await outbox.readBefore(before, 100);
    if (page.length === 0) break;
    windows.push(page.map((m) => m.seq));
    for (const m of page) if (m.flight !== undefined) flights.set(m.seq, m.flight);
    before = page[page.length - 1]?.seq ?? before;
  }
  assert.deepEqual(windows.map((w) => w.length), [100, 100, 50]);
  assert.deepEqual(windows.flat(), Array.from({ length: 250 }, (_, i) => 250 - i), 'strictly descending, every seq once');
  assert.deepEqual(
    [...flights].sort(([a], [b]) => a - b),
    [
      [5, { packetId: 7, phase: 'published' }],
      [150, { packetId: 9, phase: 'released' }],
      [250, { packetId: 11, phase: 'published' }],
    ],
  );
  assert.deepEqual((await outbox.readBefore(120, 3)).map((m) => m.seq), [119, 118, 117], 'strictly before');
  assert.equal((await outbox.readBefore(120, 3))[0]?.payload.length, 118);
  assert.deepEqual(await outbox.readBefore(1, 10), []);
  // Past the end of the key space: the whole backlog from the top.
  assert.deepEqual((await outbox.readBefore(Number.MAX_SAFE_INTEGER, 2)).map((m) => m.seq), [250, 249]);

  // Settled messages are gone from both directions.
  await outbox.settle([249, 248, 150]);
  assert.deepEqual((await outbox.readBefore(251, 3)).map((m) => m.seq), [250, 247, 246]);
  assert.deepEqual((await outbox.readBefore(152, 2)).map((m) => m.seq), [151, 149]);
});

void test('readBefore validates its arguments and refuses after close', T, async (t) => {
  const h = outboxHarness(t);
  const outbox = await h.open(await h.path());
  await assert.rejects(outbox.readBefore(-1, 1), RangeError);
  await assert.rejects(outbox.readBefore(1.5, 1), RangeError);
  await assert.rejects(outbox.readBefore(10, 0), RangeError);
  await outbox.close();
  await assert.rejects(outbox.readBefore(10, 1), OutboxClosedError);
  await assert.rejects(outbox.readFlights(), OutboxClosedError);
});

void test('readFlights returns exactly the messages with send state, oldest first, across reopen', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  await outbox.commit(Array.from({ length: 5000 }, (_, i) => sized(i % 50)));
  assert.deepEqual(await outbox.readFlights(), [], 'nothing sent yet');
  // Scattered the way newest-first leaves them: some live, some from the top of the backlog, some old.
  await outbox.recordFlight([
    { seq: 4990, packetId: 1, phase: 'published' },
    { seq: 3, packetId: 2, phase: 'released' },
    { seq: 2500, packetId: 3, phase: 'published' },
    { seq: 4000, packetId: 4, phase: 'published' },
  ]);
  await outbox.settle([4000]);
  const expected = [
    // Seq s carries a payload of (s - 1) % 50 bytes.
    [3, { packetId: 2, phase: 'released' }, 2],
    [2500, { packetId: 3, phase: 'published' }, 49],
    [4990, { packetId: 1, phase: 'published' }, 39],
  ];
  const view = (ms: Awaited<ReturnType<typeof outbox.readFlights>>): unknown[] => ms.map((m) => [m.seq, m.flight, m.payload.length]);
  assert.deepEqual(view(await outbox.readFlights()), expected);
  await outbox.close();

  outbox = await h.open(path);
  assert.deepEqual(view(await outbox.readFlights()), expected, 'read from disk after reopen');
  await outbox.clearFlight();
  assert.deepEqual(await outbox.readFlights(), []);
});

void test('readFlights skips stale and unreadable records without throwing', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  let outbox = await h.open(path);
  await outbox.commit([sized(1), sized(2), sized(3)]);
  await outbox.recordFlight([{ seq: 2, packetId: 20, phase: 'published' }]);
  await outbox.close();
  await withRaw(path, async (db) => {
    await db.put('f!0000000000000009', encodeFlight({ packetId: 9, phase: 'published' })); // its message is gone
    await db.put('f!0000000000000003', Buffer.from([7, 7])); // undecodable
  });
  const { logger, warnings } = captureWarnings();
  outbox = await h.open(path, {}, logger);
  assert.deepEqual((await outbox.readFlights()).map((m) => [m.seq, m.flight]), [[2, { packetId: 20, phase: 'published' }]]);
  assert.ok(warnings.some((w) => w.msg.includes('corrupt store value')), 'the unreadable record is reported');
  // The message behind the unreadable record is still stored and served as never sent.
  assert.deepEqual((await outbox.readBefore(4, 10)).map((m) => [m.seq, m.flight]), [
    [3, undefined],
    [2, { packetId: 20, phase: 'published' }],
    [1, undefined],
  ]);
});
