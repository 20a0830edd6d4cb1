/**
 * The free-space guard: keeps `store.minFreeSpace` free on the store's filesystem so that
 * LevelDB can still write deletes and compact when the disk is nearly full. Below the
 * reserve the store may not grow (whenFull applies as if it were full); it may grow again
 * once the free space is back above the reserve plus a margin, so one compaction's worth
 * of freed space does not flip it back and forth.
 *
 * statfs runs at most once per interval, never per message: `poll()` is called on the
 * commit path and only starts a check when the last one is old enough.
 */
import { statfs } from 'node:fs/promises';
import type { Logger } from '../observe/logger.js';
import { RateLimitedLog } from '../observe/logger.js';

export interface FsSpace {
  /** Free blocks for unprivileged users. */
  bavail: number;
  /** Free blocks including those reserved for root. */
  bfree: number;
  bsize: number;
}

export type StatFs = (path: string) => Promise<FsSpace>;

export const nodeStatfs: StatFs = (path) => statfs(path);

export const CHECK_INTERVAL_MS = 1_000;
const LOG_INTERVAL_MS = 10_000;
const MiB = 1024 * 1024;

export interface FreeSpaceGuardOptions {
  /** A path on the filesystem to watch (the store directory). */
  path: string;
  /** Bytes to keep free; 0 turns the guard off (free space is still measured for recovery). */
  reserve: number;
  logger: Logger;
  statfs?: StatFs;
  now?: () => number;
  /** Root may write into the filesystem's reserved blocks; others may not. */
  privileged?: boolean;
}

/** Free space needed above the reserve before the store may grow again. */
export function resumeMargin(reserve: number): number {
  return Math.max(Math.floor(reserve / 4), MiB);
}

export class FreeSpaceGuard {
  private lastCheckAt = -Infinity;
  private checking: Promise<number | null> | null = null;
  private free: number | null = null;
  private cap: number | null = null;
  private readonly statfs: StatFs;
  private readonly now: () => number;
  private readonly privileged: boolean;
  private readonly rateLimited: RateLimitedLog;

  constructor(private readonly options: FreeSpaceGuardOptions) {
    this.statfs = options.statfs ?? nodeStatfs;
    this.now = options.now ?? Date.now;
    this.privileged = options.privileged ?? process.getuid?.() === 0;
    this.rateLimited = new RateLimitedLog(LOG_INTERVAL_MS, this.now);
  }

  /** Free bytes at the last check (null before the first, or when statfs failed). */
  get freeBytes(): number | null {
    return this.free;
  }

  /** The byte bound the store must stay under while space is low; null when space is fine. */
  get spaceCap(): number | null {
    return this.cap;
  }

  /** On the commit path: starts a check if the last one is old enough, never waits for it. */
  poll(storedBytes: () => number): void {
    if (this.checking !== null || this.now() - this.lastCheckAt < CHECK_INTERVAL_MS) return;
    void this.check(storedBytes);
  }

  /** Checks now (after a write error, or while waiting for space); resolves with the free bytes. */
  check(storedBytes: () => number): Promise<number | null> {
    this.checking ??= this.measure(storedBytes).finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async measure(storedBytes: () => number): Promise<number | null> {
    this.lastCheckAt = this.now();
    let space: FsSpace;
    try {
      space = await this.statfs(this.options.path);
    } catch (err) {
      // Without a measurement the guard keeps its last decision; writes still report real errors.
      this.rateLimited.maybe('statfs', (suppressed) =>
        this.options.logger.warn('cannot measure free disk space', { path: this.options.path, err, suppressed }),
      );
      this.free = null;
      return null;
    }
    const free = Number(this.privileged ? space.bfree : space.bavail) * Number(space.bsize);
    this.free = free;
    this.apply(free, storedBytes());
    return free;
  }

  private apply(free: number, stored: number): void {
    const { reserve, logger, path } = this.options;
    if (reserve === 0) return;
    if (this.cap === null && free < reserve) {
      this.cap = stored;
      this.rateLimited.maybe('low', (suppressed) =>
        logger.warn('disk space low: store.minFreeSpace reached; the store stops growing and store.whenFull applies', {
          path,
          freeBytes: free,
          minFreeSpace: reserve,
          storedBytes: stored,
          suppressed,
        }),
      );
    } else if (this.cap !== null && free >= reserve + resumeMargin(reserve)) {
      this.cap = null;
      this.rateLimited.maybe('resumed', (suppressed) =>
        logger.info('disk space available again: the store may grow', { path, freeBytes: free, minFreeSpace: reserve, suppressed }),
      );
    }
  }
}
