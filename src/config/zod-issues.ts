/**
 * Turns zod issues into config issues: plain-English messages (`must be a positive integer`,
 * not `Invalid input: expected number, received string`), one issue per unknown key with a
 * "did you mean" hint, and paths in the `a.b[0].c` form.
 *
 * Messages written on the schema itself win; `plainMessage` covers what the schema leaves to zod.
 */
import * as z from 'zod';
import type { ConfigIssue } from './errors.js';
import { formatPath } from './errors.js';

/** Separates per-key messages of one `unrecognized_keys` issue (keys cannot contain it in practice). */
const KEY_SEPARATOR = '\u0000';

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'must be a string',
  number: 'must be a number',
  int: 'must be an integer',
  boolean: 'must be true or false',
  object: 'must be a mapping (key: value pairs)',
  array: 'must be a list',
};

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Error map passed to `safeParse`: the fallback wording for every issue zod raises by itself. */
export function plainMessage(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected = EXPECTED[issue.expected] ?? `must be of type ${issue.expected}`;
      if (issue.input === null) return `${expected} (the value is empty)`;
      if (issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')) {
        return `${expected} (put the value in quotes)`;
      }
      return expected;
    }
    case 'unrecognized_keys': {
      const known = issue.inst instanceof z.ZodObject ? Object.keys(issue.inst.shape) : [];
      return issue.keys.map((key) => unknownKeyMessage(key, known)).join(KEY_SEPARATOR);
    }
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${describeValue(issue.values[0])}`
        : `must be one of: ${issue.values.map((value) => String(value)).join(', ')}`;
    case 'invalid_union': {
      if (issue.discriminator === undefined) return 'is not valid here';
      const options: unknown = issue.options;
      const known = Array.isArray(options) ? options.map(String).join(', ') : '';
      const input: unknown = issue.input;
      const given = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[issue.discriminator] : undefined;
      if (given === undefined) return `is required (known: ${known})`;
      return `unknown ${issue.discriminator === 'type' ? 'source type' : 'value'} ${describeValue(given)} (known: ${known})`;
    }
    case 'too_small':
      return issue.origin === 'string' && Number(issue.minimum) === 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return 'is not valid';
  }
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const guess = closest(key, known);
  return guess === undefined ? 'unknown key' : `unknown key (did you mean ${guess}?)`;
}

/** The known key a typo most likely meant: same letters ignoring case, or at most 2 edits away. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(key.length / 3));
  for (const candidate of known) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate;
    const distance = editDistance(key, candidate);
    if (distance <= bestDistance) {
      best = candidate;
      bestDistance = distance - 1; // later candidates must be strictly closer
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** A config issue that still knows its raw path (for looking up line numbers). */
export interface LocatedIssue extends ConfigIssue {
  segments: ReadonlyArray<string | number>;
}

/** Flattens zod's issues: one per problem, unknown keys split into one issue each. */
export function toConfigIssues(issues: readonly z.core.$ZodIssue[]): LocatedIssue[] {
  const out: LocatedIssue[] = [];
  for (const issue of issues) {
    const base = issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const messages = issue.message.split(KEY_SEPARATOR);
      issue.keys.forEach((key, i) => {
        const segments = [...base, key];
        out.push({ path: formatPath(segments), message: messages[i] ?? 'unknown key', segments });
      });
    } else {
      out.push({ path: formatPath(base), message: issue.message, segments: base });
    }
  }
  return out;
}
