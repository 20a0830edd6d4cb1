/** What the libgpiod tools print (v1 and v2), and the command lines we give them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, parseGetOutput, parseMonitorLine, parseToolVersion } from '../../src/sources/gpio/events.js';
import { getArgs, monitorArgs } from '../../src/sources/gpio/libgpiod.js';
import type { LineRequest } from '../../src/sources/gpio/libgpiod.js';

void test('gpiomon events in our formats: v1 "%e %s %n" (0 falling) and v2 "%e %S" (2 falling)', () => {
  assert.deepEqual(parseMonitorLine('1 1234 567'), { rising: true, atMs: 1_234_000.000567 });
  assert.deepEqual(parseMonitorLine('0 1234 500000000'), { rising: false, atMs: 1_234_500 });
  assert.deepEqual(parseMonitorLine('1 1234.000000567'), { rising: true, atMs: 1_234_000.000567 });
  assert.deepEqual(parseMonitorLine('2 98765.250000000'), { rising: false, atMs: 98_765_250 });
  assert.deepEqual(parseMonitorLine('rising 5.000000000'), { rising: true, atMs: 5_000 });
  assert.deepEqual(parseMonitorLine('falling'), { rising: false });
  assert.deepEqual(parseMonitorLine('  1 1 0\r'), { rising: true, atMs: 1_000 });
});

void test("gpiomon events in each version's default format", () => {
  assert.deepEqual(parseMonitorLine('event:  RISING EDGE offset: 17 timestamp: [    1234.000000567]'), { rising: true, atMs: 1_234_000.000567 });
  assert.deepEqual(parseMonitorLine('event: FALLING EDGE offset: 4 timestamp: [1699999999.125000000]'), { rising: false, atMs: 1_699_999_999_125 });
  assert.deepEqual(parseMonitorLine('1234.000000567\trising\tgpiochip0 17'), { rising: true, atMs: 1_234_000.000567 });
  assert.deepEqual(parseMonitorLine('1234.500000000\tfalling\t"GPIO17"'), { rising: false, atMs: 1_234_500 });
});

void test('gpiomon lines that are not events yield undefined, never throw', () => {
  const garbage = [
    '',
    'Monitoring line 17...',
    '3 1234 5',
    '1 abc',
    '1 1234.5',
    '1 1234 5678901234',
    'RISINGS 12',
    '{"edge":1}',
    'event:  SIDEWAYS EDGE offset: 17 timestamp: [1.000000000]',
    '\u0000\u0001\u00ff',
    'x'.repeat(10_000),
    '1'.repeat(40),
  ];
  for (const line of garbage) assert.equal(parseMonitorLine(line), undefined, JSON.stringify(line.slice(0, 40)));
});

void test('gpioget output: v1 0/1, v2 "17"=active, --unquoted and --numeric forms', () => {
  assert.equal(parseGetOutput('0\n'), 0);
  assert.equal(parseGetOutput('1\n'), 1);
  assert.equal(parseGetOutput('"17"=active\n'), 1);
  assert.equal(parseGetOutput('"GPIO17"=inactive\n'), 0);
  assert.equal(parseGetOutput('17=active'), 1);
  for (const bad of ['', '2', 'active inactive', '0\n1\n', '"17"=maybe', 'gpioget: error']) assert.equal(parseGetOutput(bad), undefined, bad);
});

void test('tool version from --version output', () => {
  assert.deepEqual(parseToolVersion('gpiomon (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski\n'), { major: 1, version: '1.6.3' });
  assert.deepEqual(parseToolVersion('gpiomon (libgpiod) v2.1.2\n'), { major: 2, version: '2.1.2' });
  assert.deepEqual(parseToolVersion('gpiodetect (libgpiod) v1.2\n'), { major: 1, version: '1.2' });
  assert.equal(parseToolVersion('gpiomon: unrecognized option'), undefined);
});

const REQUEST: LineRequest = { chip: 'gpiochip0', line: 17, bias: 'as-is', debounceMs: 0 };

void test('v1 command lines: chip and offset positional, --line-buffered, v1 bias spelling', () => {
  assert.deepEqual(monitorArgs(1, REQUEST), ['--line-buffered', '--format=%e %s %n', 'gpiochip0', '17']);
  assert.deepEqual(monitorArgs(1, { ...REQUEST, bias: 'disabled', debounceMs: 10 }), ['--bias=disable', '--line-buffered', '--format=%e %s %n', 'gpiochip0', '17']);
  assert.deepEqual(getArgs(1, { ...REQUEST, bias: 'pull-up' }), ['--bias=pull-up', 'gpiochip0', '17']);
});

void test('v2 command lines: --chip, --consumer, kernel debounce in microseconds, both edges (the default)', () => {
  assert.deepEqual(monitorArgs(2, REQUEST), ['--consumer', 'sensorgate', '--chip', 'gpiochip0', '--format', '%e %S', '17']);
  assert.deepEqual(monitorArgs(2, { ...REQUEST, bias: 'pull-down', debounceMs: 10 }), [
    '--consumer',
    'sensorgate',
    '--chip',
    'gpiochip0',
    '--bias',
    'pull-down',
    '--debounce-period',
    '10000us',
    '--format',
    '%e %S',
    '17',
  ]);
  assert.deepEqual(getArgs(2, { ...REQUEST, bias: 'disabled' }), ['--consumer', 'sensorgate', '--chip', 'gpiochip0', '--bias', 'disabled', '17']);
});

void test('LineSplitter: lines across chunks, CRLF, and overlong lines dropped and counted without buffering them', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((l) => lines.push(l), 16);
  splitter.push('1 2 3\n1 2');
  splitter.push(' 4\r\n');
  splitter.push('x'.repeat(20));
  splitter.push('x'.repeat(1_000));
  splitter.push('yyy\n0 1 2\n');
  splitter.push(`${'z'.repeat(17)}\nok\n`);
  assert.deepEqual(lines, ['1 2 3', '1 2 4', '0 1 2', 'ok']);
  assert.equal(splitter.overlong, 2);
});
