/**
 * Looks at the store directory before LevelDB opens it, for the cases where opening would
 * silently destroy data:
 * - LevelDB files but no CURRENT: LevelDB would start an empty database and delete every
 *   table. The store refuses to open instead (repair can rebuild CURRENT).
 * - Table files the MANIFEST does not reference: LevelDB deletes them at open. Usually they
 *   are the output of a compaction cut short by a crash, but they may be anything: they are
 *   moved to `lost/` (where LevelDB's repair puts what it cannot use) and logged.
 * - A write-ahead log with unreadable records (garbage, or a write torn by a power cut):
 *   LevelDB keeps the records it can read, drops the rest and deletes the file. A copy goes
 *   to `lost/` first, and a warning says so.
 * Only when no other process holds the store: a running agent's compaction output is
 * legitimately unreferenced for a moment. `lost/` is kept under LOST_LIMIT_BYTES, oldest
 * first, with a log line per file, so crashes over months cannot fill the disk with it.
 */
import { copyFile, mkdir, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observe/logger.js';
import { OutboxOpenError, RECOVERY_HINT } from './errors.js';
import { lockState } from './lock.js';
import { liveTables, logProblem } from './manifest.js';

const TABLE = /^(\d+)\.(ldb|sst)$/;
export const LOST_LIMIT_BYTES = 16 * 1024 * 1024;
const DATA_FILE = /^(\d+\.(ldb|sst|log)|MANIFEST-\d+)$/;
const LOG_FILE = /^\d+\.log$/;

async function list(dir: string): Promise<string[] | null> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Throws OutboxOpenError when opening would lose data; moves unreferenced tables aside. */
export async function preflight(path: string, logger: Logger): Promise<void> {
  const names = await list(path);
  if (names === null) return;
  if (!names.includes('CURRENT')) {
    const data = names.filter((n) => DATA_FILE.test(n));
    if (data.length === 0) return;
    throw new OutboxOpenError(
      'OUTBOX_DAMAGED',
      path,
      `store.path ${path} holds LevelDB files (${data.slice(0, 5).join(', ')}${data.length > 5 ? ', …' : ''}) but no CURRENT file; ` +
        `opening it would start an empty store and delete them. ${RECOVERY_HINT(path)}`,
      undefined,
    );
  }
  const current = (await readFile(join(path, 'CURRENT'), 'utf8').catch(() => '')).trim();
  // A CURRENT LevelDB cannot use makes the open fail with LevelDB's own message: nothing to do here.
  if (!/^MANIFEST-\d+$/.test(current) || !names.includes(current)) return;
  const live = liveTables(await readFile(join(path, current)));
  const unreferenced = live === null ? [] : names.filter((n) => {
    const m = TABLE.exec(n);
    return m !== null && !live.has(Number(m[1]));
  });
  const badLogs: Array<{ name: string; problem: string }> = [];
  for (const name of names.filter((n) => LOG_FILE.test(n))) {
    const problem = logProblem(await readFile(join(path, name)));
    if (problem !== null) badLogs.push({ name, problem });
  }
  if (unreferenced.length === 0 && badLogs.length === 0) return;
  // A running agent's files are its own business (and a compaction output is unreferenced for a moment).
  if ((await lockState(path)).held !== false) return;
  const lost = join(path, 'lost');
  await mkdir(lost, { recursive: true });
  if (unreferenced.length > 0) {
    for (const name of unreferenced) await rename(join(path, name), join(lost, name));
    logger.warn('table files the store does not reference were moved to lost/ instead of being deleted (usually left by a crash mid-compaction)', {
      path,
      files: unreferenced,
    });
  }
  for (const { name, problem } of badLogs) {
    await copyFile(join(path, name), join(lost, name));
    logger.warn('write-ahead log with unreadable records: LevelDB keeps the records it can read and drops the rest; a copy of the file is in lost/', {
      path,
      file: name,
      problem,
    });
  }
  await trimLost(lost, logger);
}

async function trimLost(dir: string, logger: Logger): Promise<void> {
  const files = [];
  for (const name of await readdir(dir)) {
    const s = await stat(join(dir, name)).catch(() => null);
    if (s?.isFile() === true) files.push({ name, size: s.size, mtime: s.mtimeMs });
  }
  files.sort((a, b) => a.mtime - b.mtime);
  let total = files.reduce((sum, f) => sum + f.size, 0);
  for (const file of files) {
    if (total <= LOST_LIMIT_BYTES) return;
    await unlink(join(dir, file.name));
    total -= file.size;
    logger.warn('deleted the oldest file in lost/ to keep it under 16 MB', { file: join(dir, file.name), bytes: file.size });
  }
}
