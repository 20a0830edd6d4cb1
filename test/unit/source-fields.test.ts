/** shapeFields: numbers, scale, offset, rename, type, and the names a payload cannot take. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldUnits, ParseError, shapeFields, toNumber } from '../../src/sources/fields.js';
import type { FieldSpecs, RawFields } from '../../src/sources/fields.js';

function shaped(raw: RawFields, specs: FieldSpecs = {}): Record<string, unknown> {
  const result = shapeFields(raw, specs);
  if (result instanceof ParseError) return assert.fail(`unexpected ParseError: ${result.reason}`);
  return { ...result };
}

function failure(raw: RawFields, specs: FieldSpecs = {}): string {
  const result = shapeFields(raw, specs);
  if (!(result instanceof ParseError)) return assert.fail(`expected a ParseError, got ${JSON.stringify(result)}`);
  return result.reason;
}

void test('toNumber: plain decimals only', () => {
  for (const [text, value] of [
    ['21.5', 21.5],
    [' -3 ', -3],
    ['+7', 7],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['007', 7],
  ] as const) {
    assert.equal(toNumber(text), value, text);
  }
  for (const text of ['', ' ', '0x10', 'Infinity', 'NaN', '1_000', '1,5', '21.5C', '--1', '1e999', '.']) assert.equal(toNumber(text), undefined, text);
});

void test('values that look like numbers become numbers; everything else is kept', () => {
  assert.deepEqual(shaped({ t: '21.5', id: 'A7', ok: true, n: 3, e: '' }), { t: 21.5, id: 'A7', ok: true, n: 3, e: '' });
});

void test('scale, then offset, then rename; float noise is rounded away', () => {
  const specs: FieldSpecs = {
    P: { scale: 0.1, rename: 'pressure', unit: 'hPa' },
    T: { offset: -0.3, rename: 'temperature', unit: '°C' },
    raw: { scale: 2, offset: 1 },
  };
  assert.deepEqual(shaped({ P: '10133', T: '22.1', raw: 5, other: 'x' }, specs), { pressure: 1013.3, temperature: 21.8, raw: 11, other: 'x' });
  assert.deepEqual(shaped({ P: 1013 }, specs), { pressure: 101.3 }, 'not 101.30000000000001');
});

void test('type: number requires a number, type: string keeps the text', () => {
  assert.deepEqual(shaped({ serial: '0042' }, { serial: { type: 'string' } }), { serial: '0042' });
  assert.deepEqual(shaped({ flag: true }, { flag: { type: 'string' } }), { flag: 'true' });
  assert.match(failure({ t: 'ERR' }, { t: { type: 'number' } }), /field t: not a number: "ERR"/);
  assert.match(failure({ t: 'ERR' }, { t: { scale: 0.1 } }), /field t: not a number/);
  assert.match(failure({ t: true }, { t: { offset: 1 } }), /field t: not a number/);
  assert.match(failure({ t: '1e300' }, { t: { scale: 1e300 } }), /not finite/);
});

void test('names a payload cannot take fail the line', () => {
  assert.match(failure({ ts: 1 }), /"ts" is reserved.*rename it: fields\.ts\.rename/);
  assert.deepEqual(shaped({ ts: 1 }, { ts: { rename: 'deviceTime' } }), { deviceTime: 1 });
  assert.match(failure({ 'a/b': 1 }), /contains a control character, \+, # or \//);
  assert.match(failure({ 'a\u0000': 1 }), /control character/);
  assert.match(failure({ ['x'.repeat(65)]: 1 }), /longer than 64/);
  assert.match(failure({ a: 1, b: 2 }, { a: { rename: 'b' } }), /two fields named "b"/);
  assert.match(failure({}), /no fields/);
});

void test('fieldUnits: payload names to units', () => {
  assert.deepEqual(fieldUnits({ T: { rename: 'temperature', unit: '°C' }, H: { unit: '%' }, x: { scale: 2 } }), { temperature: '°C', H: '%' });
});
