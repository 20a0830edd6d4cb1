/**
 * What happens after a batch write fails. LevelDB keeps a failed background write (a
 * memtable flush or compaction that hit ENOSPC) as a sticky error and refuses every later
 * write until the database is reopened; a failed log append can also leave a torn record
 * that would swallow the records written after it at the next open. So after any failed
 * write the outbox writes nothing more to that handle: writes are refused at once, reads go
 * on (delivery of what is stored continues), and this loop reopens the database once the
 * filesystem has room, with backoff between attempts. Nothing is deleted or rewritten.
 */
import type { Logger } from '../observe/logger.js';
import { RateLimitedLog } from '../observe/logger.js';
import type { FreeSpaceGuard } from './disk-space.js';
import { OutboxUnwritableError, isDiskFullError } from './errors.js';

const LOG_INTERVAL_MS = 10_000;
export const RECOVERY_POLL_MS = 1_000;
export const RECOVERY_MAX_BACKOFF_MS = 30_000;

export interface RecoveryOptions {
  path: string;
  logger: Logger;
  guard: FreeSpaceGuard;
  /** Free bytes needed before a reopen is tried (LevelDB writes its log out as a table on open). */
  minFreeToReopen: () => Promise<number>;
  storedBytes: () => number;
  /** Closes and reopens the database; throws if it cannot (it is tried again later). */
  reopen: () => Promise<void>;
  /** The store takes writes again. */
  onRecovered: () => void;
  now?: () => number;
}

export class WriteRecovery {
  private failure: { since: number; err: unknown; failedWrites: number } | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly rateLimited: RateLimitedLog;
  private readonly now: () => number;

  constructor(private readonly options: RecoveryOptions) {
    this.now = options.now ?? Date.now;
    this.rateLimited = new RateLimitedLog(LOG_INTERVAL_MS, this.now);
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** A batch write failed: from now on writes are refused until the database is reopened. */
  fail(err: unknown, requests: number): void {
    this.failure ??= { since: this.now(), err, failedWrites: 0 };
    this.failure.failedWrites++;
    const { logger, path } = this.options;
    this.rateLimited.maybe(isDiskFullError(err) ? 'disk-full' : 'write-failed', (suppressed) => {
      if (isDiskFullError(err)) {
        logger.error('disk full: store writes fail; new readings are refused, queued ones are still delivered, and the store is reopened once space returns', {
          path,
          err,
          requests,
          suppressed,
        });
      } else {
        logger.error('store write failed; writes are refused until the store is reopened', { path, err, requests, suppressed });
      }
    });
    if (this.loop === null && !this.stopped) this.loop = this.run();
  }

  /** The error for a write refused while the store waits to be reopened. */
  refusal(operation: string): OutboxUnwritableError {
    const failure = this.failure;
    return new OutboxUnwritableError(operation, failure?.since ?? this.now(), failure?.err);
  }

  /** Stops retrying (the outbox is closing); resolves once no reopen is running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { guard, logger, path } = this.options;
    let backoff = RECOVERY_POLL_MS;
    let lastAttemptAt = this.now();
    try {
      while (!this.stopped) {
        await this.sleep(RECOVERY_POLL_MS);
        if (this.stopped) return;
        const free = await guard.check(this.options.storedBytes);
        // A failed reopen leaves the store closed (reads wait too), so wait for room for the
        // worst case (an incompressible log). That estimate can be too cautious on a small
        // filesystem, so it only delays an attempt by up to the longest backoff. Unknown
        // free space (statfs failed) is no reason to wait.
        const roomy = free === null || free >= (await this.options.minFreeToReopen());
        if (!roomy && this.now() - lastAttemptAt < RECOVERY_MAX_BACKOFF_MS) continue;
        lastAttemptAt = this.now();
        try {
          await this.options.reopen();
        } catch (err) {
          this.rateLimited.maybe('reopen', (suppressed) =>
            logger.warn('cannot reopen the store yet; retrying', { path, err, freeBytes: free, retryInMs: backoff, suppressed }),
          );
          await this.sleep(backoff);
          backoff = Math.min(backoff * 2, RECOVERY_MAX_BACKOFF_MS);
          continue;
        }
        const failure = this.failure;
        this.failure = null;
        logger.info('disk space available again: store reopened and writable', {
          path,
          freeBytes: free,
          unwritableForMs: failure === null ? 0 : this.now() - failure.since,
          failedWrites: failure?.failedWrites ?? 0,
        });
        this.options.onRecovered();
        return;
      }
    } finally {
      this.loop = null;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
