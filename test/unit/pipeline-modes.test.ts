/**
 * The pipeline's per-source rules: field mode (one plain-value message per field), deadband with
 * maxInterval on a fake clock, and the publisher keeping source state moving when the deadband
 * holds a reading back, with publish.batch for reading-mode sources only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/observe/logger.js';
import type { CommitResult, Message, SourceState } from '../../src/outbox/outbox.js';
import { Deadband } from '../../src/pipeline/deadband.js';
import { encodeFieldValue, readingToMessages } from '../../src/pipeline/pipeline.js';
import type { FieldTopicError, PublishRule } from '../../src/pipeline/pipeline.js';
import { createPublisher } from '../../src/pipeline/publisher.js';
import type { SourceRule } from '../../src/pipeline/publisher.js';
import type { FieldValue, Reading } from '../../src/pipeline/reading.js';

const reading = (fields: Record<string, FieldValue>, source = 'barn', ts = 1_700_000_000_000): Reading => ({ source, ts, fields });
const FIELD_RULE: PublishRule = { device: 'pi-1', topic: 'home/{device}/{source}/{field}', qos: 2, retain: true, mode: 'field' };

void test('field mode: one message per field, its topic from {field}, its payload the plain value', () => {
  const messages = readingToMessages(reading({ temperature: 21.5, door: 1, ok: true, label: 'dry "air"', big: 1e21, neg: -0.001 }), FIELD_RULE);
  assert.deepEqual(
    messages.map((m) => [m.topic, m.payload.toString(), m.qos, m.retain]),
    [
      ['home/pi-1/barn/temperature', '21.5', 2, true],
      ['home/pi-1/barn/door', '1', 2, true],
      ['home/pi-1/barn/ok', 'true', 2, true],
      ['home/pi-1/barn/label', 'dry "air"', 2, true],
      ['home/pi-1/barn/big', '1e+21', 2, true],
      ['home/pi-1/barn/neg', '-0.001', 2, true],
    ],
  );
  assert.equal(encodeFieldValue(false).toString(), 'false');
});

void test('reading mode (the default) is still one JSON object per reading; {field} is not expanded there', () => {
  const [m, ...rest] = readingToMessages(reading({ t: 1, seq: 2 }), { device: 'pi-1', topic: 'a/{device}/{source}', qos: 0, retain: false });
  assert.equal(rest.length, 0);
  assert.equal(m?.topic, 'a/pi-1/barn');
  assert.equal(m?.payload.toString(), '{"ts":1700000000000,"t":1,"seq":2}');
});

void test('field mode: a field whose name would make an invalid topic is skipped and reported, the others go out', () => {
  const bad: FieldTopicError[] = [];
  const messages = readingToMessages(reading({ 'a+b': 1, '#': 2, good: 3, 'x\ud800': 5, 'n\u0000': 6 }), FIELD_RULE, (e) => bad.push(e));
  assert.deepEqual(messages.map((m) => m.topic), ['home/pi-1/barn/good']);
  assert.deepEqual(bad.map((b) => b.field), ['a+b', '#', 'x\ud800', 'n\u0000']);
  assert.match(bad[0]?.problem ?? '', /\+ #/);
  assert.match(bad[2]?.problem ?? '', /UTF-8/);
});

// ---------------------------------------------------------------------------------------------
// Deadband

class FakeClock {
  t = 0;
  readonly now = (): number => this.t;
}

void test('deadband: a numeric field is published when it moved by at least the band since it was last published', () => {
  const clock = new FakeClock();
  const band = new Deadband({ all: 0.5 }, clock.now);
  const sent = [20, 20.2, 20.4, 20.5, 20.9, 21.0, 19.9, 19.5, 19.4].map((t) => Object.keys(band.select({ t }, 'field')).length);
  // 20 (first) · 20.2 20.4 held (< 0.5 from 20) · 20.5 sent · 20.9 held · 21.0 sent · 19.9 sent · 19.5 held · 19.4 sent
  assert.deepEqual(sent, [1, 0, 0, 1, 0, 1, 1, 0, 1]);
});

void test('deadband: comparisons tolerate float noise (0.1 → 0.3 is a change of 0.2)', () => {
  const band = new Deadband({ all: 0.2 }, new FakeClock().now);
  band.select({ x: 0.1 }, 'field');
  assert.deepEqual(band.select({ x: 0.3 }, 'field'), { x: 0.3 });
});

void test('deadband 0 means "when it changed"; strings and booleans are published when they changed', () => {
  const band = new Deadband({ all: 0 }, new FakeClock().now);
  const out = [
    { n: 1, s: 'a', b: true },
    { n: 1, s: 'a', b: true },
    { n: 1.0001, s: 'a', b: false },
    { n: 1.0001, s: 'b', b: false },
  ].map((fields) => Object.keys(band.select(fields, 'field')).sort().join(','));
  assert.deepEqual(out, ['b,n,s', '', 'b,n', 's']);
});

void test('deadband per field: listed fields are filtered, the others are published every time', () => {
  const band = new Deadband({ fields: { t: 1 } }, new FakeClock().now);
  assert.deepEqual(Object.keys(band.select({ t: 20, h: 50 }, 'field')).sort(), ['h', 't']);
  assert.deepEqual(Object.keys(band.select({ t: 20.5, h: 50 }, 'field')), ['h']);
  assert.deepEqual(Object.keys(band.select({ t: 21, h: 50 }, 'field')).sort(), ['h', 't']);
});

void test('maxInterval: a field held back by its deadband is published once that long has passed since it last was', () => {
  const clock = new FakeClock();
  const band = new Deadband({ all: 1, maxIntervalMs: 60_000 }, clock.now);
  const at = (ms: number, t: number): boolean => {
    clock.t = ms;
    return 't' in band.select({ t }, 'field');
  };
  assert.equal(at(0, 20), true);
  assert.equal(at(30_000, 20), false);
  assert.equal(at(59_999, 20.1), false);
  assert.equal(at(60_000, 20.1), true, 'heartbeat after maxInterval');
  assert.equal(at(90_000, 20.1), false, 'the heartbeat restarted the interval');
  assert.equal(at(95_000, 21.1), true, 'a real change goes at once');
  assert.equal(at(154_999, 21.1), false);
  assert.equal(at(155_000, 21.1), true);
});

void test('reading mode: a reading goes whole when any of its fields is due, and not at all otherwise', () => {
  const band = new Deadband({ all: 1 }, new FakeClock().now);
  assert.deepEqual(band.select({ t: 20, h: 50 }, 'reading'), { t: 20, h: 50 });
  assert.deepEqual(band.select({ t: 20.5, h: 50.5 }, 'reading'), {});
  assert.deepEqual(band.select({ t: 20.5, h: 51 }, 'reading'), { t: 20.5, h: 51 });
  // Every field of a published reading counts as published: t is now compared with 20.5.
  assert.deepEqual(band.select({ t: 21.2, h: 51 }, 'reading'), {});
  assert.deepEqual(band.select({ t: 21.5, h: 51 }, 'reading'), { t: 21.5, h: 51 });
});

void test('deadband state is in memory: forget() (and so a restart) publishes the next value whatever it is', () => {
  const band = new Deadband({ all: 5 }, new FakeClock().now);
  band.select({ t: 20 }, 'field');
  assert.deepEqual(band.select({ t: 21 }, 'field'), {});
  band.forget();
  assert.deepEqual(band.select({ t: 21 }, 'field'), { t: 21 });
});

void test('Deadband rejects a negative band or a zero maxInterval', () => {
  assert.throws(() => new Deadband({ all: -1 }), RangeError);
  assert.throws(() => new Deadband({ fields: { t: Number.NaN } }), RangeError);
  assert.throws(() => new Deadband({ all: 1, maxIntervalMs: 0 }), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Publisher

interface Commit {
  messages: readonly Message[];
  state: { source: string; values: SourceState } | undefined;
}

function fakeOutbox() {
  const commits: Commit[] = [];
  let failures = 0;
  return {
    commits,
    failOnce: () => {
      failures++;
    },
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

const DEFAULT_RULE: SourceRule = { device: 'pi-1', topic: 'sensorgate/{device}/{source}', qos: 1, retain: false };

void test('publisher: a reading the deadband holds back still commits the state it advances (no message)', async () => {
  const outbox = fakeOutbox();
  const clock = new FakeClock();
  const publisher = createPublisher({ rule: DEFAULT_RULE, commit: outbox.commit, logger: silentLogger, now: clock.now });
  const rule: SourceRule = { ...DEFAULT_RULE, deadband: { fields: { count: 0 } } };
  const sink = publisher.source('rain', { total: 10 }, rule);
  await sink.emit(reading({ count: 0 }, 'rain'), { total: 10 });
  await sink.emit(reading({ count: 0 }, 'rain'), { total: 10 });
  await sink.emit(reading({ count: 2 }, 'rain'), { total: 12 });
  assert.deepEqual(
    outbox.commits.map((c) => [c.messages.length, c.state?.values]),
    [
      [1, { total: 10 }],
      [0, { total: 10 }],
      [1, { total: 12 }],
    ],
  );
  assert.deepEqual(sink.resumeState, { total: 12 });
  // Held back with no state: nothing to write at all.
  await sink.emit(reading({ count: 2 }, 'rain'));
  assert.equal(outbox.commits.length, 3);
});

void test('publisher: per-source rules; with publish.batch, reading-mode sources are batched and field-mode sources never', async () => {
  const outbox = fakeOutbox();
  const publisher = createPublisher({ rule: DEFAULT_RULE, batch: { maxReadings: 2, maxDelayMs: 60_000, maxBytes: 16_384 }, commit: outbox.commit, logger: silentLogger });
  const batched = publisher.source('sim', {});
  const fields = publisher.source('door', {}, { ...FIELD_RULE, qos: 0, retain: true });
  await fields.emit(reading({ state: 1 }, 'door'));
  assert.deepEqual(
    outbox.commits.flatMap((c) => c.messages.map((m) => [m.topic, m.payload.toString(), m.qos, m.retain])),
    [['home/pi-1/door/state', '1', 0, true]],
    'committed at once, not waiting in a batch',
  );
  await batched.emit(reading({ seq: 1 }, 'sim'), { seq: 1 });
  assert.equal(outbox.commits.length, 1, 'the reading-mode source waits in its batch');
  await batched.emit(reading({ seq: 2 }, 'sim'), { seq: 2 });
  const [batch] = outbox.commits[1]?.messages ?? [];
  assert.equal(batch?.topic, 'sensorgate/pi-1/sim');
  assert.deepEqual(
    (JSON.parse(batch?.payload.toString() ?? '') as Array<{ seq: number }>).map((r) => r.seq),
    [1, 2],
  );
  assert.deepEqual(outbox.commits[1]?.state, { source: 'sim', values: { seq: 2 } });
  await publisher.close();
});

void test('publisher with batching: a reading the deadband holds back still moves the state (through the batcher)', async () => {
  const outbox = fakeOutbox();
  const publisher = createPublisher({ rule: DEFAULT_RULE, batch: { maxReadings: 10, maxDelayMs: 60_000, maxBytes: 16_384 }, commit: outbox.commit, logger: silentLogger });
  const sink = publisher.source('rain', { total: 5 }, { ...DEFAULT_RULE, deadband: { all: 0 } });
  await sink.emit(reading({ count: 1, total: 6 }, 'rain'), { total: 6 });
  await sink.emit(reading({ count: 1, total: 6 }, 'rain'), { total: 6 });
  assert.deepEqual(sink.resumeState, { total: 6 });
  await publisher.close();
  assert.deepEqual(
    outbox.commits.map((c) => [c.messages.length, c.state?.values]),
    [[1, { total: 6 }]],
  );
});

void test('publisher: after a failed commit the deadband forgets, so the next value is published even if unchanged', async () => {
  const outbox = fakeOutbox();
  const publisher = createPublisher({ rule: DEFAULT_RULE, commit: outbox.commit, logger: silentLogger, now: new FakeClock().now });
  const sink = publisher.source('t', {}, { ...FIELD_RULE, deadband: { all: 1 } });
  outbox.failOnce();
  await assert.rejects(sink.emit(reading({ t: 20 }, 't')), /disk full/);
  await sink.emit(reading({ t: 20 }, 't'));
  assert.deepEqual(outbox.commits.flatMap((c) => c.messages.map((m) => m.payload.toString())), ['20']);
});

void test('publisher: bad field names are logged (rate-limited), counted per source and field, and never crash', async () => {
  const outbox = fakeOutbox();
  const lines: string[] = [];
  const logger = { ...silentLogger, warn: (msg: string) => lines.push(msg), child: () => logger };
  const publisher = createPublisher({ rule: DEFAULT_RULE, commit: outbox.commit, logger });
  const sink = publisher.source('s', {}, FIELD_RULE);
  for (let i = 0; i < 5; i++) await sink.emit(reading({ 'a#b': i, ok: i }, 's'));
  assert.equal(outbox.commits.flatMap((c) => c.messages).length, 5);
  assert.equal(lines.length, 1, 'one line per minute per source and field');
});
