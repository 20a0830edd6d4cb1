/** Each serial line parser: what a good line gives, and that bad lines are ParseErrors (or ignored), never throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseError } from '../../src/sources/fields.js';
import type { RawFields } from '../../src/sources/fields.js';
import { createParser } from '../../src/sources/serial/parsers/index.js';
import type { ParseOutcome, ParserSpec } from '../../src/sources/serial/parsers/index.js';
import { splitCells } from '../../src/sources/serial/parsers/csv.js';

function parse(spec: ParserSpec, line: string): ParseOutcome {
  return createParser(spec)(line);
}

/** Plain object copy (parsers return prototype-less maps). */
function fields(outcome: ParseOutcome): RawFields {
  if (outcome === null) return assert.fail('expected fields, got null (ignored)');
  if (outcome instanceof ParseError) return assert.fail(`expected fields, got ParseError: ${outcome.reason}`);
  return { ...outcome };
}

function reason(outcome: ParseOutcome): string {
  if (!(outcome instanceof ParseError)) return assert.fail(`expected a ParseError, got ${JSON.stringify(outcome)}`);
  return outcome.reason;
}

/** `$` + body + `*` + checksum: for synthetic sentences (real ones below carry their own). */
function nmea(body: string): string {
  let sum = 0;
  for (const char of body) sum ^= char.charCodeAt(0);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, '0')}`;
}

void test('lines: the trimmed line is the value; blank lines are ignored', () => {
  assert.deepEqual(fields(parse({ type: 'lines', field: 'value' }, '  21.5 \t')), { value: '21.5' });
  assert.deepEqual(fields(parse({ type: 'lines', field: 'co2' }, 'OK 400ppm')), { co2: 'OK 400ppm' });
  assert.equal(parse({ type: 'lines', field: 'value' }, '   '), null);
});

void test('json: one object per line, nested values flattened with dots, nulls left out', () => {
  const spec: ParserSpec = { type: 'json' };
  assert.deepEqual(fields(parse(spec, '{"t":21.5,"h":40,"ok":true,"id":"a1"}')), { t: 21.5, h: 40, ok: true, id: 'a1' });
  assert.deepEqual(fields(parse(spec, '{"bme":{"t":21.5,"p":{"hpa":1013}},"pm":[3,7],"gone":null}')), {
    'bme.t': 21.5,
    'bme.p.hpa': 1013,
    'pm.0': 3,
    'pm.1': 7,
  });
  assert.match(reason(parse(spec, '{"t":21.5')), /^not JSON/);
  assert.match(reason(parse(spec, '[1,2]')), /not a JSON object/);
  assert.match(reason(parse(spec, '42')), /not a JSON object/);
  assert.match(reason(parse(spec, 'null')), /not a JSON object/);
  assert.match(reason(parse(spec, `${'{"a":'.repeat(10)}1${'}'.repeat(10)}`)), /nested deeper/);
  // A device key `__proto__` is a plain field, not a prototype change.
  const proto = parse(spec, '{"__proto__":{"polluted":1},"t":1}');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(fields(proto)).sort(), ['__proto__.polluted', 't']);
});

void test('csv: values by column, null columns skipped, empty cells left out, quotes honoured', () => {
  const spec: ParserSpec = { type: 'csv', columns: ['temperature', null, 'humidity', 'label'], separator: ',' };
  assert.deepEqual(fields(parse(spec, '21.5, 999 ,40,"a, b"')), { temperature: '21.5', humidity: '40', label: 'a, b' });
  assert.deepEqual(fields(parse(spec, '21.5,,,x')), { temperature: '21.5', label: 'x' });
  assert.match(reason(parse(spec, '21.5,1,40')), /expected 4 values, got 3/);
  assert.match(reason(parse(spec, '21.5,1,40,x,extra')), /expected 4 values, got 5/);
  assert.match(reason(parse(spec, '21.5,1,40,"open')), /unterminated quote/);
  assert.deepEqual(fields(parse({ type: 'csv', columns: ['a', 'b'], separator: ';' }, '1,5;2')), { a: '1,5', b: '2' });
  assert.deepEqual(splitCells('"say ""hi""",x', ','), ['say "hi"', 'x']);
  assert.deepEqual(splitCells('a||b||', '||'), ['a', 'b', '']);
  assert.deepEqual(splitCells('', ','), ['']);
});

void test('kv: T=21.5 H=40 and temp:21.5,hum:40 by default; separators configurable', () => {
  const auto: ParserSpec = { type: 'kv' };
  assert.deepEqual(fields(parse(auto, 'T=21.5 H=40')), { T: '21.5', H: '40' });
  assert.deepEqual(fields(parse(auto, 'temp:21.5,hum:40; p=1013  ')), { temp: '21.5', hum: '40', p: '1013' });
  assert.deepEqual(fields(parse(auto, 'time=12:30:00')), { time: '12:30:00' }, 'the first separator splits');
  assert.match(reason(parse(auto, 'T=21.5 garbage')), /"garbage" is not key=value/);
  assert.match(reason(parse(auto, '=5')), /is not key=value/);
  assert.match(reason(parse(auto, 'T=1 T=2')), /appears twice/);
  assert.equal(parse(auto, ' , ; '), null);

  const custom: ParserSpec = { type: 'kv', pairSeparator: '|', keyValueSeparator: '->' };
  assert.deepEqual(fields(parse(custom, 'room temp->21.5|hum->40')), { 'room temp': '21.5', hum: '40' });
  assert.match(reason(parse(custom, 'a=1|b->2')), /"a=1" is not key->value/);
});

void test('regex: named groups become fields; groups that did not take part are left out', () => {
  const spec: ParserSpec = { type: 'regex', pattern: '^T(?<temperature>-?[0-9.]+)(?: H(?<humidity>[0-9.]+))?$', flags: '' };
  assert.deepEqual(fields(parse(spec, 'T21.5 H40')), { temperature: '21.5', humidity: '40' });
  assert.deepEqual(fields(parse(spec, 'T-3.5')), { temperature: '-3.5' });
  assert.match(reason(parse(spec, 'X21.5')), /does not match/);
  assert.deepEqual(fields(parse({ type: 'regex', pattern: 'co2=(?<co2>\\d+)', flags: 'i' }, 'CO2=415')), { co2: '415' });
});

void test('nmea: GGA and RMC from real receivers, with the checksum checked', () => {
  const spec: ParserSpec = { type: 'nmea', sentences: ['GGA', 'RMC'] };
  assert.deepEqual(fields(parse(spec, '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47')), {
    fix: 1,
    satellites: 8,
    hdop: 0.9,
    lat: 48.1173,
    lon: 11.5166667,
    alt: 545.4,
  });
  assert.deepEqual(fields(parse(spec, '$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*76')), {
    fix: 1,
    satellites: 8,
    hdop: 1.03,
    lat: 53.3613367,
    lon: -6.50562,
    alt: 61.7,
  });
  assert.deepEqual(fields(parse(spec, '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A')), {
    valid: true,
    lat: 48.1173,
    lon: 11.5166667,
    speed: 41.485,
    course: 84.4,
  });
  // A u-blox receiver before its first fix: no position, but still a reading.
  assert.deepEqual(fields(parse(spec, '$GNGGA,,,,,,0,00,99.99,,,,,,*56')), { fix: 0, satellites: 0, hdop: 99.99 });
  assert.deepEqual(fields(parse(spec, '$GNRMC,,V,,,,,,,,,,N*4D')), { valid: false });
  // Southern and western hemispheres are negative; the talker (GN, GL, BD...) does not matter.
  assert.deepEqual(fields(parse(spec, nmea('GNRMC,083559.00,A,3351.5000,S,15112.6000,W,0.5,,091202,,,A'))), {
    valid: true,
    lat: -33.8583333,
    lon: -151.21,
    speed: 0.926,
  });
});

void test('nmea: bad checksums, broken sentences and other sentence types', () => {
  const spec: ParserSpec = { type: 'nmea', sentences: ['GGA', 'RMC'] };
  assert.match(reason(parse(spec, '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48')), /checksum mismatch: sentence says 48, computed 47/);
  assert.match(reason(parse(spec, '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')), /no \*HH checksum/);
  assert.match(reason(parse(spec, 'GPGGA,123519*47')), /not an NMEA sentence/);
  assert.match(reason(parse(spec, nmea('GPGGA,123519,4807.038,N,01131.000,E,x,08,0.9,545.4,M,46.9,M,,'))), /bad GGA fix quality/);
  assert.match(reason(parse(spec, nmea('GPGGA,123519,4867.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'))), /bad lat/);
  assert.match(reason(parse(spec, nmea('GPGGA,123519,4807.038,Q,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'))), /bad lat/);
  assert.match(reason(parse(spec, nmea('GPGGA,123519,4807.038,N,18131.000,E,1,08,0.9,545.4,M,46.9,M,,'))), /bad lon/);
  assert.match(reason(parse(spec, nmea('GPGGA,123519,4807.038'))), /GGA with 3 fields/);
  assert.match(reason(parse(spec, nmea('GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W'))), /bad RMC status/);
  assert.match(reason(parse(spec, nmea('GPRMC,123519,A,4807.038,N,01131.000,E,fast,084.4,230394,003.1,W'))), /bad speed/);
  // Valid sentences that are not readings here.
  assert.equal(parse(spec, '$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74'), null);
  assert.equal(parse(spec, nmea('PUBX,00,081350.00,4717.113210,N')), null);
  assert.equal(parse({ type: 'nmea', sentences: ['RMC'] }, '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47'), null);
});

void test('no parser throws on arbitrary text', () => {
  const specs: ParserSpec[] = [
    { type: 'lines', field: 'v' },
    { type: 'json' },
    { type: 'csv', columns: ['a', 'b'], separator: ',' },
    { type: 'kv' },
    { type: 'regex', pattern: '(?<a>\\d+)', flags: '' },
    { type: 'nmea', sentences: ['GGA', 'RMC'] },
  ];
  const inputs = ['', '"', '{', '$', '$*', '$*ZZ', '$GPGGA*00', '$,*2C', '\u00ff\u{1F600}', 'a'.repeat(5000), '=:,;'];
  for (const spec of specs) for (const input of inputs) assert.doesNotThrow(() => createParser(spec)(input), `${spec.type} on ${JSON.stringify(input.slice(0, 20))}`);
});
