/**
 * Who holds a LevelDB directory's LOCK, without taking it: LevelDB locks `<dir>/LOCK` with
 * fcntl, which Linux lists in /proc/locks. Opening the database to find out is no option
 * where the point is to touch nothing first (repair, the open-time preflight).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export type LockState = { held: false } | { held: true; pid: number | null } | { held: 'unknown'; reason: string };

/** Linux dev_t → major, minor (glibc's gnu_dev_major/minor). */
function devParts(dev: number): { major: number; minor: number } {
  const big = BigInt(dev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

export async function lockState(dir: string, procLocks = '/proc/locks'): Promise<LockState> {
  let lockFile;
  try {
    lockFile = await stat(join(dir, 'LOCK'));
  } catch (err) {
    // No LOCK file: nobody has opened it as a LevelDB (or it is not one).
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { held: false };
    return { held: 'unknown', reason: (err as Error).message };
  }
  let table: string;
  try {
    table = await readFile(procLocks, 'utf8');
  } catch (err) {
    return { held: 'unknown', reason: `cannot read ${procLocks}: ${(err as Error).message}` };
  }
  const { major, minor } = devParts(lockFile.dev);
  for (const line of table.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 25803 fe:00:2155353 0 EOF" (a "->" marks a blocked waiter)
    const fields = line.trim().split(/\s+/);
    if (fields.includes('->')) continue;
    const where = fields.find((f) => /^[0-9a-f]+:[0-9a-f]+:\d+$/.test(f));
    if (where === undefined) continue;
    const [maj, min, inode] = where.split(':') as [string, string, string];
    if (Number(inode) !== lockFile.ino || parseInt(maj, 16) !== major || parseInt(min, 16) !== minor) continue;
    const pid = Number(fields[fields.indexOf(where) - 1]);
    return { held: true, pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null };
  }
  return { held: false };
}
