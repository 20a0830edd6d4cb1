/**
 * Runs the real agent binary (dist/src/cli.js) as a child process, the way systemd would,
 * and captures its JSON-lines log for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { registerCleanup, trackChild, type AfterHook } from './cleanup.js';
import { exitPromise, isRunning, terminate, type ExitInfo } from './proc.js';
import { TimeoutError, withTimeout } from './wait.js';

/** Compiled to dist/test/support/cli.js: the project root is three levels up. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI_PATH = join(PROJECT_ROOT, 'dist', 'src', 'cli.js');

export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: string;
  /** The parsed line when it is a JSON object (the agent's structured log). */
  json: Record<string, unknown> | undefined;
  at: number;
}

export type LogMatcher = string | ((entry: LogLine) => boolean);

export interface RunAgentOptions {
  configPath: string;
  env?: Record<string, string | undefined>;
  args?: string[];
  cwd?: string;
  /** Script to run instead of dist/src/cli.js (support self-tests use a stand-in). */
  entry?: string;
  /** Command to run node under, e.g. `unshare -rm sh -c '… && exec "$@"' sh`. */
  wrap?: readonly string[];
  t?: AfterHook;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  readonly exited: Promise<ExitInfo>;
  readonly running: boolean;
  /** Every line so far, both streams, in arrival order. */
  readonly lines: readonly LogLine[];
  /**
   * First line (index ≥ `since`, default 0) matching a substring or predicate. Rejects on
   * timeout, or as soon as the process exits without printing it.
   */
  waitForLog(matcher: LogMatcher, timeoutMs: number, opts?: { since?: number }): Promise<LogLine>;
  /** Signal, wait up to timeoutMs (default 10 s), then SIGKILL and throw. Returns the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  kill9(): Promise<ExitInfo>;
  /** All captured output as text. */
  output(): string;
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function toPredicate(matcher: LogMatcher): (entry: LogLine) => boolean {
  return typeof matcher === 'string' ? (entry) => entry.line.includes(matcher) : matcher;
}

function mergedEnv(env: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env ?? {})) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  return merged;
}

class AgentChild implements AgentProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<ExitInfo>;
  private readonly wakers = new Set<() => void>();
  // Set on 'close', which follows the last line of both pipes (unlike 'exit').
  private ended = false;

  constructor(readonly child: ChildProcess) {
    trackChild(child);
    this.exited = exitPromise(child);
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    child.once('close', end);
    child.once('error', end);
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (!source) continue;
      createInterface({ input: source, crlfDelay: Infinity }).on('line', (line) => {
        this.lines.push({ stream, line, json: parseJsonLine(line), at: Date.now() });
        this.wake();
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get running(): boolean {
    return isRunning(this.child);
  }

  output(): string {
    return this.lines.map((l) => (l.stream === 'stderr' ? `[stderr] ${l.line}` : l.line)).join('\n');
  }

  async waitForLog(matcher: LogMatcher, timeoutMs: number, opts: { since?: number } = {}): Promise<LogLine> {
    const predicate = toPredicate(matcher);
    const what = typeof matcher === 'string' ? JSON.stringify(matcher) : 'matching log line';
    let from = opts.since ?? 0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (; from < this.lines.length; from++) {
        const entry = this.lines[from];
        if (entry && predicate(entry)) return entry;
      }
      if (this.ended) throw new Error(`agent exited before logging ${what}\n${this.tail()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      await this.nextLine(remaining);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    const { exit, forced } = await terminate(this.child, this.exited, signal, timeoutMs);
    if (forced) throw new Error(`agent did not exit within ${timeoutMs} ms of ${signal}; killed\n${this.tail()}`);
    return exit.code;
  }

  async kill9(): Promise<ExitInfo> {
    return (await terminate(this.child, this.exited, 'SIGKILL', 5000)).exit;
  }

  private tail(n = 30): string {
    const shown = this.lines.slice(-n).map((l) => (l.stream === 'stderr' ? `[stderr] ${l.line}` : l.line));
    return `last ${shown.length} of ${this.lines.length} line(s):\n${shown.join('\n')}`;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  private nextLine(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.wakers.add(done);
    });
  }
}

/** Starts `sensorgate run --config FILE`; killed (SIGKILL) at test end if still running. */
export function runAgent(opts: RunAgentOptions): AgentProcess {
  const args = [opts.entry ?? CLI_PATH, 'run', '--config', opts.configPath, ...(opts.args ?? [])];
  const [command, ...prefix] = opts.wrap === undefined ? [process.execPath] : [...opts.wrap, process.execPath];
  const child = spawn(command ?? process.execPath, [...prefix, ...args], {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: mergedEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const agent = new AgentChild(child);
  registerCleanup(opts.t, async () => {
    if (agent.running) await agent.kill9();
  });
  return agent;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One-shot command (check, --help, --version). Kills the child and rejects on timeout. */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; timeoutMs?: number; cwd?: string; entry?: string } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [opts.entry ?? CLI_PATH, ...args], {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: mergedEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const exited = exitPromise(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  // 'close' (not 'exit') guarantees both pipes are drained.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const timeoutMs = opts.timeoutMs ?? 15_000;
  try {
    await withTimeout(closed, timeoutMs, `sensorgate ${args.join(' ')}`);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    const message = e instanceof Error ? e.message : String(e);
    throw new TimeoutError(
      `${message}\nstdout:\n${Buffer.concat(out).toString()}\nstderr:\n${Buffer.concat(err).toString()}`,
    );
  }
  const { code, signal } = await exited;
  return { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** Writes `config` as YAML (default) or JSON into `dir`; returns the path. */
export async function writeConfig(
  dir: string,
  config: unknown,
  opts: { format?: 'yaml' | 'json'; name?: string } = {},
): Promise<string> {
  const format = opts.format ?? 'yaml';
  const path = join(dir, opts.name ?? `sensorgate.${format === 'yaml' ? 'yaml' : 'json'}`);
  const text = format === 'yaml' ? stringify(config) : `${JSON.stringify(config, null, 2)}\n`;
  await writeFile(path, text);
  return path;
}
