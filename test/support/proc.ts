/** Child-process plumbing shared by the broker launcher and the agent runner. */
import type { ChildProcess } from 'node:child_process';
import { withTimeout } from './wait.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Settles once; also covers spawn failures, which emit 'error' and may never emit 'exit'. */
export function exitPromise(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: child.exitCode, signal: child.signalCode }));
  });
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/**
 * Sends `signal`, waits up to `timeoutMs`, then SIGKILLs. `forced` tells the caller the
 * graceful path failed, which for a broker or agent is itself worth a test failure.
 */
export async function terminate(
  child: ChildProcess,
  exited: Promise<ExitInfo>,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<{ exit: ExitInfo; forced: boolean }> {
  if (!isRunning(child)) return { exit: await exited, forced: false };
  child.kill(signal);
  try {
    return { exit: await withTimeout(exited, timeoutMs, `pid ${child.pid} to exit on ${signal}`), forced: false };
  } catch {
    child.kill('SIGKILL');
    return { exit: await withTimeout(exited, 5000, `pid ${child.pid} to exit on SIGKILL`), forced: true };
  }
}

/** Keeps the newest `maxChars` of a stream so a chatty broker cannot exhaust test memory. */
export class LogBuffer {
  private chunks: string[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly maxChars = 2_000_000) {}

  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.maxChars && this.chunks.length > 1) {
      const first = this.chunks.shift() ?? '';
      this.size -= first.length;
      this.dropped += first.length;
    }
  }

  text(): string {
    const head = this.dropped > 0 ? `[... ${this.dropped} earlier characters dropped ...]\n` : '';
    return head + this.chunks.join('');
  }
}
