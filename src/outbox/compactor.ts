/**
 * Reclaims the disk space of messages the whenFull policy dropped. A LevelDB delete is a
 * tombstone that frees nothing until a compaction meets the data it covers; with drop-oldest
 * under a long outage the tombstones sit at the old end of the key space while new data
 * lands at the other, and LevelDB's own compactions reach them late. Compacting the dropped
 * range ourselves keeps the directory near the bound. One compaction at a time, never on
 * the commit path.
 *
 * While the store is dropping, writes must also not outrun compaction: every flushed write
 * buffer then holds tombstones at the old end and new messages at the new end, so it
 * overlaps the whole store, and a pile of them is rewritten (and held twice) at once.
 * `keepUp()` makes the next batch wait while that pile is at LevelDB's compaction trigger
 * or a dropped-range compaction has fallen a whole step behind.
 */
import type { Logger } from '../observe/logger.js';
import { msgKey } from './keys.js';

export type CompactFn = (start: string, end: string) => Promise<void>;

/** LevelDB starts compacting level 0 at this many tables (kL0_CompactionTrigger). */
export const LEVEL0_TRIGGER = 4;
/** Longest a batch waits for level 0 to shrink; LevelDB's own write stop takes over beyond. */
export const KEEP_UP_MAX_WAIT_MS = 1_000;
const KEEP_UP_POLL_MS = 5;

export interface CompactorOptions {
  /** Dropped bytes that trigger a compaction (at least this; see noteDropped). */
  minBytes: number;
  /** Current number of level-0 tables. */
  level0Files: () => number;
  logger: Logger;
}

export class DroppedRangeCompactor {
  private low: number | null = null;
  private high = 0;
  private pendingBytes = 0;
  private threshold = Infinity;
  private running: Promise<void> | null = null;
  private compactions = 0;

  constructor(
    private readonly compact: CompactFn,
    private readonly options: CompactorOptions,
  ) {}

  /** Number of compactions started so far (for tests and stats). */
  get count(): number {
    return this.compactions;
  }

  /**
   * Records dropped seqs (ascending) and their encoded bytes. `storedBytes` scales the
   * trigger: compacting every 1/8 of the store keeps the dead share of the directory small
   * without compacting a large store for every few kilobytes.
   */
  noteDropped(seqs: readonly number[], bytes: number, storedBytes: number): void {
    const first = seqs[0];
    const last = seqs[seqs.length - 1];
    if (first === undefined || last === undefined) return;
    this.low = this.low === null ? first : Math.min(this.low, first);
    this.high = Math.max(this.high, last);
    this.pendingBytes += bytes;
    this.threshold = Math.max(this.options.minBytes, storedBytes / 8);
    if (this.running === null && this.pendingBytes >= this.threshold) this.start();
  }

  /** Called before a batch write while the store is dropping; see the module comment. */
  async keepUp(): Promise<void> {
    for (let waited = 0; this.options.level0Files() >= LEVEL0_TRIGGER && waited < KEEP_UP_MAX_WAIT_MS; waited += KEEP_UP_POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, KEEP_UP_POLL_MS));
    }
    if (this.running !== null && this.pendingBytes >= this.threshold) await this.idle();
  }

  /** Resolves when no compaction is running (close waits for it). */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private start(): void {
    const low = this.low as number;
    const high = this.high;
    this.low = null;
    this.high = 0;
    this.pendingBytes = 0;
    this.compactions++;
    this.running = this.compact(msgKey(low), msgKey(high))
      .catch((err: unknown) => {
        // A failed compaction leaves the tombstones; the next drop tries again. If it failed
        // for lack of space, the write path sees the same error and handles it.
        this.options.logger.warn('compaction of dropped messages failed', { err, fromSeq: low, toSeq: high });
      })
      .finally(() => {
        this.running = null;
      });
  }
}
