/**
 * What the libgpiod tools print, parsed. Pure functions: the tools' output is outside input, so
 * anything unexpected yields `undefined` (counted by the caller), never an exception.
 */

export type Level = 0 | 1;

/** One edge reported by gpiomon. */
export interface MonitorEvent {
  rising: boolean;
  /** The kernel's event timestamp in ms (CLOCK_MONOTONIC by default), when the line carried one. */
  atMs?: number;
}

/**
 * The format we ask gpiomon for. Edge first, then the timestamp:
 * v1 `%e %s %n` → `1 1234 567` (%e: 1 rising, 0 falling; seconds and unpadded nanoseconds),
 * v2 `%e %S`    → `1 1234.000000567` (%e: 1 rising, 2 falling).
 */
const OUR_FORMAT = /^(rising|falling|[012])(?:\s+(\d{1,12})(?:\.(\d{9})|\s+(\d{1,9}))?)?\s*$/i;
/** v1's default: `event:  RISING EDGE offset: 17 timestamp: [    1234.000000567]`. */
const V1_DEFAULT = /^event:\s*(RISING|FALLING) EDGE\s+offset:\s*\d+\s+timestamp:\s*\[\s*(\d{1,12})\.(\d{9})\]\s*$/i;
/** v2's default: `1234.000000567\trising\tgpiochip0 17` (the line id may be a quoted name). */
const V2_DEFAULT = /^(\d{1,12})\.(\d{9})\s+(rising|falling)\s+\S.*$/i;

const toMs = (seconds: string, nanos: string | undefined): number => Number(seconds) * 1_000 + Number(nanos ?? '0') / 1e6;

/** One line of gpiomon output; undefined when it is not an event we understand. */
export function parseMonitorLine(line: string): MonitorEvent | undefined {
  const ours = OUR_FORMAT.exec(line.trim());
  if (ours !== null) {
    const [, edge = '', seconds, padded, unpadded] = ours;
    const rising = edge === '1' || edge.toLowerCase() === 'rising';
    return seconds === undefined ? { rising } : { rising, atMs: toMs(seconds, padded ?? unpadded) };
  }
  const v1 = V1_DEFAULT.exec(line.trim());
  if (v1 !== null) {
    const [, edge = '', seconds = '0', nanos] = v1;
    return { rising: edge.toUpperCase() === 'RISING', atMs: toMs(seconds, nanos) };
  }
  const v2 = V2_DEFAULT.exec(line.trim());
  if (v2 !== null) {
    const [, seconds = '0', nanos, edge = ''] = v2;
    return { rising: edge.toLowerCase() === 'rising', atMs: toMs(seconds, nanos) };
  }
  return undefined;
}

/**
 * gpioget's answer for one line: v1 prints `0`/`1`; v2 prints `"17"=active` (or `17=inactive`
 * with --unquoted, or `1` with --numeric).
 */
export function parseGetOutput(output: string): Level | undefined {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length !== 1) return undefined;
  const match = /^(?:(?:"[^"]*"|[^\s"=]+)=)?(active|inactive|0|1)$/.exec(lines[0] ?? '');
  if (match === null) return undefined;
  return match[1] === 'active' || match[1] === '1' ? 1 : 0;
}

/** The libgpiod major version from `gpiomon --version` (`gpiomon (libgpiod) v1.6.3`). */
export function parseToolVersion(output: string): { major: number; version: string } | undefined {
  const match = /\(libgpiod\)\s+v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(output) ?? /\bv(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (match === null) return undefined;
  const [, major = '0', minor = '0', patch] = match;
  return { major: Number(major), version: `${major}.${minor}${patch === undefined ? '' : `.${patch}`}` };
}

/**
 * Splits a byte stream into lines, dropping (and counting) lines longer than `maxLength`, so a
 * tool that floods output without newlines cannot grow memory.
 */
export class LineSplitter {
  private partial = '';
  private skipping = false;
  overlong = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLength = 1_024,
  ) {}

  push(chunk: string): void {
    let text = this.partial + chunk;
    this.partial = '';
    for (;;) {
      const end = text.indexOf('\n');
      if (end < 0) break;
      const line = text.slice(0, end);
      text = text.slice(end + 1);
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      if (line.length > this.maxLength) this.overlong++;
      else this.onLine(line.replace(/\r$/, ''));
    }
    if (text.length > this.maxLength) {
      if (!this.skipping) this.overlong++;
      this.skipping = true;
    } else if (!this.skipping) {
      this.partial = text;
    }
  }
}
