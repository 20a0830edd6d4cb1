/** The parser for a `parser:` config block. Each parser is a pure `line → fields` function in its own module. */
import { csvParser } from './csv.js';
import type { CsvParserSpec } from './csv.js';
import { jsonParser } from './json.js';
import type { JsonParserSpec } from './json.js';
import { kvParser } from './kv.js';
import type { KvParserSpec } from './kv.js';
import { linesParser } from './lines.js';
import type { LinesParserSpec } from './lines.js';
import { nmeaParser } from './nmea.js';
import type { NmeaParserSpec } from './nmea.js';
import { regexParser } from './regex.js';
import type { RegexParserSpec } from './regex.js';
import type { LineParser } from './types.js';

export type { CsvParserSpec, JsonParserSpec, KvParserSpec, LinesParserSpec, NmeaParserSpec, RegexParserSpec };
export type { LineParser, ParseOutcome } from './types.js';

export type ParserSpec = LinesParserSpec | JsonParserSpec | CsvParserSpec | KvParserSpec | RegexParserSpec | NmeaParserSpec;

export const PARSER_TYPES = ['lines', 'json', 'csv', 'kv', 'regex', 'nmea'] as const satisfies ReadonlyArray<ParserSpec['type']>;

export function createParser(spec: ParserSpec): LineParser {
  switch (spec.type) {
    case 'lines':
      return linesParser(spec);
    case 'json':
      return jsonParser(spec);
    case 'csv':
      return csvParser(spec);
    case 'kv':
      return kvParser(spec);
    case 'regex':
      return regexParser(spec);
    case 'nmea':
      return nmeaParser(spec);
  }
}
