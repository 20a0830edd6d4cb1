/**
 * `json`: one JSON object per line. Nested objects and arrays are flattened with dots
 * (`{"bme":{"t":21.5},"pm":[3,7]}` → `bme.t`, `pm.0`, `pm.1`); nulls are left out.
 */
import { emptyFields, ParseError } from '../../fields.js';
import type { RawFields } from '../../fields.js';
import type { LineParser } from './types.js';

export interface JsonParserSpec {
  type: 'json';
}

/** Deeper nesting than this is not a sensor reading. */
const MAX_DEPTH = 8;

function flatten(value: unknown, name: string, out: RawFields, depth: number): ParseError | undefined {
  if (value === null) return undefined;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
    out[name] = value;
    return undefined;
  }
  if (depth >= MAX_DEPTH) return new ParseError(`nested deeper than ${MAX_DEPTH} levels`);
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((item, i) => [String(i), item]) : Object.entries(value as object);
  for (const [key, item] of entries) {
    const problem = flatten(item, name === '' ? key : `${name}.${key}`, out, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

export function jsonParser(_spec: JsonParserSpec): LineParser {
  return (line) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return new ParseError(`not JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return new ParseError('not a JSON object');
    const fields = emptyFields();
    return flatten(value, '', fields, 0) ?? fields;
  };
}
