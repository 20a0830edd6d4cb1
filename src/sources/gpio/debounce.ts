/**
 * Debouncing on the level: a new level counts once it has held for `debounceMs`. Contact bounce
 * (a reed switch chatters for a millisecond or two on closing and on opening) never reaches the
 * reading, and neither does a spike shorter than the period.
 *
 * Two clocks meet here. Event times (the kernel's timestamps, or the poll time) decide whether a
 * level held long enough *before the next change*, so events that arrive together after a stall
 * are still judged by when they happened. A timer on the arrival clock settles the last level
 * when no further change comes.
 */
import type { Level } from './events.js';

/** The clock the debouncer waits on; tests pass a fake one. */
export interface DebounceTimers {
  /** Calls `fn` after `ms`; the returned function cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realDebounceTimers: DebounceTimers = {
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Called with each settled level; `previous` is undefined for the first (the line's initial level). */
export type OnSettled = (level: Level, previous: Level | undefined) => void;

export class Debouncer {
  private settled: Level | undefined;
  private pending: { level: Level; atMs: number } | undefined;
  private cancelTimer: (() => void) | undefined;

  constructor(
    private readonly debounceMs: number,
    private readonly onSettled: OnSettled,
    private readonly timers: DebounceTimers = realDebounceTimers,
  ) {
    if (!(debounceMs >= 0)) throw new RangeError(`debounceMs must be >= 0 (got ${debounceMs})`);
  }

  /** The last settled level (undefined before the first). */
  get level(): Level | undefined {
    return this.settled;
  }

  /** A level seen at `atMs` (monotonic ms). The first one is the line's initial level and settles at once. */
  input(level: Level, atMs: number): void {
    if (this.settled === undefined || this.debounceMs === 0) {
      this.settle(level);
      return;
    }
    const pending = this.pending;
    // The level waiting to settle held until this change: long enough, or a bounce.
    if (pending !== undefined && pending.level !== level && atMs - pending.atMs >= this.debounceMs) this.settle(pending.level);
    // The same level reported twice (two rising edges, one falling lost) has held since the first.
    if (pending === undefined || pending.level !== level) this.pending = { level, atMs };
    this.cancelTimer?.();
    this.cancelTimer = this.timers.schedule(() => {
      this.cancelTimer = undefined;
      const last = this.pending;
      this.pending = undefined;
      if (last !== undefined) this.settle(last.level);
    }, this.debounceMs);
  }

  /** Forgets everything (the line's monitor restarted): the next input is an initial level again. */
  reset(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.pending = undefined;
    this.settled = undefined;
  }

  private settle(level: Level): void {
    if (level === this.settled) return;
    const previous = this.settled;
    this.settled = level;
    this.onSettled(level, previous);
  }
}
