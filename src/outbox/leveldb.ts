/**
 * What the outbox needs from classic-level beyond the `level` typings: open options scaled
 * to the store bound, manual compaction and repair. The only module that knows them.
 */
import { Level } from 'level';
import type { Db } from './plan.js';

const KB = 1024;
const MB = 1024 * KB;

/** LevelDB's block cache. The outbox reads each message about once, so a big cache buys little. */
export const CACHE_BYTES = 2 * MB;
/** Write buffer and table file size when the store has no byte bound (LevelDB's defaults). */
const UNBOUNDED_WRITE_BUFFER = 4 * MB;
const UNBOUNDED_FILE = 2 * MB;
/** Floors: below these LevelDB flushes and compacts so often that CPU, not disk, is the cost. */
const MIN_WRITE_BUFFER = 256 * KB;
const MIN_FILE = 256 * KB;
/** A JSON reading of a few fields with its topic: what a store bounded by count is sized for. */
const ASSUMED_MESSAGE_BYTES = 128;

export interface LevelTuning {
  /** Memtable size; the write-ahead log on disk grows to about this much, and up to two are in memory. */
  writeBufferSize: number;
  /** Table file size: bounds how much one compaction step writes before it frees anything. */
  maxFileSize: number;
  cacheSize: number;
}

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, Math.floor(value)));

/**
 * The write-ahead log and the level-0 tables that pile up before a compaction are fixed
 * overheads on top of the stored bytes; scaling them to `maxBytes` keeps a small store small.
 * Small table files matter most under drop-oldest: LevelDB cuts a compaction's output file
 * once it overlaps 10 table files' worth of the next level, so a file holding both the
 * dropped end and the new end of the store (which spans everything in between) forces a
 * rewrite of at most that much rather than of the whole store. Measured: the directory peak
 * went from 2.2x to 1.4x maxBytes at 32 MB with files of maxBytes/64 instead of /8.
 */
export function levelTuning(limits: { maxBytes: number; maxMessages?: number; minFreeSpace?: number }): LevelTuning {
  const { maxMessages = 0, minFreeSpace = 0 } = limits;
  // With only a message bound, size the buffers as if each message were a typical reading.
  const bound = limits.maxBytes > 0 ? limits.maxBytes : maxMessages * ASSUMED_MESSAGE_BYTES;
  let writeBufferSize = bound > 0 ? clamp(bound / 8, MIN_WRITE_BUFFER, UNBOUNDED_WRITE_BUFFER) : UNBOUNDED_WRITE_BUFFER;
  let maxFileSize = bound > 0 ? clamp(bound / 64, MIN_FILE, UNBOUNDED_FILE) : UNBOUNDED_FILE;
  if (minFreeSpace > 0) {
    // The free-space guard checks between batches: one write-ahead log filling up, or one
    // compaction (up to 25 table files of temporary space), must fit in the reserve.
    writeBufferSize = Math.min(writeBufferSize, Math.max(MIN_WRITE_BUFFER, Math.floor(minFreeSpace / 4)));
    maxFileSize = Math.min(maxFileSize, Math.max(MIN_FILE, Math.floor(minFreeSpace / 32)));
  }
  return { writeBufferSize, maxFileSize, cacheSize: CACHE_BYTES };
}

/** Opens (creating if missing) the LevelDB directory at `path`. Errors are classic-level's. */
export async function openDb(path: string, tuning: LevelTuning): Promise<Db> {
  const db = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer', ...tuning });
  await db.open();
  return db;
}

interface ClassicLevelExtras {
  compactRange(start: string, end: string): Promise<void>;
  getProperty(property: string): string;
}

/** Tables at level 0: each flushed write buffer lands there until a compaction merges it down. */
export function level0Files(db: Db): number {
  try {
    const value = Number((db as unknown as ClassicLevelExtras).getProperty('leveldb.num-files-at-level0'));
    return Number.isFinite(value) ? value : 0;
  } catch {
    // Not open (being reopened): nothing to wait for.
    return 0;
  }
}

/** Compacts `[start, end]`: delete tombstones in the range go, and with them their disk space. */
export function compactRange(db: Db, start: string, end: string): Promise<void> {
  return (db as unknown as ClassicLevelExtras).compactRange(start, end);
}

/** LevelDB's RepairDB: rebuilds the MANIFEST from the table and log files it can read. */
export function repairDb(path: string): Promise<void> {
  return (Level as unknown as { repair(location: string): Promise<void> }).repair(path);
}
