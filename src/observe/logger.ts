/**
 * Structured logger: JSON lines, or short human lines at a terminal (see log-format.ts). Tiny
 * on purpose: the agent logs a few lines a minute in steady state, and a worker-thread logging
 * stack costs more RSS on a Pi than it saves.
 */
import { formatJson, formatText } from './log-format.js';
import type { LogFormat } from './log-format.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; defaults to stdout. */
  write?: (line: string) => void;
  /** Fields added to every line. */
  base?: LogFields;
  /** Default json. */
  format?: LogFormat;
  /**
   * Values that must never reach a log (the broker password): masked wherever they appear in a
   * message or field, as a second line of defence behind never logging them at all.
   */
  secrets?: ReadonlyArray<string | undefined>;
}

export const REDACTED = '********';
/** Fields named like this (password, mqttPassword, clientSecret) are masked whatever their value. */
const SECRET_KEY = /(password|passphrase|secret)$/i;
/** Shorter secrets are masked only where a whole value equals them: masking "ab" inside words would garble every line. */
const MIN_SCRUB_LENGTH = 4;
const MAX_SCRUB_DEPTH = 4;

function scrub(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') {
    let text = value;
    for (const secret of secrets) {
      if (text === secret) return REDACTED;
      if (secret.length >= MIN_SCRUB_LENGTH) text = text.replaceAll(secret, REDACTED);
    }
    return text;
  }
  if (typeof value !== 'object' || value === null || depth >= MAX_SCRUB_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item: unknown) => scrub(item, secrets, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? REDACTED : scrub(v, secrets, depth + 1)]));
}

function serialiseError(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return code === undefined ? value.message : `${code}: ${value.message}`;
  }
  return value;
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVEL_RANK[options.level];
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const base = options.base ?? {};
  const format = options.format === 'text' ? formatText : formatJson;
  const secrets = (options.secrets ?? []).filter((s): s is string => s !== undefined && s !== '');
  const safeBase = secrets.length === 0 ? base : (scrub(base, secrets) as LogFields);

  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < threshold) return;
    const own: Record<string, unknown> = {};
    if (fields) for (const [k, v] of Object.entries(fields)) own[k] = SECRET_KEY.test(k) ? REDACTED : serialiseError(v);
    write(
      format({
        time: new Date(),
        level,
        msg: secrets.length === 0 ? msg : (scrub(msg, secrets) as string),
        fields: secrets.length === 0 ? own : (scrub(own, secrets) as Record<string, unknown>),
        base: safeBase,
      }),
    );
  };

  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}

/** A logger that drops everything: for library use and unit tests that do not read logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/**
 * Lets one line per `intervalMs` through for a given key and counts the rest, so a noisy
 * condition (full store, garbage on a line) cannot flood an SD card with logs.
 */
export class RateLimitedLog {
  private readonly lastAt = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `log(suppressedSinceLast)` when allowed; returns whether it did. */
  maybe(key: string, log: (suppressed: number) => void): boolean {
    const t = this.now();
    const last = this.lastAt.get(key);
    if (last !== undefined && t - last < this.intervalMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
      return false;
    }
    const count = this.suppressed.get(key) ?? 0;
    this.lastAt.set(key, t);
    this.suppressed.delete(key);
    log(count);
    return true;
  }
}
