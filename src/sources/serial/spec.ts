/** What a serial source is configured with (the resolved config entry, minus `type`). */
import type { FieldSpecs } from '../fields.js';
import type { ParserSpec } from './parsers/index.js';

export const PARITIES = ['none', 'even', 'odd'] as const;
export const DATA_BITS = [5, 6, 7, 8] as const;
export const STOP_BITS = [1, 1.5, 2] as const;

export interface SerialPortSettings {
  /** /dev/ttyUSB0, or better a stable /dev/serial/by-id/... link. */
  path: string;
  baudRate: number;
  dataBits: (typeof DATA_BITS)[number];
  parity: (typeof PARITIES)[number];
  stopBits: (typeof STOP_BITS)[number];
  /** Hardware flow control. */
  rtscts: boolean;
}

export interface PollSpec {
  /** As written in the config; escapes (\r \n \t \0 \\ \xHH) are decoded by the source (and checked by the config). */
  command: string;
  everyMs: number;
  /** How long to wait for the one reply line. */
  timeoutMs: number;
}

export interface SerialSourceSpec extends SerialPortSettings {
  name: string;
  /** Longest line kept, in bytes; longer ones are discarded. */
  maxLineLength: number;
  parser: ParserSpec;
  /** Per-field rename, scale, offset, unit, type, keyed by the name the parser gives. */
  fields: FieldSpecs;
  /** Request/response: write `command` every `everyMs`, read one reply line. Absent: the device talks by itself. */
  poll?: PollSpec;
}
