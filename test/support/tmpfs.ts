/**
 * A small real filesystem for disk-full tests: a tmpfs the test fills with a filler file and
 * empties again. Mounted directly when this process may mount (root); otherwise the agent
 * runs inside `unshare -rm` with the tmpfs mounted in its own mount namespace, and the test
 * reaches the same files through /proc/<agent pid>/root. When neither works, `smallFs`
 * returns a reason to skip. Unmounted after the test, even when it fails.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { registerCleanup, type AfterHook } from './cleanup.js';
import { sleep } from './wait.js';

const run = promisify(execFile);
const FILLER = 'filler';
const TMPFS_MAGIC = 0x01021994;

// Last resort, like temp.ts: a run killed before its after-hooks must not leave mounts behind.
const mounted = new Set<string>();
let exitHookInstalled = false;
function trackMount(dir: string): void {
  mounted.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const d of mounted) {
      try {
        execFileSync('umount', ['-l', d]);
      } catch {
        // Already gone.
      }
    }
  });
}

export interface SmallFs {
  /** Where the filesystem is mounted, as the agent sees it: put store.path under it. */
  readonly mountPoint: string;
  /** Argv prefix for the agent (runAgent `wrap`), or undefined when mounted directly. */
  readonly wrap: string[] | undefined;
  /** Unshare mode: the agent's pid, so this process can reach its mount (/proc/<pid>/root). */
  attach(pid: number | undefined): void;
  /** Resolves once the tmpfs is reachable from here (unshare mode: once the agent mounted it). */
  ready(timeoutMs: number): Promise<void>;
  /** A path on the filesystem as this process reaches it. */
  path(...parts: string[]): string;
  freeBytes(): Promise<number>;
  /** Grows the filler so that about `leave` bytes stay free (0: until the filesystem is full). */
  fillLeaving(leave: number): Promise<void>;
  removeFiller(): Promise<void>;
}

async function canMount(dir: string, size: number): Promise<string | undefined> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message.trim() : String(err);
  }
}

async function unmount(dir: string): Promise<void> {
  // Cleanup hooks run in registration order, so the agent may still be running (its own
  // cleanup kills it later): retry briefly, then detach lazily, which always works.
  for (let i = 0; i < 3; i++) {
    try {
      await run('umount', [dir]);
      return;
    } catch {
      await sleep(100);
    }
  }
  await run('umount', ['-l', dir]).catch(() => undefined);
}

async function unshareWorks(): Promise<string | undefined> {
  try {
    await run('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /tmp && true']);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message.trim() : String(err);
  }
}

/** Writes zeros in 1 MiB chunks; stops quietly at ENOSPC (that is the point). */
async function grow(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'a');
  const chunk = Buffer.alloc(1024 * 1024);
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      const n = Math.min(left, chunk.length);
      try {
        await handle.write(chunk, 0, n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw err;
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * A tmpfs of `sizeBytes`. `SENSORGATE_TEST_TMPFS=unshare` forces the unshare fallback (to
 * test it as root). Returns `{ skip }` with the reason when no way to mount works.
 */
export async function smallFs(sizeBytes: number, t: AfterHook): Promise<SmallFs | { skip: string }> {
  const base = await mkdtemp(join(tmpdir(), 'sensorgate-smallfs-'));
  const mountPoint = join(base, 'fs');
  await mkdir(mountPoint);
  const forced = process.env.SENSORGATE_TEST_TMPFS === 'unshare';
  const mountError = forced ? 'forced unshare mode' : await canMount(mountPoint, sizeBytes);
  let wrap: string[] | undefined;
  let agentPid: number | undefined;
  if (mountError === undefined) trackMount(mountPoint);
  registerCleanup(t, async () => {
    if (mountError === undefined) {
      await unmount(mountPoint);
      mounted.delete(mountPoint);
    }
    await rm(base, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  });
  if (mountError !== undefined) {
    const unshareError = await unshareWorks();
    if (unshareError !== undefined) return { skip: `cannot mount a tmpfs (${mountError}) and unshare -rm fails (${unshareError})` };
    wrap = ['unshare', '-rm', 'sh', '-c', `mount -t tmpfs -o size=${sizeBytes} tmpfs '${mountPoint}' && exec "$@"`, 'sh'];
  }
  const reach = (): string => {
    if (wrap === undefined) return mountPoint;
    if (agentPid === undefined) throw new Error('smallFs: attach(agent.pid) first (unshare mode)');
    return join(`/proc/${agentPid}/root`, mountPoint);
  };
  /** Never fill anything but our own small tmpfs (not the disk under the mount point). */
  const ourTmpfs = async (): Promise<boolean> => {
    try {
      const s = await statfs(reach());
      return s.type === TMPFS_MAGIC && s.blocks * s.bsize <= sizeBytes;
    } catch {
      return false;
    }
  };
  return {
    mountPoint,
    wrap,
    attach(pid) {
      agentPid = pid;
    },
    async ready(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!(await ourTmpfs())) {
        if (Date.now() > deadline) throw new Error(`the ${sizeBytes}-byte tmpfs at ${mountPoint} did not appear within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    path: (...parts) => join(reach(), ...parts),
    async freeBytes() {
      const s = await statfs(reach());
      return s.bavail * s.bsize;
    },
    async fillLeaving(leave) {
      if (!(await ourTmpfs())) throw new Error(`refusing to fill ${reach()}: not the ${sizeBytes}-byte tmpfs`);
      const s = await statfs(reach());
      const free = s.bavail * s.bsize;
      await grow(join(reach(), FILLER), leave === 0 ? free + 1024 * 1024 : Math.max(0, free - leave));
    },
    async removeFiller() {
      await rm(join(reach(), FILLER), { force: true });
    },
  };
}
