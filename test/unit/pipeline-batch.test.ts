/**
 * publish.batch: the array packing, the batcher's closing rules on a fake clock, state riding
 * with its batch (invariant 1 at batch granularity), flush on close, and commit failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger, LogFields } from '../../src/observe/logger.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { CommitResult, Message, SourceState } from '../../src/outbox/outbox.js';
import { batchKey, jsonArrayBytes, packJsonArray } from '../../src/pipeline/batch.js';
import type { BatchLimits } from '../../src/pipeline/batch.js';
import { Batcher } from '../../src/pipeline/batcher.js';
import type { Timers } from '../../src/pipeline/batcher.js';
import { createPublisher } from '../../src/pipeline/publisher.js';
import type { Reading } from '../../src/pipeline/reading.js';
import { SimulatedSource } from '../../src/sources/simulated.js';

// ---------------------------------------------------------------------------------------------
// Fakes

/** A clock that moves only when told to. */
class FakeTimers implements Timers {
  now = 0;
  private entries: Array<{ at: number; fn: () => void }> = [];

  schedule(fn: () => void, ms: number): () => void {
    const entry = { at: this.now + ms, fn };
    this.entries.push(entry);
    return () => {
      this.entries = this.entries.filter((e) => e !== entry);
    };
  }

  get pending(): number {
    return this.entries.length;
  }

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.entries.filter((e) => e.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.entries = this.entries.filter((e) => e !== due);
      this.now = due.at;
      due.fn();
    }
    this.now = until;
  }
}

interface CommitCall {
  source: string;
  messages: readonly Message[];
  state: SourceState | undefined;
}

/** Records commits; `failNext` makes the next one reject; `hold` keeps them pending until released. */
class FakeStore {
  readonly calls: CommitCall[] = [];
  failNext: Error | null = null;
  hold = false;
  private held: Array<() => void> = [];

  readonly commit = async (source: string, messages: readonly Message[], state: SourceState | undefined): Promise<void> => {
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    const failure = this.failNext;
    this.failNext = null;
    if (failure !== null) throw failure;
    this.calls.push({ source, messages, state });
  };

  release(): void {
    const held = this.held;
    this.held = [];
    for (const resolve of held) resolve();
  }

  /** Every committed item (parsed array elements) of `source`, in commit order. */
  itemsOf(source: string): unknown[] {
    return this.calls.filter((c) => c.source === source).flatMap((c) => c.messages.flatMap((m) => JSON.parse(m.payload.toString()) as unknown[]));
  }
}

interface LogEntry {
  level: string;
  msg: string;
  fields?: LogFields;
}

function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const logger: Logger = {
    debug: (msg, fields) => entries.push({ level: 'debug', msg, ...(fields && { fields }) }),
    info: (msg, fields) => entries.push({ level: 'info', msg, ...(fields && { fields }) }),
    warn: (msg, fields) => entries.push({ level: 'warn', msg, ...(fields && { fields }) }),
    error: (msg, fields) => entries.push({ level: 'error', msg, ...(fields && { fields }) }),
    child: () => logger,
  };
  return { logger, entries };
}

/** A JSON reading message whose payload is exactly `bytes` long. */
function message(n: number, bytes = 20, topic = 't/a'): Message {
  const head = `{"n":${n},"p":"`;
  const payload = head + 'x'.repeat(bytes - head.length - 2) + '"}';
  assert.equal(payload.length, bytes);
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false };
}

const LIMITS: BatchLimits = { maxReadings: 3, maxDelayMs: 1_000, maxBytes: 16_384 };

function setup(limits: Partial<BatchLimits> = {}) {
  const timers = new FakeTimers();
  const store = new FakeStore();
  const log = recordingLogger();
  const batcher = new Batcher({ limits: { ...LIMITS, ...limits }, commit: store.commit, logger: log.logger, timers });
  return { timers, store, batcher, log };
}

const ns = (call: CommitCall | undefined): number[][] =>
  (call?.messages ?? []).map((m) => (JSON.parse(m.payload.toString()) as Array<{ n: number }>).map((item) => item.n));

/** Lets queued promise callbacks (the commit chain) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------
// Pure parts

void test('packJsonArray makes a JSON array of the items, and jsonArrayBytes is its exact length', () => {
  const items = [Buffer.from('{"ts":1,"seq":1}'), Buffer.from('{"ts":2,"seq":2,"s":"é"}'), Buffer.from('{}')];
  const packed = packJsonArray(items);
  assert.deepEqual(JSON.parse(packed.toString()), [{ ts: 1, seq: 1 }, { ts: 2, seq: 2, s: 'é' }, {}]);
  assert.equal(packed.length, jsonArrayBytes(items.reduce((n, b) => n + b.length, 0), items.length));
  assert.equal(packJsonArray([items[0] as Buffer]).toString(), '[{"ts":1,"seq":1}]');
  assert.equal(packJsonArray([]).toString(), '[]');
});

void test('batchKey separates topic, QoS and retain', () => {
  const base = { topic: 'a/b', qos: 1 as const, retain: false };
  const keys = new Set([batchKey(base), batchKey({ ...base, topic: 'a/c' }), batchKey({ ...base, qos: 2 }), batchKey({ ...base, retain: true })]);
  assert.equal(keys.size, 4);
  assert.equal(batchKey(base), batchKey({ ...base }));
});

// ---------------------------------------------------------------------------------------------
// Closing rules

void test('a batch closes at maxReadings: one message, a JSON array, committed with the last state', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 3 });
  const sim = batcher.source('sim', {});
  await sim.add([message(1)], { seq: 1 });
  await sim.add([message(2)], { seq: 2 });
  assert.equal(store.calls.length, 0, 'nothing committed while the batch is open');
  assert.deepEqual(sim.resumeState, { seq: 2 }, 'a restarted source resumes after readings waiting in the batch');
  await sim.add([message(3)], { seq: 3 });
  assert.equal(store.calls.length, 1);
  assert.deepEqual(ns(store.calls[0]), [[1, 2, 3]]);
  assert.deepEqual(store.calls[0]?.state, { seq: 3 });
  assert.equal(store.calls[0]?.messages[0]?.topic, 't/a');
  assert.equal(timers.pending, 0, 'the closed batch cancelled its maxDelay timer');
  await sim.add([message(4)], { seq: 4 });
  assert.equal(store.calls.length, 1);
  assert.deepEqual(batcher.stats(), { batches: 1, readings: 3, failedCommits: 0, lostReadings: 0, oversizeReadings: 0 });
});

void test('maxBytes: a batch may reach it exactly; one byte more and the next reading starts a new batch', async () => {
  // Two 20-byte items pack to [a,b] = 2 + 20 + 1 + 20 = 43 bytes.
  {
    const { store, batcher } = setup({ maxReadings: 100, maxBytes: 43 });
    const sim = batcher.source('sim', {});
    await sim.add([message(1)], { seq: 1 });
    await sim.add([message(2)], { seq: 2 });
    assert.equal(store.calls.length, 1, 'a batch at exactly maxBytes closes at once (nothing more fits)');
    assert.deepEqual(ns(store.calls[0]), [[1, 2]]);
    assert.equal(store.calls[0]?.messages[0]?.payload.length, 43);
  }
  {
    const { store, batcher } = setup({ maxReadings: 100, maxBytes: 42 });
    const sim = batcher.source('sim', {});
    await sim.add([message(1)], { seq: 1 });
    await sim.add([message(2)], { seq: 2 });
    assert.equal(store.calls.length, 1, 'the reading that does not fit closes the batch before it');
    assert.deepEqual(ns(store.calls[0]), [[1]]);
    assert.deepEqual(store.calls[0]?.state, { seq: 1 }, 'the closed batch carries the state of its own last reading');
    assert.deepEqual(sim.resumeState, { seq: 2 });
    await sim.add([message(3)], { seq: 3 });
    assert.deepEqual(ns(store.calls[1]), [[2]]);
    assert.deepEqual(store.calls[1]?.state, { seq: 2 });
    for (const call of store.calls) for (const m of call.messages) assert.ok(m.payload.length <= 42);
  }
});

void test('a single reading bigger than maxBytes goes alone, is counted, and is logged once per source', async () => {
  const { store, batcher, log } = setup({ maxReadings: 100, maxBytes: 50 });
  const sim = batcher.source('sim', {});
  await sim.add([message(1)], { seq: 1 });
  await sim.add([message(2, 80)], { seq: 2 });
  await sim.add([message(3)], { seq: 3 });
  await sim.add([message(4, 90)], { seq: 4 });
  // The oversized reading closes the batch before it and then its own: both go in one commit.
  assert.deepEqual(store.calls.map(ns), [[[1], [2]], [[3], [4]]]);
  assert.deepEqual(store.calls.map((c) => c.state), [{ seq: 2 }, { seq: 4 }]);
  assert.equal(batcher.stats().oversizeReadings, 2);
  const warnings = log.entries.filter((e) => e.level === 'warn' && e.msg.includes('larger than publish.batch.maxBytes'));
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]?.fields?.bytes, 82);
});

void test('maxDelay: the batch is committed that long after its first reading, with the latest state', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 100, maxDelayMs: 1_000 });
  const sim = batcher.source('sim', {});
  await sim.add([message(1)], { seq: 1 });
  timers.advance(600);
  await sim.add([message(2)], { seq: 2 });
  timers.advance(399);
  await settle();
  assert.equal(store.calls.length, 0);
  timers.advance(1);
  await settle();
  assert.equal(store.calls.length, 1, 'committed at first reading + maxDelay, not last reading + maxDelay');
  assert.deepEqual(ns(store.calls[0]), [[1, 2]]);
  assert.deepEqual(store.calls[0]?.state, { seq: 2 });
  // The next batch gets its own clock.
  timers.advance(5_000);
  await sim.add([message(3)], { seq: 3 });
  timers.advance(999);
  await settle();
  assert.equal(store.calls.length, 1);
  timers.advance(1);
  await settle();
  assert.deepEqual(ns(store.calls[1]), [[3]]);
});

void test('readings are grouped per source and per topic/QoS/retain, each source with its own state', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 2 });
  const a = batcher.source('a', {});
  const b = batcher.source('b', { seq: 40 });
  await a.add([message(1)], { seq: 1 });
  await b.add([message(41)], { seq: 41 });
  await a.add([message(2)], { seq: 2 });
  assert.deepEqual(store.calls.map((c) => [c.source, ns(c), c.state]), [['a', [[1, 2]], { seq: 2 }]]);
  await b.add([message(42)], { seq: 42 });
  assert.deepEqual(store.calls[1] && [store.calls[1].source, ns(store.calls[1]), store.calls[1].state], ['b', [[41, 42]], { seq: 42 }]);
  // A different key (topic here; QoS and retain alike) closes the open batch before it.
  await a.add([message(3, 20, 't/a')], { seq: 3 });
  await a.add([message(4, 20, 't/other')], { seq: 4 });
  assert.deepEqual(ns(store.calls[2]), [[3]]);
  assert.equal(store.calls[2]?.messages[0]?.topic, 't/a');
  timers.advance(LIMITS.maxDelayMs);
  await settle();
  assert.equal(store.calls[3]?.messages[0]?.topic, 't/other');
  assert.deepEqual(store.calls[3]?.state, { seq: 4 });
});

void test('one add is all or none: readings that fill batches are committed in one commit with its state', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 3 });
  const sim = batcher.source('sim', {});
  await sim.add([message(1)], { seq: 1 });
  // 2..8 arrive in one call: batches [1,2,3], [4,5,6], and [7,8] closed early so that the
  // state seq 8 is never written without the readings 7 and 8 (or they without it).
  await sim.add([2, 3, 4, 5, 6, 7, 8].map((n) => message(n)), { seq: 8 });
  assert.equal(store.calls.length, 1, 'one store commit');
  assert.deepEqual(ns(store.calls[0]), [[1, 2, 3], [4, 5, 6], [7, 8]]);
  assert.deepEqual(store.calls[0]?.state, { seq: 8 });
  assert.equal(timers.pending, 0, 'no batch left open');
  // Readings that fit entirely in the open batch stay there with their state.
  await sim.add([message(9), message(10)], { seq: 10 });
  assert.equal(store.calls.length, 1);
  assert.deepEqual(sim.resumeState, { seq: 10 });
});

void test('state handed over alone rides with the open batch, or is committed at once when none is open', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 10 });
  const sim = batcher.source('sim', { seq: 0, other: 'x' });
  await sim.add([], { mark: 1 });
  assert.deepEqual(store.calls.map((c) => c.state), [{ mark: 1 }]);
  await sim.add([message(1)], { seq: 1 });
  await sim.add([], { mark: 2 });
  assert.equal(store.calls.length, 1, 'not written ahead of the reading waiting in the batch');
  timers.advance(LIMITS.maxDelayMs);
  await settle();
  assert.deepEqual(store.calls[1]?.state, { seq: 1, mark: 2 });
  assert.deepEqual(sim.resumeState, { seq: 1, other: 'x', mark: 2 });
});

// ---------------------------------------------------------------------------------------------
// Stop and failures

void test('close commits every open batch with its state, then refuses more readings', async () => {
  const { store, batcher, timers, log } = setup({ maxReadings: 10, maxDelayMs: 30_000 });
  const a = batcher.source('a', {});
  const b = batcher.source('b', {});
  await a.add([message(1), message(2)], { seq: 2 });
  await b.add([message(7)], { seq: 7 });
  await batcher.close();
  assert.deepEqual(
    store.calls.map((c) => [c.source, ns(c), c.state]),
    [
      ['a', [[1, 2]], { seq: 2 }],
      ['b', [[7]], { seq: 7 }],
    ],
  );
  assert.equal(timers.pending, 0);
  const flushed = log.entries.find((e) => e.msg === 'open batches committed');
  assert.deepEqual(flushed?.fields, { batches: 2, readings: 3, failedCommits: 0 });
  await assert.rejects(a.add([message(3)], { seq: 3 }), /closed/);
  await batcher.close(); // idempotent
  assert.equal(store.calls.length, 2);
});

void test('close waits for a batch commit already being written', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 10 });
  const sim = batcher.source('sim', {});
  await sim.add([message(1)], { seq: 1 });
  store.hold = true;
  timers.advance(LIMITS.maxDelayMs);
  let closed = false;
  const closing = batcher.close().then(() => (closed = true));
  await settle();
  assert.equal(closed, false, 'close resolved while a commit was still pending');
  store.hold = false;
  store.release();
  await closing;
  assert.deepEqual(ns(store.calls[0]), [[1]]);
});

void test('a failed background commit is logged and counted; the source is told and resumes from the committed state', async () => {
  const { store, batcher, timers, log } = setup({ maxReadings: 3 });
  const sim = batcher.source('sim', { seq: 0 });
  for (let n = 1; n <= 3; n++) await sim.add([message(n)], { seq: n });
  assert.deepEqual(store.calls[0]?.state, { seq: 3 });
  await sim.add([message(4)], { seq: 4 });
  store.failNext = new Error('disk full');
  timers.advance(LIMITS.maxDelayMs);
  await settle();
  assert.equal(store.calls.length, 1);
  const errors = log.entries.filter((e) => e.level === 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.msg ?? '', /batch commit failed/);
  assert.equal(errors[0]?.fields?.source, 'sim');
  assert.equal(errors[0]?.fields?.readings, 1);
  assert.deepEqual(batcher.stats(), { batches: 1, readings: 3, failedCommits: 1, lostReadings: 1, oversizeReadings: 0 });
  // Seq 4 was lost, so nothing after it may be committed (that would leave a gap): the next
  // add is refused, and the restarted source resumes from seq 3.
  assert.deepEqual(sim.resumeState, { seq: 3 });
  await assert.rejects(sim.add([message(5)], { seq: 5 }), /disk full/);
  assert.deepEqual(sim.resumeState, { seq: 3 });
  for (let n = 4; n <= 6; n++) await sim.add([message(n)], { seq: n });
  assert.deepEqual(store.itemsOf('sim').map((i) => (i as { n: number }).n), [1, 2, 3, 4, 5, 6], 'no gap, no reuse');
  assert.deepEqual(store.calls[1]?.state, { seq: 6 });
});

void test('a failed commit withdraws what was accepted after it, and an add waiting behind it is told', async () => {
  const { store, batcher, timers } = setup({ maxReadings: 2 });
  const sim = batcher.source('sim', {});
  await sim.add([message(1)], { seq: 1 });
  store.hold = true;
  store.failNext = new Error('io error');
  timers.advance(LIMITS.maxDelayMs); // [1] is being written (and will fail)
  await sim.add([message(2)], { seq: 2 }); // accepted into a new open batch
  const waiting = sim.add([message(3)], { seq: 3 }); // fills it: waits for its commit, queued behind [1]
  store.hold = false;
  store.release();
  await assert.rejects(waiting, /io error/);
  await settle();
  assert.equal(store.calls.length, 0, '[2, 3] must not be written after [1] was lost');
  assert.deepEqual(sim.resumeState, {});
  assert.equal(batcher.stats().lostReadings, 3);
  // The source was told once; after its restart it is accepted again.
  await sim.add([message(1)], { seq: 1 });
  await sim.add([message(2)], { seq: 2 });
  assert.deepEqual(ns(store.calls[0]), [[1, 2]]);
});

void test('failure logs are rate limited', async () => {
  const { store, batcher, log } = setup({ maxReadings: 1 });
  const sim = batcher.source('sim', {});
  for (let i = 0; i < 5; i++) {
    store.failNext = new Error('disk full');
    await assert.rejects(sim.add([message(1)], { seq: 1 }), /disk full/);
  }
  assert.equal(batcher.stats().failedCommits, 5);
  assert.equal(log.entries.filter((e) => e.level === 'error').length, 1);
});

// ---------------------------------------------------------------------------------------------
// The publisher: readings in, messages out

function fakeOutbox() {
  const commits: Array<{ messages: readonly Message[]; state: { source: string; values: SourceState } | undefined }> = [];
  let failures = 0;
  return {
    commits,
    failOnce: () => (failures = 1),
    commit: (messages: readonly Message[], state?: { source: string; values: SourceState }): Promise<CommitResult> => {
      if (failures > 0) {
        failures--;
        return Promise.reject(new Error('disk full'));
      }
      commits.push({ messages, state });
      return Promise.resolve({ seqs: messages.map((_, i) => i), rejected: 0 });
    },
  };
}

const RULE = { device: 'pi-1', topic: 'sensorgate/{device}/{source}', qos: 1 as const, retain: false };

void test('without publish.batch, every reading is its own JSON object message, committed with its state at once', async () => {
  const outbox = fakeOutbox();
  const publisher = createPublisher({ rule: RULE, commit: outbox.commit, logger: silentLogger });
  const sink = publisher.source('barn', { seq: 4 });
  const readings: Reading[] = [
    { source: 'barn', ts: 1700000000000, fields: { seq: 5, t: 21.5 } },
    { source: 'barn', ts: 1700000000001, fields: { seq: 6, t: 21.6 } },
  ];
  await sink.emit(readings, { seq: 6 });
  assert.equal(outbox.commits.length, 1);
  assert.deepEqual(
    outbox.commits[0]?.messages.map((m) => m.payload.toString()),
    ['{"ts":1700000000000,"seq":5,"t":21.5}', '{"ts":1700000000001,"seq":6,"t":21.6}'],
  );
  assert.deepEqual(outbox.commits[0]?.state, { source: 'barn', values: { seq: 6 } });
  assert.deepEqual(sink.resumeState, { seq: 6 });
  assert.equal(publisher.batchStats(), undefined);
});

void test('with publish.batch, the payload is a JSON array that parses back to the readings', async () => {
  const outbox = fakeOutbox();
  const timers = new FakeTimers();
  const publisher = createPublisher({ rule: RULE, batch: { maxReadings: 3, maxDelayMs: 1_000, maxBytes: 16_384 }, commit: outbox.commit, logger: silentLogger, timers });
  const sink = publisher.source('barn', {});
  const readings: Reading[] = [1, 2, 3].map((seq) => ({ source: 'barn', ts: 1700000000000 + seq, fields: { seq, ok: seq % 2 === 0, label: `r"${seq}` } }));
  for (const r of readings) await sink.emit(r, { seq: r.fields.seq as number });
  assert.equal(outbox.commits.length, 1);
  const [m] = outbox.commits[0]?.messages ?? [];
  assert.equal(m?.topic, 'sensorgate/pi-1/barn');
  assert.equal(m?.qos, 1);
  assert.equal(m?.retain, false);
  assert.deepEqual(JSON.parse(m?.payload.toString() ?? ''), readings.map((r) => ({ ts: r.ts, ...r.fields })));
  assert.deepEqual(outbox.commits[0]?.state, { source: 'barn', values: { seq: 3 } });
  await publisher.close();
});

void test('simulated source with batching: every seq committed once, in order, across a failed commit and a restart', async () => {
  const outbox = fakeOutbox();
  const timers = new FakeTimers();
  const publisher = createPublisher({ rule: RULE, batch: { maxReadings: 10, maxDelayMs: 30_000, maxBytes: 16_384 }, commit: outbox.commit, logger: silentLogger, timers });
  const sink = publisher.source('sim', {});
  const run = (count: number) =>
    new SimulatedSource({ name: 'sim', intervalMs: 0, count }).run({
      emit: (readings, state) => sink.emit(readings, state),
      get initialState() {
        return sink.resumeState;
      },
      logger: silentLogger,
      signal: new AbortController().signal,
    });
  // Bursts of 64: batches of 10, and the remainder of each burst in a shorter one.
  await run(100);
  const sizes = outbox.commits.flatMap((c) => c.messages.map((m) => (JSON.parse(m.payload.toString()) as unknown[]).length));
  assert.deepEqual(sizes, [10, 10, 10, 10, 10, 10, 4, 10, 10, 10, 6]);
  assert.deepEqual(outbox.commits.map((c) => c.state?.values), [{ seq: 64 }, { seq: 100 }]);
  // A commit fails: the source fails, restarts from what is committed, and produces the same seqs again.
  outbox.failOnce();
  await assert.rejects(run(250), /disk full/);
  assert.deepEqual(sink.resumeState, { seq: 100 });
  await run(250);
  await publisher.close();
  const seqs = outbox.commits.flatMap((c) => c.messages.flatMap((m) => (JSON.parse(m.payload.toString()) as Array<{ seq: number }>).map((r) => r.seq)));
  assert.deepEqual(seqs, Array.from({ length: 250 }, (_, i) => i + 1));
});
