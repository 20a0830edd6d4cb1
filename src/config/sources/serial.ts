/**
 * Config schema of `type: serial` sources: port settings, framing limit, parser, polling and
 * per-field transforms. Every rule the source relies on is checked here, so a bad regex or a
 * bad escape in a poll command is a field-named config error, not a runtime surprise.
 *
 * schema.ts hands in its shared field helpers (the source name rule, durations), so this
 * module does not import schema.ts back.
 */
import * as z from 'zod';
import { fieldNameProblem } from '../../sources/fields.js';
import { decodeEscapes } from '../../sources/serial/escapes.js';
import { DEFAULT_CSV_SEPARATOR } from '../../sources/serial/parsers/csv.js';
import { PARSER_TYPES } from '../../sources/serial/parsers/index.js';
import { DEFAULT_LINES_FIELD } from '../../sources/serial/parsers/lines.js';
import { NMEA_SENTENCES } from '../../sources/serial/parsers/nmea.js';
import { DATA_BITS, PARITIES, STOP_BITS } from '../../sources/serial/spec.js';
import type { PollSpec, SerialSourceSpec } from '../../sources/serial/spec.js';
import { formatDuration } from '../units.js';
import { sourcePublishSchema } from './publish.js';
import type { SourcePublishConfig } from './publish.js';
import { fieldName, fieldSpecsSchema } from './fields.js';

export interface SerialSourceConfig extends SerialSourceSpec {
  type: 'serial';
  publish?: SourcePublishConfig;
}

export const DEFAULT_SERIAL_BAUD_RATE = 9_600;
export const DEFAULT_SERIAL_DATA_BITS = 8;
export const DEFAULT_SERIAL_PARITY = 'none';
export const DEFAULT_SERIAL_STOP_BITS = 1;
export const DEFAULT_SERIAL_RTSCTS = false;
/** Far above any sensor line (an NMEA sentence is at most 82 bytes), small enough to bound memory. */
export const DEFAULT_SERIAL_MAX_LINE_LENGTH = 1_024;
export const DEFAULT_POLL_TIMEOUT_MS = 1_000;
export const DEFAULT_NMEA_SENTENCES = NMEA_SENTENCES;

const MAX_LINE_LENGTH = 65_536;
/** Beyond what USB-serial chips do; custom rates below it are tried as given. */
const MAX_BAUD_RATE = 4_000_000;
const BAUD_HINT = 'must be a positive integer baud rate, such as 9600, 19200, 38400, 57600 or 115200';
const REGEX_FLAGS = /^(?!.*(.).*\1)[imsu]*$/;

/** Helpers schema.ts shares with source schemas. */
export interface SourceSchemaHelpers {
  /** A valid source name (letters, digits, _ . -). */
  sourceName: z.ZodType<string, string>;
  /** A duration (number of seconds or `5s`-style text) → ms, at least `min`. */
  duration: (range: { min?: number }) => z.ZodType<number, number | string>;
}

/** A mapping that may be written empty (`T:` with nothing under it). */
const orEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => value ?? {}, schema);

const nonEmpty = () => z.string().min(1, { error: 'must not be empty' });

function baudRate() {
  return z
    .number({ error: BAUD_HINT })
    .int({ error: BAUD_HINT })
    .min(1, { error: BAUD_HINT })
    .max(MAX_BAUD_RATE, { error: `must be at most ${MAX_BAUD_RATE}` });
}

// ---------------------------------------------------------------------------------------------
// parser

const linesParser = z.strictObject({
  type: z.literal('lines'),
  field: fieldName().default(DEFAULT_LINES_FIELD),
});

const jsonParser = z.strictObject({ type: z.literal('json') });

const csvParser = z
  .strictObject({
    type: z.literal('csv'),
    columns: z
      .array(z.union([fieldName(), z.null()], { error: 'must be a field name, or null to skip the column' }), {
        error: (issue) => (issue.input === undefined ? 'is required when parser.type is csv' : 'must be a list of field names'),
      })
      .min(1, { error: 'must name at least one column' }),
    separator: nonEmpty().default(DEFAULT_CSV_SEPARATOR),
  })
  .superRefine(
    (csv, ctx) => {
      const seen = new Set<string>();
      csv.columns.forEach((name, i) => {
        if (name === null) return;
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['columns', i], message: `duplicate column name "${name}"` });
        seen.add(name);
      });
      if (csv.separator.includes('"')) ctx.addIssue({ code: 'custom', path: ['separator'], message: 'must not contain " (it quotes cells)' });
    },
  );

const kvParser = z.strictObject({
  type: z.literal('kv'),
  pairSeparator: nonEmpty().optional(),
  keyValueSeparator: nonEmpty().optional(),
});

/** Names of the named groups in `pattern`, or an error message. */
function namedGroups(pattern: string, flags: string): string[] | string {
  try {
    new RegExp(pattern, flags);
  } catch (err) {
    // "Invalid regular expression: /(/: Unterminated group" → "/(/: Unterminated group"
    return `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  // The empty alternative always matches, and `groups` then lists every named group.
  const match = new RegExp(`(?:${pattern})|`, flags).exec('');
  return Object.keys(match?.groups ?? {});
}

const regexParser = z
  .strictObject({
    type: z.literal('regex'),
    pattern: z.string({ error: (issue) => (issue.input === undefined ? 'is required when parser.type is regex' : 'must be a string') }),
    flags: z.string().regex(REGEX_FLAGS, { error: 'may only hold the flags i, m, s, u, each once' }).default(''),
  })
  .superRefine((regex, ctx) => {
    if (!REGEX_FLAGS.test(regex.flags)) return; // reported on flags
    const groups = namedGroups(regex.pattern, regex.flags);
    if (typeof groups === 'string') {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: groups });
    } else if (groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'needs at least one named group, like (?<temperature>-?[0-9.]+): each becomes a field' });
    } else {
      for (const name of groups) {
        const problem = fieldNameProblem(name);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['pattern'], message: `group name ${name}: ${problem}` });
      }
    }
  });

const nmeaParser = z.strictObject({
  type: z.literal('nmea'),
  sentences: z.array(z.enum(NMEA_SENTENCES)).min(1, { error: 'must name at least one sentence type' }).default([...DEFAULT_NMEA_SENTENCES]),
});

const parserSchema = z.discriminatedUnion('type', [linesParser, jsonParser, csvParser, kvParser, regexParser, nmeaParser], {
  error: (issue) => {
    if (issue.code !== 'invalid_union') return undefined;
    const input: unknown = issue.input;
    const given = typeof input === 'object' && input !== null ? (input as Record<string, unknown>).type : undefined;
    const known = PARSER_TYPES.join(', ');
    return given === undefined ? `is required (known: ${known})` : `unknown parser type ${JSON.stringify(given)} (known: ${known})`;
  },
});

// ---------------------------------------------------------------------------------------------
// poll

function pollSchema(helpers: SourceSchemaHelpers) {
  return z
    .strictObject({
      command: z
        .string({ error: (issue) => (issue.input === undefined ? 'is required (the bytes that ask the device for a reading)' : 'must be a string') })
        .min(1, { error: 'must not be empty' })
        .superRefine((command, ctx) => {
          const decoded = decodeEscapes(command);
          if (typeof decoded === 'string') ctx.addIssue({ code: 'custom', message: decoded });
        }),
      // The shared duration helper words a missing value as a format problem; say what is missing.
      every: z.custom<number | string>((value) => value !== undefined, { error: 'is required (how often to ask, like 10s)' }).pipe(helpers.duration({ min: 1 })),
      timeout: helpers.duration({ min: 1 }).default(DEFAULT_POLL_TIMEOUT_MS),
    })
    .superRefine((poll, ctx) => {
      if (poll.every < poll.timeout) {
        ctx.addIssue({ code: 'custom', path: ['every'], message: `must be at least poll.timeout (${formatDuration(poll.timeout)}): one command at a time` });
      }
    })
    .transform((poll): PollSpec => ({ command: poll.command, everyMs: poll.every, timeoutMs: poll.timeout }));
}

// ---------------------------------------------------------------------------------------------
// the source

export function serialSourceSchema(helpers: SourceSchemaHelpers) {
  return z
    .strictObject({
      type: z.literal('serial'),
      name: helpers.sourceName,
      path: z.string().refine((path) => path.startsWith('/'), {
        error: 'must be an absolute device path, like /dev/ttyUSB0 or (stable across replugs) /dev/serial/by-id/...',
      }),
      baudRate: baudRate().default(DEFAULT_SERIAL_BAUD_RATE),
      dataBits: z.literal(DATA_BITS, { error: 'must be 5, 6, 7 or 8' }).default(DEFAULT_SERIAL_DATA_BITS),
      parity: z.enum(PARITIES).default(DEFAULT_SERIAL_PARITY),
      stopBits: z.literal(STOP_BITS, { error: 'must be 1, 1.5 or 2' }).default(DEFAULT_SERIAL_STOP_BITS),
      rtscts: z.boolean().default(DEFAULT_SERIAL_RTSCTS),
      maxLineLength: z
        .number({ error: 'must be a whole number of bytes' })
        .int({ error: 'must be a whole number of bytes' })
        .min(16, { error: 'must be at least 16' })
        .max(MAX_LINE_LENGTH, { error: `must be at most ${MAX_LINE_LENGTH}` })
        .default(DEFAULT_SERIAL_MAX_LINE_LENGTH),
      parser: orEmpty(parserSchema),
      poll: z.preprocess((value) => value ?? undefined, pollSchema(helpers).optional()),
      fields: fieldSpecsSchema,
      publish: sourcePublishSchema().optional(),
    })
    .transform(
      (source): SerialSourceConfig => ({
        type: source.type,
        name: source.name,
        path: source.path,
        baudRate: source.baudRate,
        dataBits: source.dataBits,
        parity: source.parity,
        stopBits: source.stopBits,
        rtscts: source.rtscts,
        maxLineLength: source.maxLineLength,
        parser: source.parser,
        fields: source.fields,
        ...(source.poll !== undefined && { poll: source.poll }),
        ...(source.publish !== undefined && { publish: source.publish }),
      }),
    );
}
