/**
 * LevelDB's own bookkeeping files grow for as long as the database stays open: LOG (its
 * info log, a few lines per flush and compaction) and the MANIFEST (one record per table
 * added or removed). Neither shrinks until the next open, which starts a fresh MANIFEST and
 * rotates LOG to LOG.old. Under a months-long outage with drop-oldest they would outgrow
 * the store itself, so the outbox reopens the database when they get large.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** LOG or MANIFEST above this triggers a reopen. LOG.old keeps at most one more LOG's worth. */
export const BOOKKEEPING_LIMIT_BYTES = 256 * 1024;
export const BOOKKEEPING_CHECK_MS = 10_000;

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Sizes of LOG and of the MANIFEST that CURRENT names (0 for what cannot be read). */
export async function bookkeepingSizes(dir: string): Promise<{ log: number; manifest: number }> {
  let manifest = 0;
  try {
    const current = (await readFile(join(dir, 'CURRENT'), 'utf8')).trim();
    if (/^MANIFEST-\d+$/.test(current)) manifest = await sizeOf(join(dir, current));
  } catch {
    // No CURRENT: nothing to measure; LevelDB itself will complain at the next open.
  }
  return { log: await sizeOf(join(dir, 'LOG')), manifest };
}

/** Bytes in LevelDB's write-ahead logs (*.log): what an open writes out again as a table. */
export async function logFileBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) if (/^\d+\.log$/.test(name)) total += await sizeOf(join(dir, name));
  return total;
}

/** Decides, at most once per interval, whether LevelDB's bookkeeping files call for a reopen. */
export class BookkeepingWatch {
  private lastCheckAt = -Infinity;
  private checking = false;
  private due = false;

  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** True once a check found LOG or MANIFEST over the limit; reset by done(). */
  get reopenDue(): boolean {
    return this.due;
  }

  /** Cheap to call per batch: starts a check only when the last one is old enough. */
  poll(): void {
    if (this.checking || this.due || this.now() - this.lastCheckAt < BOOKKEEPING_CHECK_MS) return;
    this.lastCheckAt = this.now();
    this.checking = true;
    void bookkeepingSizes(this.dir)
      .then(({ log, manifest }) => {
        if (log > BOOKKEEPING_LIMIT_BYTES || manifest > BOOKKEEPING_LIMIT_BYTES) this.due = true;
      })
      .finally(() => {
        this.checking = false;
      });
  }

  done(): void {
    this.due = false;
    this.lastCheckAt = this.now();
  }
}
