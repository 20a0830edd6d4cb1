/**
 * How a log record becomes a line: JSON for journald and log shippers, or a short human line
 * for someone watching a terminal (`12:00:01 INFO  connected to broker broker=host:8883`).
 */
export type LogFormat = 'json' | 'text';
/** As configured: `auto` picks text when stdout is a terminal, JSON otherwise (systemd, pipes). */
export type LogFormatSetting = LogFormat | 'auto';

export interface LogRecord {
  time: Date;
  level: string;
  msg: string;
  /** The line's own fields, then the logger's base fields; JSON puts the base fields first. */
  fields: Readonly<Record<string, unknown>>;
  base: Readonly<Record<string, unknown>>;
}

export function resolveLogFormat(setting: LogFormatSetting, stdoutIsTTY: boolean): LogFormat {
  if (setting === 'auto') return stdoutIsTTY ? 'text' : 'json';
  return setting;
}

export function formatJson(record: LogRecord): string {
  return `${JSON.stringify({ time: record.time.toISOString(), level: record.level, msg: record.msg, ...record.base, ...record.fields })}\n`;
}

/** A value that needs no quoting in `key=value`: no blanks, quotes, `=` or control characters. */
const BARE = /^[^\s"'=\\\p{Cc}]+$/u;

function textValue(value: unknown): string {
  if (typeof value === 'string') return BARE.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) return String(value);
  // undefined is skipped by the caller; functions and symbols have no JSON form.
  return JSON.stringify(value) ?? typeof value;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

export function formatText(record: LogRecord): string {
  const t = record.time;
  const clock = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}`;
  // The message may span lines (a stack, a multi-line broker reason); one record stays one line.
  let line = `${clock} ${record.level.toUpperCase().padEnd(5)} ${record.msg.replace(/\r?\n/g, ' ⏎ ')}`;
  const own = Object.entries(record.fields);
  const base = Object.entries(record.base).filter(([key]) => !Object.hasOwn(record.fields, key));
  for (const [key, value] of [...own, ...base]) {
    if (value === undefined) continue;
    line += ` ${key}=${textValue(value)}`;
  }
  return `${line}\n`;
}
