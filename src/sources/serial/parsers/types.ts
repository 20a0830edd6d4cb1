/** What every line parser is: a pure function from one line of text to fields. */
import type { ParseError, RawFields } from '../../fields.js';

/**
 * Fields, a ParseError (counted, sampled in the log), or null: a well-formed line that is not a
 * reading (an NMEA sentence type not asked for, a blank line).
 */
export type ParseOutcome = RawFields | ParseError | null;

export type LineParser = (line: string) => ParseOutcome;
