/**
 * `kv`: key/value pairs, `T=21.5 H=40` or `temp:21.5,hum:40`. By default pairs are separated by
 * blanks, commas or semicolons, and a key from its value by the first `=` or `:`; either
 * separator can be set instead (then it is taken literally).
 */
import { emptyFields, ParseError } from '../../fields.js';
import type { LineParser } from './types.js';

export interface KvParserSpec {
  type: 'kv';
  /** Between pairs; undefined: any run of blanks, commas and semicolons. */
  pairSeparator?: string;
  /** Between key and value; undefined: the first `=` or `:`. */
  keyValueSeparator?: string;
}

const DEFAULT_PAIR_SEPARATOR = /[\s,;]+/;
const DEFAULT_KEY_VALUE_SEPARATOR = /[=:]/;

const sample = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

export function kvParser(spec: KvParserSpec): LineParser {
  const { pairSeparator, keyValueSeparator } = spec;
  return (line) => {
    const pairs = line.split(pairSeparator ?? DEFAULT_PAIR_SEPARATOR);
    const fields = emptyFields();
    for (const rawPair of pairs) {
      const pair = rawPair.trim();
      if (pair === '') continue;
      const at = keyValueSeparator === undefined ? pair.search(DEFAULT_KEY_VALUE_SEPARATOR) : pair.indexOf(keyValueSeparator);
      if (at <= 0) return new ParseError(`${sample(pair)} is not key${keyValueSeparator ?? '='}value`);
      const key = pair.slice(0, at).trim();
      const value = pair.slice(at + (keyValueSeparator?.length ?? 1)).trim();
      if (Object.hasOwn(fields, key)) return new ParseError(`key ${sample(key)} appears twice`);
      fields[key] = value;
    }
    return Object.keys(fields).length === 0 ? null : fields;
  };
}
