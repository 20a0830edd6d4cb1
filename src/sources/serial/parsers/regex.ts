/** `regex`: named groups become fields (`(?<temperature>-?[0-9.]+)`); groups that did not take part are left out. */
import { emptyFields, ParseError } from '../../fields.js';
import type { LineParser } from './types.js';

export interface RegexParserSpec {
  type: 'regex';
  pattern: string;
  /** Any of i, s, u (stateful g and y are refused by the config). */
  flags: string;
}

export function regexParser(spec: RegexParserSpec): LineParser {
  const regex = new RegExp(spec.pattern, spec.flags);
  return (line) => {
    const match = regex.exec(line);
    if (match === null) return new ParseError('does not match parser.pattern');
    const fields = emptyFields();
    for (const [name, value] of Object.entries(match.groups ?? {})) if (value !== undefined) fields[name] = value;
    return fields;
  };
}
