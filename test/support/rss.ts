/**
 * Samples a child process's resident memory from /proc while a scenario runs, to check that
 * memory stays bounded whatever the backlog (Linux only, as is the agent's target).
 */
import { readFile } from 'node:fs/promises';

export interface RssSampler {
  /** Largest sample so far, in MiB (0 before the first sample). */
  readonly maxMiB: number;
  readonly samples: ReadonlyArray<{ at: number; mib: number }>;
  stop(): void;
}

async function readRssMiB(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? null : Number(kib) / 1024;
  } catch {
    return null; // the process is gone (killed by the scenario): no sample
  }
}

/** `pid` may change (a restarted agent): pass a function returning the current one. */
export function sampleRss(pid: () => number | undefined, intervalMs = 250): RssSampler {
  const samples: Array<{ at: number; mib: number }> = [];
  let maxMiB = 0;
  let busy = false;
  const timer = setInterval(() => {
    const current = pid();
    if (current === undefined || busy) return;
    busy = true;
    void readRssMiB(current).then((mib) => {
      busy = false;
      if (mib === null) return;
      samples.push({ at: Date.now(), mib });
      maxMiB = Math.max(maxMiB, mib);
    });
  }, intervalMs);
  timer.unref();
  return {
    get maxMiB() {
      return maxMiB;
    },
    samples,
    stop: () => clearInterval(timer),
  };
}
