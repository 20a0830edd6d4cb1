/**
 * `nmea`: GPS sentences (NMEA 0183). The checksum is required and checked; GGA and RMC become
 * readings, from any talker (GP, GN, GL, GA, BD, ...); other sentence types are ignored.
 *
 * - GGA → `fix` (quality: 0 none, 1 GPS, 2 DGPS, 4/5 RTK, ...), `satellites`, `hdop`, and with a
 *   fix `lat`, `lon` (decimal degrees, south and west negative) and `alt` (metres above mean sea level).
 * - RMC → `valid` (status A), `lat`, `lon`, `speed` (km/h, converted from knots), `course` (degrees true).
 */
import { emptyFields, ParseError, toNumber } from '../../fields.js';
import type { RawFields } from '../../fields.js';
import type { LineParser } from './types.js';

export const NMEA_SENTENCES = ['GGA', 'RMC'] as const;
export type NmeaSentence = (typeof NMEA_SENTENCES)[number];

export interface NmeaParserSpec {
  type: 'nmea';
  /** Which sentence types become readings. */
  sentences: readonly NmeaSentence[];
}

const KMH_PER_KNOT = 1.852;
/** 7 decimals of a degree: about 1 cm, below any GPS's accuracy. */
const COORDINATE_DIGITS = 7;
/** `$` or `!`, talker/type letters, fields, `*HH`. */
const SENTENCE = /^[$!]([^*]*)\*([0-9A-Fa-f]{2})$/;

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function checksum(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum;
}

const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** `4807.038`,`N` → 48.1173; '' (no fix) → undefined; nonsense → ParseError. */
function coordinate(value: string, hemisphere: string, kind: 'lat' | 'lon'): number | undefined | ParseError {
  if (value === '' && hemisphere === '') return undefined;
  const number = toNumber(value);
  const [positive, negative, maxDegrees] = kind === 'lat' ? ['N', 'S', 90] : ['E', 'W', 180];
  if (number === undefined || number < 0 || (hemisphere !== positive && hemisphere !== negative)) {
    return new ParseError(`bad ${kind} ${JSON.stringify(`${value},${hemisphere}`)}`);
  }
  const degrees = Math.floor(number / 100);
  const minutes = number - degrees * 100;
  const decimal = degrees + minutes / 60;
  if (minutes >= 60 || decimal > maxDegrees) return new ParseError(`bad ${kind} ${JSON.stringify(`${value},${hemisphere}`)}`);
  return round(hemisphere === negative ? -decimal : decimal, COORDINATE_DIGITS);
}

/** An optional number field: '' → undefined. */
function optionalNumber(value: string | undefined, name: string): number | undefined | ParseError {
  if (value === undefined || value === '') return undefined;
  return toNumber(value) ?? new ParseError(`bad ${name} ${JSON.stringify(value)}`);
}

/** Copies defined values into `out`; the first ParseError wins. */
function collect(out: RawFields, values: Readonly<Record<string, number | boolean | undefined | ParseError>>): RawFields | ParseError {
  for (const [name, value] of Object.entries(values)) {
    if (value instanceof ParseError) return value;
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function position(f: readonly string[], latAt: number): { lat: number | undefined | ParseError; lon: number | undefined | ParseError } {
  return {
    lat: coordinate(f[latAt] ?? '', f[latAt + 1] ?? '', 'lat'),
    lon: coordinate(f[latAt + 2] ?? '', f[latAt + 3] ?? '', 'lon'),
  };
}

function gga(f: readonly string[]): RawFields | ParseError {
  // $--GGA,time,lat,N,lon,E,quality,satellites,hdop,alt,M,geoid,M,age,station
  if (f.length < 10) return new ParseError(`GGA with ${f.length} fields`);
  const fix = toNumber(f[6] ?? '');
  if (fix === undefined || !Number.isInteger(fix)) return new ParseError(`bad GGA fix quality ${JSON.stringify(f[6])}`);
  const hasFix = fix > 0;
  return collect(emptyFields(), {
    fix,
    satellites: optionalNumber(f[7], 'satellites'),
    hdop: optionalNumber(f[8], 'hdop'),
    ...(hasFix && position(f, 2)),
    ...(hasFix && { alt: optionalNumber(f[9], 'altitude') }),
  });
}

function rmc(f: readonly string[]): RawFields | ParseError {
  // $--RMC,time,status,lat,N,lon,E,speed(knots),course,date,variation,E[,mode[,navstatus]]
  if (f.length < 10) return new ParseError(`RMC with ${f.length} fields`);
  const status = f[2];
  if (status !== 'A' && status !== 'V') return new ParseError(`bad RMC status ${JSON.stringify(status)}`);
  const knots = optionalNumber(f[7], 'speed');
  return collect(emptyFields(), {
    valid: status === 'A',
    ...position(f, 3),
    speed: typeof knots === 'number' ? round(knots * KMH_PER_KNOT, 3) : knots,
    course: optionalNumber(f[8], 'course'),
  });
}

export function nmeaParser(spec: NmeaParserSpec): LineParser {
  const wanted = new Set<string>(spec.sentences);
  return (line) => {
    const match = SENTENCE.exec(line.trim());
    if (match === null) {
      return new ParseError(/^[$!]/.test(line) ? 'no *HH checksum at the end' : 'not an NMEA sentence (no leading $)');
    }
    const [, body = '', given = ''] = match;
    const computed = checksum(body);
    if (computed !== parseInt(given, 16)) return new ParseError(`checksum mismatch: sentence says ${given.toUpperCase()}, computed ${hex(computed)}`);
    const f = body.split(',');
    const id = f[0] ?? '';
    // Proprietary sentences ($P...) and AIS (!) have other layouts: not readings here.
    if (line.startsWith('!') || id.startsWith('P') || id.length !== 5) return null;
    const type = id.slice(2);
    if (!wanted.has(type)) return null;
    return type === 'GGA' ? gga(f) : rmc(f);
  };
}
