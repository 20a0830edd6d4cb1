/** Debouncing on a fake clock, and the counter's arithmetic. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counterFields, isPulse, storedTotal } from '../../src/sources/gpio/counter.js';
import { Debouncer } from '../../src/sources/gpio/debounce.js';
import type { DebounceTimers } from '../../src/sources/gpio/debounce.js';
import type { Level } from '../../src/sources/gpio/events.js';

/** Timers that fire only when the test advances them (ms on the arrival clock). */
class FakeTimers implements DebounceTimers {
  now = 0;
  private entries: Array<{ at: number; fn: () => void }> = [];

  schedule(fn: () => void, ms: number): () => void {
    const entry = { at: this.now + ms, fn };
    this.entries.push(entry);
    return () => {
      this.entries = this.entries.filter((e) => e !== entry);
    };
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

function debouncer(ms: number) {
  const timers = new FakeTimers();
  const settled: Array<[Level, Level | undefined]> = [];
  const d = new Debouncer(ms, (level, previous) => settled.push([level, previous]), timers);
  /** An event seen now on the arrival clock, stamped `atMs` (default: now). */
  const input = (level: Level, atMs = timers.now): void => d.input(level, atMs);
  return { d, timers, settled, input };
}

void test('debounce: the initial level settles at once; a bouncing edge settles once, after it held for the period', () => {
  const { timers, settled, input } = debouncer(10);
  input(0);
  assert.deepEqual(settled, [[0, undefined]]);
  // Closing contact: 1 0 1 0 1 within 2 ms, then steady.
  for (const [at, level] of [[100, 1], [100.4, 0], [100.8, 1], [101.5, 0], [102, 1]] as const) {
    timers.advance(at - timers.now);
    input(level);
  }
  timers.advance(9.9);
  assert.deepEqual(settled, [[0, undefined]], 'not before the level held 10 ms');
  timers.advance(0.1);
  assert.deepEqual(settled, [
    [0, undefined],
    [1, 0],
  ]);
});

void test('debounce: a spike shorter than the period never settles', () => {
  const { timers, settled, input } = debouncer(10);
  input(0);
  timers.advance(50);
  input(1);
  timers.advance(3);
  input(0);
  timers.advance(100);
  assert.deepEqual(settled, [[0, undefined]]);
});

void test('debounce: events that arrive together after a stall are judged by their own timestamps', () => {
  const { timers, settled, input } = debouncer(10);
  input(0, 0);
  timers.advance(500);
  // Two real 50 ms pulses, read in one chunk at t=500 but stamped by the kernel when they happened.
  input(1, 100);
  input(0, 150);
  input(1, 300);
  input(0, 350);
  timers.advance(10);
  assert.deepEqual(
    settled.map(([level]) => level),
    [0, 1, 0, 1, 0],
  );
});

void test('debounce: the same level reported twice keeps the time it first changed', () => {
  const { timers, settled, input } = debouncer(10);
  input(0, 0);
  input(1, 100);
  input(1, 108); // a second "rising" (the falling in between was lost)
  input(0, 112); // 12 ms after the first rising: the 1 held long enough
  timers.advance(200);
  assert.deepEqual(
    settled.map(([level]) => level),
    [0, 1, 0],
  );
});

void test('debounce 0 passes every change at once; reset() makes the next level an initial one', () => {
  const { d, settled, input } = debouncer(0);
  input(0);
  input(1);
  input(1);
  input(0);
  assert.deepEqual(settled, [
    [0, undefined],
    [1, 0],
    [0, 1],
  ]);
  d.reset();
  input(1);
  assert.deepEqual(settled.at(-1), [1, undefined]);
  assert.equal(d.level, 1);
});

void test('pulses: rising, falling or both, on settled changes only', () => {
  assert.equal(isPulse('rising', 0, 1), true);
  assert.equal(isPulse('rising', 1, 0), false);
  assert.equal(isPulse('falling', 1, 0), true);
  assert.equal(isPulse('falling', 0, 1), false);
  assert.equal(isPulse('both', 0, 1), true);
  assert.equal(isPulse('both', 1, 0), true);
  assert.equal(isPulse('both', 1, 1), false);
});

void test('counter fields: count, total and rate per second, minute or hour', () => {
  assert.deepEqual(counterFields({ pulses: 30, total: 130, elapsedMs: 60_000, ratePer: 'second' }), { count: 30, total: 130, rate: 0.5 });
  assert.deepEqual(counterFields({ pulses: 30, total: 130, elapsedMs: 60_000, ratePer: 'minute' }), { count: 30, total: 130, rate: 30 });
  assert.deepEqual(counterFields({ pulses: 30, total: 130, elapsedMs: 60_000, ratePer: 'hour' }), { count: 30, total: 130, rate: 1_800 });
  assert.deepEqual(counterFields({ pulses: 1, total: 1, elapsedMs: 3_000, ratePer: 'second' }), { count: 1, total: 1, rate: 0.333333 });
  assert.deepEqual(counterFields({ pulses: 0, total: 7, elapsedMs: 0, ratePer: 'second' }), { count: 0, total: 7, rate: 0 });
});

void test('counter fields with a scale: values in the unit, raw pulses alongside, no float noise', () => {
  // 0.2794 mm per tip of a rain gauge; 44 × 0.2794 is 12.293600000000001 in floating point.
  assert.deepEqual(counterFields({ pulses: 4, total: 44, elapsedMs: 3_600_000, ratePer: 'hour', scale: 0.2794, unit: 'mm' }), {
    count: 1.1176,
    total: 12.2936,
    rate: 1.1176,
    pulses: 4,
    pulsesTotal: 44,
    unit: 'mm',
  });
  assert.deepEqual(counterFields({ pulses: 2, total: 2, elapsedMs: 1_000, ratePer: 'second', scale: 0.5 }), { count: 1, total: 1, rate: 1, pulses: 2, pulsesTotal: 2 });
});

void test('a stored total is used only if it is a whole number >= 0', () => {
  assert.equal(storedTotal(42), 42);
  assert.equal(storedTotal(0), 0);
  for (const bad of [undefined, -1, 1.5, '42', Number.NaN, 2 ** 60]) assert.equal(storedTotal(bad as number), undefined, String(bad));
});
