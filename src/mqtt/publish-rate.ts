/**
 * `mqtt.maxPublishRate`: at most `rate` PUBLISH packets in any 1000 ms window, spread out
 * rather than sent in bursts. A send needs both of:
 * - a token from a bucket refilled at `rate` per second that holds at most `burst` tokens
 *   (about 50 ms worth). That spreads sends out, and a timer that fired late can catch up a
 *   little. On its own it would allow `rate + burst` in one window.
 * - the sliding-window guard: the times of the last `rate` sends are kept, and a send is allowed
 *   only when the `rate`-th most recent one is at least 1000 ms old. So for every k,
 *   t[k + rate] - t[k] ≥ 1000 ms, and no half-open 1000 ms window can hold `rate + 1` sends.
 * Both refill at `rate` per second, so the long-run rate is `rate`, less only what late timers cost.
 * The clock must be monotonic (a wall clock stepped back by NTP would stall sending).
 */

export const WINDOW_MS = 1_000;
/** The bucket holds this much time's worth of tokens. */
const BURST_MS = 50;

export function defaultBurst(rate: number): number {
  return Math.max(1, Math.ceil((rate * BURST_MS) / WINDOW_MS));
}

export class PublishRateLimiter {
  private tokens: number;
  private updatedAt: number;
  /** Ring of the last `rate` send times; `head` is the oldest. */
  private readonly sent: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    readonly rate: number,
    private readonly now: () => number = () => performance.now(),
    readonly burst: number = defaultBurst(rate),
  ) {
    // One timestamp per send in the window: config caps `rate` (mqtt.maxPublishRate).
    if (!Number.isSafeInteger(rate) || rate < 1) throw new RangeError(`publish rate must be a positive integer (got ${rate})`);
    if (!Number.isSafeInteger(burst) || burst < 1 || burst > rate) throw new RangeError(`burst must be an integer 1..${rate} (got ${burst})`);
    this.sent = new Float64Array(rate);
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** How many PUBLISH packets may be sent right now. */
  available(): number {
    const now = this.refill();
    const byBucket = Math.floor(this.tokens);
    let byWindow = this.rate - this.count;
    // Only as far as the bucket allows: the scan is O(burst), not O(rate).
    for (let i = 0; byWindow < byBucket && i < this.count; i++) {
      if ((this.sent[(this.head + i) % this.rate] as number) + WINDOW_MS > now) break;
      byWindow++;
    }
    return Math.min(byBucket, byWindow);
  }

  /** Counts `n` PUBLISH packets written now. Call with at most what `available` allowed. */
  record(n: number): void {
    const now = this.refill();
    this.tokens -= n;
    for (let i = 0; i < n; i++) {
      if (this.count < this.rate) {
        this.sent[(this.head + this.count) % this.rate] = now;
        this.count++;
      } else {
        this.sent[this.head] = now;
        this.head = (this.head + 1) % this.rate;
      }
    }
  }

  /** Milliseconds until at least one more send is allowed (at least 1). */
  waitMs(): number {
    const now = this.refill();
    const forToken = this.tokens >= 1 ? 0 : ((1 - this.tokens) * WINDOW_MS) / this.rate;
    const forWindow = this.count < this.rate ? 0 : (this.sent[this.head] as number) + WINDOW_MS - now;
    return Math.max(1, Math.ceil(Math.max(forToken, forWindow)));
  }

  private refill(): number {
    const now = this.now();
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / WINDOW_MS);
    this.updatedAt = now;
    return now;
  }
}
