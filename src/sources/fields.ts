/**
 * The last step every line-based or polled source shares (serial today; GPIO and 1-Wire can
 * reuse it): values that look like numbers become numbers, then the per-field `scale`,
 * `offset` and `rename` from the config apply. Pure: same fields and specs, same result.
 *
 * `unit` is metadata for consumers of the config (a later Home Assistant discovery): it is not
 * put in the payload, which stays `{ts, ...fields}` for every source.
 */
import type { FieldValue } from '../pipeline/reading.js';

/** Fields as a parser found them, before numbers, scale, offset and rename. */
export type RawFields = Record<string, FieldValue>;

/** A field map without a prototype: a device sending the key `__proto__` gets a plain field, not a prototype change. */
export function emptyFields(): RawFields {
  return Object.create(null) as RawFields;
}

/** Why a line (or a value in it) could not become a reading. A value, not a thrown Error: bad input is expected. */
export class ParseError {
  constructor(readonly reason: string) {}
}

export type FieldType = 'auto' | 'number' | 'string';

export interface FieldSpec {
  /** Name in the payload (default: the name the parser gave it). */
  rename?: string;
  /** value * scale + offset; implies a number. */
  scale?: number;
  offset?: number;
  /** Metadata only (e.g. `°C`); never in the payload. */
  unit?: string;
  /** auto (default): a value that looks like a number becomes one; number: must be one; string: kept as text. */
  type?: FieldType;
}

export type FieldSpecs = Readonly<Record<string, FieldSpec>>;

/** The payload timestamp; a field may not take its name. */
export const RESERVED_FIELD = 'ts';
const MAX_FIELD_NAME_LENGTH = 64;
/** Significant digits kept after scale/offset: hides 101.30000000000001, far beyond any sensor's resolution. */
const SCALED_DIGITS = 15;

/** A plain decimal with optional sign, fraction and exponent: no hex, no "Infinity", no "1_000", no blanks. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `" 21.5 "` → 21.5; undefined for anything that is not a plain finite decimal. */
export function toNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/** Why `name` cannot be a field name in a payload (or a {field} topic level later), or undefined. */
export function fieldNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name === RESERVED_FIELD) return `"${RESERVED_FIELD}" is reserved for the reading's timestamp`;
  if (name.length > MAX_FIELD_NAME_LENGTH) return `is longer than ${MAX_FIELD_NAME_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f+#/]/.test(name)) return 'contains a control character, +, # or /';
  return undefined;
}

const quote = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

function shapeValue(name: string, value: FieldValue, spec: FieldSpec | undefined): FieldValue | ParseError {
  const numeric = spec?.scale !== undefined || spec?.offset !== undefined || spec?.type === 'number';
  if (spec?.type === 'string') return typeof value === 'string' ? value : String(value);
  let result: FieldValue = value;
  if (typeof value === 'string') result = toNumber(value) ?? value;
  if (typeof result !== 'number') {
    return numeric ? new ParseError(`field ${name}: not a number: ${quote(String(value))}`) : result;
  }
  if (spec?.scale !== undefined || spec?.offset !== undefined) {
    const scaled = result * (spec.scale ?? 1) + (spec.offset ?? 0);
    if (!Number.isFinite(scaled)) return new ParseError(`field ${name}: ${result} scaled is not finite`);
    result = Number(scaled.toPrecision(SCALED_DIGITS));
  }
  return result;
}

/**
 * Raw parser output → payload fields. Fails (whole line) when a field the config says is numeric
 * is not, when a name cannot be used, when two fields end up with one name, or when nothing is left.
 */
export function shapeFields(raw: Readonly<RawFields>, specs: FieldSpecs): Record<string, FieldValue> | ParseError {
  const out = emptyFields();
  for (const [name, value] of Object.entries(raw)) {
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    const target = spec?.rename ?? name;
    const problem = fieldNameProblem(target);
    if (problem !== undefined) {
      const hint = target === RESERVED_FIELD ? ` (rename it: fields.${RESERVED_FIELD}.rename)` : '';
      return new ParseError(`field name ${quote(target)} ${problem}${hint}`);
    }
    if (Object.hasOwn(out, target)) return new ParseError(`two fields named ${quote(target)}`);
    const shaped = shapeValue(name, value, spec);
    if (shaped instanceof ParseError) return shaped;
    out[target] = shaped;
  }
  if (Object.keys(out).length === 0) return new ParseError('no fields');
  return out;
}

/** Payload field name → unit, for the fields that have one (for discovery, dashboards). */
export function fieldUnits(specs: FieldSpecs): Record<string, string> {
  const units: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) if (spec.unit !== undefined) units[spec.rename ?? name] = spec.unit;
  return units;
}
