/**
 * The free-space guard: keeps `store.minFreeSpace` free on the store's filesystem so that
 * LevelDB can still write deletes and compact when the disk is nearly full. Below the
 * reserve the store may not grow (whenFull applies as if it were full); if the free space
 * keeps falling, the bound shrinks by the shortfall at each check. The store may grow again
 * once the free space is back above the reserve plus a margin, so one compaction's worth
 * of freed space does not flip it back and forth.
 *
 * statfs runs about once per second, never per message: `poll()` is called per batch and
 * starts a check only when the last one is a second old, or when a quarter of the reserve
 * has been written since (a fast writer must not fill the reserve between two checks).
 */
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Sum of the file sizes in `dir` (LevelDB keeps no subdirectories). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += await stat(join(dir, name)).then((s) => s.size, () => 0);
  }
  return total;
}

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
  /** Bytes the store's directory takes (default: the sum of its files' sizes). */
  directoryBytes?: () => Promise<number>;
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
  private writtenSinceCheck = 0;
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

  /** After each batch (`written`: about how many bytes it wrote); never waits for the check. */
  poll(storedBytes: () => number, written = 0): void {
    this.writtenSinceCheck += written;
    if (this.checking !== null) return;
    const due = this.now() - this.lastCheckAt >= CHECK_INTERVAL_MS;
    const filling = this.options.reserve > 0 && this.writtenSinceCheck >= this.options.reserve / 4;
    if (due || filling) void this.check(storedBytes);
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
    this.writtenSinceCheck = 0;
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
    const previous = this.free;
    this.free = free;
    await this.apply(free, previous, storedBytes);
    return free;
  }

  private async apply(free: number, previous: number | null, storedBytes: () => number): Promise<void> {
    const { reserve, logger, path } = this.options;
    if (reserve === 0) return;
    const stored = storedBytes();
    if (this.cap === null) {
      if (free >= reserve) return;
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
    } else if (free >= reserve + resumeMargin(reserve)) {
      this.cap = null;
      this.rateLimited.maybe('resumed', (suppressed) =>
        logger.info('disk space available again: the store may grow', { path, freeBytes: free, minFreeSpace: reserve, suppressed }),
      );
    } else if (free < reserve && previous !== null && free < previous) {
      // Still below, and falling, with the store frozen: LevelDB's own overhead (or another
      // process) is eating the reserve. (Rising means compaction is giving space back: wait
      // for it rather than drop more.) Shrink the bound by the shortfall, converted from disk bytes to
      // stored bytes with the directory's own ratio (compression makes them differ widely);
      // with drop-oldest the next commits drop that much more, and compaction frees it.
      const shortfall = reserve - free;
      const onDisk = await (this.options.directoryBytes ?? (() => directoryBytes(path)))();
      const storedPerDiskByte = onDisk > 0 && stored > 0 ? stored / onDisk : 1;
      this.cap = Math.max(0, Math.floor(Math.min(this.cap, stored) - shortfall * storedPerDiskByte));
      this.rateLimited.maybe('shrink', (suppressed) =>
        logger.warn('disk space still below store.minFreeSpace: lowering the store bound', {
          path,
          freeBytes: free,
          minFreeSpace: reserve,
          boundBytes: this.cap,
          suppressed,
        }),
      );
    }
  }
}
