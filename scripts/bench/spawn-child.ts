/** Runs one scenario in `node child.js` and returns its ChildResult. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildResult, Scenario } from './types.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));
const live = new Set<ChildProcess>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export interface RunChildOptions {
  /** Backlog: called when the child has filled its store; bring the broker up here. */
  onFilled?: () => Promise<void>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

export function runChild(scenario: Scenario, opts: RunChildOptions = {}): Promise<ChildResult> {
  installExitHook();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CHILD, JSON.stringify(scenario)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  let hookError: unknown;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
  child.on('message', (msg: ChildMessage) => {
    if (msg.type !== 'filled' || opts.onFilled === undefined) return;
    opts.onFilled().catch((err: unknown) => {
      hookError = err;
      child.kill('SIGKILL');
    });
  });
  const limit = scenario.timeoutMs + 15_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), limit);
  return new Promise<ChildResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const what = `${scenario.client} ${scenario.workload} n=${scenario.n}`;
      if (hookError !== undefined) {
        reject(new Error(`${what}: ${hookError instanceof Error ? hookError.message : JSON.stringify(hookError)}`));
        return;
      }
      const line = stdout.trim().split('\n').pop() ?? '';
      let parsed: { result?: ChildResult; error?: string } = {};
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        // Reported below with the exit status and stderr.
      }
      if (parsed.result !== undefined) resolve(parsed.result);
      else {
        const why = parsed.error ?? `exit ${code ?? signal}${signal === 'SIGKILL' ? ` (killed after ${limit} ms?)` : ''}`;
        reject(new Error(`${what}: ${why}${stderr ? `\n--- stderr ---\n${stderr}` : ''}`));
      }
    });
  });
}
