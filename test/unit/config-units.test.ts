import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatSize, MAX_TIMER_MS, parseDuration, parseSize } from '../../src/config/units.js';

void test('parseDuration: a plain number is seconds, fractions allowed', () => {
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1), 1_000);
  assert.equal(parseDuration(0.5), 500);
  assert.equal(parseDuration(1.1), 1_100); // 1.1 * 1000 is 1100.0000000000002 in floating point
  assert.equal(parseDuration(60), 60_000);
});

void test('parseDuration: strings take ms, s, m or h', () => {
  const cases: Array<[string, number]> = [
    ['0ms', 0],
    ['200ms', 200],
    ['5s', 5_000],
    ['0.25s', 250],
    ['.5s', 500],
    ['2m', 120_000],
    ['1.5h', 5_400_000],
    [' 5s ', 5_000],
    ['5 s', 5_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

void test('parseDuration: rejects negatives, NaN, Infinity, garbage and other types', () => {
  const bad: unknown[] = [
    -1,
    -0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '-1s',
    '5', // a string needs a unit
    '',
    's',
    '5x',
    '5S', // units are case-sensitive: m is minutes, M would be ambiguous
    '5M',
    '1e3ms',
    '0x10s',
    '5s5',
    '5 s s',
    'Infinitys',
    'NaNms',
    '1,5s',
    true,
    null,
    undefined,
    {},
    [5],
  ];
  for (const value of bad) assert.equal(parseDuration(value), undefined, JSON.stringify(value) ?? String(value));
});

void test('parseDuration: results past the safe integer range are rejected', () => {
  assert.equal(parseDuration(Number.MAX_SAFE_INTEGER), undefined);
  assert.equal(parseDuration('99999999999999999999h'), undefined);
});

void test('parseSize: a plain number is bytes; units are 1024-based and case-insensitive', () => {
  const cases: Array<[unknown, number]> = [
    [0, 0],
    [1024, 1024],
    ['10B', 10],
    ['1KB', 1024],
    ['1kb', 1024],
    ['1KiB', 1024],
    ['1.5KB', 1536],
    ['1MB', 1_048_576],
    ['1MiB', 1_048_576],
    ['512 MB', 512 * 1_048_576],
    ['2GB', 2 * 1024 ** 3],
    ['1GiB', 1024 ** 3],
  ];
  for (const [value, bytes] of cases) assert.equal(parseSize(value), bytes, String(value));
});

void test('parseSize: rejects negatives, fractional bytes, NaN, unknown units and other types', () => {
  const bad: unknown[] = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '-1KB', '1', '', 'KB', '1TB', '1 K', '1kbit', '1e3B', true, null, {}];
  for (const value of bad) assert.equal(parseSize(value), undefined, JSON.stringify(value) ?? String(value));
});

void test('formatDuration and formatSize give short forms for messages', () => {
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(1_500), '1.5s');
  assert.equal(formatDuration(120_000), '2m');
  assert.equal(formatDuration(5_400_000), '1.5h');
  assert.equal(formatSize(100), '100B');
  assert.equal(formatSize(1536), '1.5KiB');
  assert.equal(formatSize(1_048_576), '1MiB');
  assert.equal(formatSize(1024 ** 3), '1GiB');
});

void test('MAX_TIMER_MS is the largest delay Node timers honour', () => {
  assert.equal(MAX_TIMER_MS, 2 ** 31 - 1);
});
