/** `lines`: the whole line (trimmed) is one value, for sensors that print just a number. */
import { emptyFields } from '../../fields.js';
import type { LineParser } from './types.js';

export interface LinesParserSpec {
  type: 'lines';
  /** The field name the value gets. */
  field: string;
}

export const DEFAULT_LINES_FIELD = 'value';

export function linesParser(spec: LinesParserSpec): LineParser {
  return (line) => {
    const text = line.trim();
    if (text === '') return null;
    const fields = emptyFields();
    fields[spec.field] = text;
    return fields;
  };
}
