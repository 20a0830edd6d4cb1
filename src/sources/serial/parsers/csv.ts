/**
 * `csv`: values in the order of `columns`. A `null` column is skipped; an empty cell leaves its
 * field out. Cells may be double-quoted ("a,b", with "" for a quote). A line with a different
 * number of cells is an error: a shifted line would put values under the wrong names.
 */
import { emptyFields, ParseError } from '../../fields.js';
import type { LineParser } from './types.js';

export interface CsvParserSpec {
  type: 'csv';
  /** Field name per column; null skips the column. */
  columns: ReadonlyArray<string | null>;
  separator: string;
}

export const DEFAULT_CSV_SEPARATOR = ',';

/** Splits one line into cells, honouring double quotes. */
export function splitCells(line: string, separator: string): string[] | ParseError {
  const cells: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i <= line.length) {
    if (quoted) {
      const quote = line.indexOf('"', i);
      if (quote === -1) return new ParseError('unterminated quote');
      cell += line.slice(i, quote);
      if (line[quote + 1] === '"') {
        cell += '"';
        i = quote + 2;
      } else {
        quoted = false;
        i = quote + 1;
      }
      continue;
    }
    if (line.startsWith(separator, i) || i === line.length) {
      cells.push(cell);
      cell = '';
      i += i === line.length ? 1 : separator.length;
      continue;
    }
    if (line[i] === '"' && cell.trim() === '') {
      cell = '';
      quoted = true;
      i++;
      continue;
    }
    cell += line[i];
    i++;
  }
  return cells;
}

export function csvParser(spec: CsvParserSpec): LineParser {
  return (line) => {
    const cells = splitCells(line, spec.separator);
    if (cells instanceof ParseError) return cells;
    if (cells.length !== spec.columns.length) return new ParseError(`expected ${spec.columns.length} values, got ${cells.length}`);
    const fields = emptyFields();
    spec.columns.forEach((name, i) => {
      const cell = (cells[i] ?? '').trim();
      if (name !== null && cell !== '') fields[name] = cell;
    });
    return fields;
  };
}
