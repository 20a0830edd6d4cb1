/** mqtt.maxPublishRate's limiter on a fake clock: the hard 1 s bound, smooth pacing, the long-run rate. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PublishRateLimiter, defaultBurst } from '../../src/mqtt/publish-rate.js';
import { seeded as prng } from '../support/random.js';

class FakeClock {
  t = 0;
  readonly now = (): number => this.t;
}

/** Largest number of sends in any half-open window [s, s + windowMs), s ranging over send times. */
function maxInWindow(times: readonly number[], windowMs: number): number {
  let max = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while ((times[hi] as number) - (times[lo] as number) >= windowMs) lo++;
    max = Math.max(max, hi - lo + 1);
  }
  return max;
}

/**
 * A pump driven the way the session drives it: send whatever `available` allows, otherwise
 * sleep `waitMs` on a timer that fires up to `maxLateMs` late. Between busy stretches it idles.
 */
function simulate(rate: number, seed: number, durationMs: number, maxLateMs: number): { times: number[]; busyMs: number; busySends: number } {
  const clock = new FakeClock();
  const limiter = new PublishRateLimiter(rate, clock.now);
  const random = prng(seed);
  const times: number[] = [];
  let busyMs = 0;
  let busySends = 0;
  while (clock.t < durationMs) {
    // A busy stretch (a backlog draining) of 2..12 s, then an idle gap of 0..3 s.
    const busyUntil = clock.t + 2_000 + random() * 10_000;
    const start = clock.t;
    let sends = 0;
    while (clock.t < busyUntil) {
      const n = limiter.available();
      if (n > 0) {
        // The session sends a window group at once; sometimes fewer than allowed (window full).
        const take = random() < 0.2 ? Math.max(1, Math.floor(n * random())) : n;
        limiter.record(take);
        for (let i = 0; i < take; i++) times.push(clock.t);
        sends += take;
        // Encoding and writing take a little time.
        clock.t += random() * 0.3;
        continue;
      }
      const wait = limiter.waitMs();
      assert.ok(wait >= 1 && Number.isFinite(wait), `waitMs ${wait}`);
      // Either the pacing timer fires (a little late), or an ack kicks the pump before it does.
      clock.t += random() < 0.5 ? wait + random() * maxLateMs : random() * wait;
    }
    busyMs += clock.t - start;
    busySends += sends;
    clock.t += random() * 3_000;
  }
  return { times, busyMs, busySends };
}

for (const rate of [1, 7, 50, 100, 1_000]) {
  void test(`rate ${rate}/s: never more than ${rate} in any 1000 ms window; paced, not bursty; long-run rate ≈ ${rate}/s`, () => {
    const { times, busyMs, busySends } = simulate(rate, rate * 7919, rate >= 1_000 ? 60_000 : 300_000, 4);
    // Hard bound: every (rate+1)-th send is at least 1000 ms after the first of them.
    for (let k = 0; k + rate < times.length; k++) {
      const gap = (times[k + rate] as number) - (times[k] as number);
      if (gap < 1_000) assert.fail(`sends ${k} and ${k + rate} only ${gap} ms apart`);
    }
    assert.ok(maxInWindow(times, 1_000) <= rate);
    // Smooth: a tenth of a second holds at most the burst plus a tenth of the rate, far below `rate` for rates ≥ 20.
    const burst = defaultBurst(rate);
    const tenth = maxInWindow(times, 100);
    assert.ok(tenth <= burst + Math.ceil(rate / 10), `${tenth} sends in 100 ms (burst ${burst})`);
    // Long run: within a few percent of the rate while there is work (timers up to 4 ms late).
    const achieved = (busySends * 1_000) / busyMs;
    assert.ok(achieved <= rate * 1.02 + 1_000 / busyMs, `achieved ${achieved.toFixed(2)}/s > ${rate}/s`);
    assert.ok(achieved >= rate * 0.95, `achieved only ${achieved.toFixed(2)}/s of ${rate}/s`);
  });
}

void test('after an idle spell only the small burst goes at once, then one per 1/rate', () => {
  const clock = new FakeClock();
  const limiter = new PublishRateLimiter(100, clock.now);
  clock.t = 60_000;
  assert.equal(limiter.burst, 5);
  assert.equal(limiter.available(), 5, 'a long pause buys 50 ms worth, not a second worth');
  limiter.record(5);
  assert.equal(limiter.available(), 0);
  assert.equal(limiter.waitMs(), 10);
  clock.t += 10;
  assert.equal(limiter.available(), 1);
});

void test('the sliding-window guard holds where the bucket alone would allow rate + burst', () => {
  // Full bucket at t=0, then steady demand polled every millisecond (acks kick the pump): the
  // bucket alone would allow 5 at t=0 plus one every 10 ms, i.e. 104 sends in [0, 1000). The
  // guard stops at 100 until the first sends are 1 s old.
  const clock = new FakeClock();
  const limiter = new PublishRateLimiter(100, clock.now);
  const times: number[] = [];
  for (; clock.t < 3_000; clock.t++) {
    const n = limiter.available();
    limiter.record(n);
    for (let i = 0; i < n; i++) times.push(clock.t);
  }
  assert.equal(times.filter((t) => t < 1_000).length, 100);
  assert.equal(maxInWindow(times, 1_000), 100);
  assert.equal(times[100], 1_000, 'the 101st send waits for the first to be 1 s old');
});

void test('a paused pump that sleeps waitMs always finds a send allowed when it wakes', () => {
  for (const rate of [1, 3, 50, 333, 10_000]) {
    const clock = new FakeClock();
    const limiter = new PublishRateLimiter(rate, clock.now);
    const random = prng(rate);
    for (let i = 0; i < 5_000; i++) {
      const n = limiter.available();
      if (n > 0) limiter.record(Math.max(1, Math.floor(n * random())));
      else {
        clock.t += limiter.waitMs();
        assert.ok(limiter.available() >= 1, `rate ${rate}: nothing allowed after waiting waitMs at t=${clock.t}`);
      }
      clock.t += random() < 0.1 ? random() * 20 : 0;
    }
  }
});

void test('rejects rates and bursts it cannot honour', () => {
  assert.throws(() => new PublishRateLimiter(0), RangeError);
  assert.throws(() => new PublishRateLimiter(2.5), RangeError);
  assert.throws(() => new PublishRateLimiter(10, () => 0, 11), RangeError);
  assert.throws(() => new PublishRateLimiter(10, () => 0, 0), RangeError);
});
