/**
 * Runs a Source in-process against a recording SourceContext: every emitted reading and every
 * log line is kept for assertions, emits can be slowed or made to fail, and the source is
 * stopped (and awaited) at test end even when the test fails.
 */
import type { LogFields, Logger } from '../../src/observe/logger.js';
import type { Reading } from '../../src/pipeline/reading.js';
import type { Source, SourceContext, SourceStateValues } from '../../src/sources/source.js';
import { registerCleanup } from './cleanup.js';
import type { AfterHook } from './cleanup.js';
import { waitUntil, withTimeout } from './wait.js';

export interface RecordedLog {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: LogFields;
  at: number;
}

export interface RunningSource {
  readonly readings: readonly Reading[];
  /** Readings per emit call, in order. */
  readonly emits: ReadonlyArray<readonly Reading[]>;
  readonly logs: readonly RecordedLog[];
  /** Settles when run() does. */
  readonly done: Promise<void>;
  /** Resolves with the readings once at least `n` have been emitted. */
  waitForReadings(n: number, timeoutMs: number): Promise<readonly Reading[]>;
  /** The first log line (index ≥ since) whose msg contains `msg`. */
  waitForLog(msg: string, timeoutMs: number, opts?: { since?: number }): Promise<RecordedLog>;
  countLogs(msg: string): number;
  /** Aborts the signal and waits for run() to return. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface RunSourceOptions {
  t?: AfterHook;
  /** Each emit waits this long before "committing" (a slow store). */
  emitDelayMs?: number;
  /** Makes an emit fail (a failed commit). */
  emitError?: (readings: readonly Reading[]) => Error | undefined;
  initialState?: SourceStateValues;
}

function recordingLogger(logs: RecordedLog[], base: LogFields = {}): Logger {
  const record =
    (level: RecordedLog['level']) =>
    (msg: string, fields?: LogFields): void => {
      logs.push({ level, msg, fields: { ...base, ...fields }, at: Date.now() });
    };
  return {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    child: (fields) => recordingLogger(logs, { ...base, ...fields }),
  };
}

export function runSource(source: Source, options: RunSourceOptions = {}): RunningSource {
  const readings: Reading[] = [];
  const emits: Reading[][] = [];
  const logs: RecordedLog[] = [];
  const controller = new AbortController();
  const context: SourceContext = {
    async emit(reading) {
      const batch = Array.isArray(reading) ? [...(reading as readonly Reading[])] : [reading as Reading];
      if (options.emitDelayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.emitDelayMs));
      const error = options.emitError?.(batch);
      if (error !== undefined) throw error;
      emits.push(batch);
      readings.push(...batch);
    },
    initialState: options.initialState ?? {},
    logger: recordingLogger(logs),
    signal: controller.signal,
  };
  const done = source.run(context);
  // Observed here so a rejection is never unhandled; tests await `done` to see it.
  done.catch(() => undefined);
  const find = (msg: string, since: number): RecordedLog | undefined => logs.slice(since).find((l) => l.msg.includes(msg));
  const running: RunningSource = {
    readings,
    emits,
    logs,
    done,
    waitForReadings: (n, timeoutMs) =>
      waitUntil(() => readings.length >= n && readings, timeoutMs, `${n} readings`, {
        detail: () => `${readings.length} readings so far: ${JSON.stringify(readings.slice(-5).map((r) => r.fields))}\nlogs:\n${logs.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`).join('\n')}`,
      }),
    waitForLog: (msg, timeoutMs, opts = {}) =>
      waitUntil(() => find(msg, opts.since ?? 0), timeoutMs, `log "${msg}"`, {
        detail: () => logs.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`).join('\n'),
      }),
    countLogs: (msg) => logs.filter((l) => l.msg.includes(msg)).length,
    async stop(timeoutMs = 5_000) {
      controller.abort();
      await withTimeout(done.catch(() => undefined), timeoutMs, `source ${source.name} to stop`);
    },
  };
  registerCleanup(options.t, () => running.stop());
  return running;
}
