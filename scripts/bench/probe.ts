/** In-child measurement: RSS sampling by phase, /proc/self/io, CPU time. */
import { readFileSync } from 'node:fs';
import type { IoCounters } from './types.js';

const MB = 1024 * 1024;

/** Samples process RSS every `intervalMs` and keeps the peak per named phase. */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private phase = 'setup';
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 50) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  /** heapUsed right after a full GC at the 'stop' boundary; only with node --expose-gc. */
  liveHeapAtStopMb: number | undefined;

  /** Switches phase; takes one sample at the boundary for both phases. */
  enter(phase: string): void {
    this.sample();
    this.phase = phase;
    this.sample();
    const gc = (globalThis as { gc?: () => void }).gc;
    if (phase === 'stop' && gc !== undefined) {
      gc();
      this.liveHeapAtStopMb = round1(process.memoryUsage().heapUsed / MB);
    }
  }

  /** Peaks over the whole run of V8 heap (committed) and of memory outside it (Buffers, LevelDB). */
  heapTotalPeak = 0;
  externalPeak = 0;

  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > (this.peaks.get(this.phase) ?? 0)) this.peaks.set(this.phase, m.rss);
    this.heapTotalPeak = Math.max(this.heapTotalPeak, m.heapTotal);
    this.externalPeak = Math.max(this.externalPeak, m.external);
  }

  heapPeaksMb(): { heapTotalPeakMb: number; externalPeakMb: number; liveHeapAtStopMb?: number } {
    return { heapTotalPeakMb: round1(this.heapTotalPeak / MB), externalPeakMb: round1(this.externalPeak / MB), liveHeapAtStopMb: this.liveHeapAtStopMb };
  }

  peakMb(phase?: string): number {
    if (phase !== undefined) return round1((this.peaks.get(phase) ?? 0) / MB);
    return round1(Math.max(0, ...this.peaks.values()) / MB);
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

export function rssMb(): number {
  return round1(process.memoryUsage.rss() / MB);
}

/** /proc/self/io, or null where the kernel does not provide it (non-Linux, no task accounting). */
export function readIo(): IoCounters | null {
  let text: string;
  try {
    text = readFileSync('/proc/self/io', 'utf8');
  } catch {
    return null;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text);
    return m?.[1] === undefined ? 0 : Number(m[1]);
  };
  return { wchar: field('wchar'), syscw: field('syscw'), writeBytes: field('write_bytes') };
}

export function ioDelta(before: IoCounters | null, after: IoCounters | null): IoCounters | null {
  if (before === null || after === null) return null;
  return {
    wchar: after.wchar - before.wchar,
    syscw: after.syscw - before.syscw,
    writeBytes: after.writeBytes - before.writeBytes,
  };
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every `everyMs` until true; rejects after `timeoutMs` with `what` and `detail()`. */
export async function pollUntil(cond: () => boolean, timeoutMs: number, what: string, detail: () => string, everyMs = 2): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${detail()})`);
    await sleep(everyMs);
  }
}
