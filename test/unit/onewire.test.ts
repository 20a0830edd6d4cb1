/** w1_slave parsing, and the 1-Wire source over a fixture tree (no 1-Wire bus on this machine). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogFields, Logger } from '../../src/observe/logger.js';
import type { Reading } from '../../src/pipeline/reading.js';
import { OneWireSource } from '../../src/sources/onewire/onewire-source.js';
import { parseW1Slave } from '../../src/sources/onewire/w1-slave.js';
import type { SourceContext } from '../../src/sources/source.js';
import { makeW1Tree, w1Slave } from '../support/gpio-standins.js';
import { waitUntil } from '../support/wait.js';

void test('w1_slave: CRC YES with t= in milli-°C', () => {
  assert.deepEqual(parseW1Slave(w1Slave(23125)), { ok: true, celsius: 23.125 });
  assert.deepEqual(parseW1Slave(w1Slave(-10062)), { ok: true, celsius: -10.062 });
  assert.deepEqual(parseW1Slave(w1Slave(0)), { ok: true, celsius: 0 });
  assert.deepEqual(parseW1Slave(w1Slave(21562).replace(/\n/g, '\r\n')), { ok: true, celsius: 21.562 });
});

void test('w1_slave: CRC NO, the 85000 power-on value, all-zero scratchpad, out of range', () => {
  assert.deepEqual(parseW1Slave(w1Slave(23125, { crc: 'NO' })), { ok: false, problem: 'crc', detail: '72 01 4b 46 7f ff 0e 10 57 : crc=57 NO' });
  assert.equal((parseW1Slave(w1Slave(85000)) as { problem: string }).problem, 'power-on');
  assert.equal((parseW1Slave(w1Slave(0, { bytes: '00 00 00 00 00 00 00 00 00' })) as { problem: string }).problem, 'no-response');
  assert.equal((parseW1Slave(w1Slave(127937)) as { problem: string }).problem, 'out-of-range');
  assert.equal((parseW1Slave(w1Slave(-55001)) as { problem: string }).problem, 'out-of-range');
  assert.deepEqual(parseW1Slave(w1Slave(125000)), { ok: true, celsius: 125 });
});

void test('w1_slave: garbage is a problem, never an exception', () => {
  const garbage = [
    '',
    '\n',
    'YES\nt=21000\n',
    '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n',
    '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=abc\n',
    '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=21000\nextra\n',
    '72 01 4b 46 : crc=57 YES\n72 01 4b 46 t=21000\n',
    '\u0000'.repeat(100),
    'x'.repeat(100_000),
  ];
  for (const text of garbage) {
    const result = parseW1Slave(text);
    assert.equal(result.ok, false, JSON.stringify(text.slice(0, 60)));
    assert.equal((result as { problem: string }).problem, 'garbage');
  }
});

interface LogLine {
  msg: string;
  fields: LogFields | undefined;
}

function recordingLogger(lines: LogLine[]): Logger {
  const log = (msg: string, fields?: LogFields): void => {
    lines.push({ msg, fields });
  };
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return logger;
}

function context(readings: Reading[], lines: LogLine[] = []) {
  const controller = new AbortController();
  const ctx: SourceContext = {
    emit: (r) => {
      readings.push(...(Array.isArray(r) ? (r as Reading[]) : [r as Reading]));
      return Promise.resolve();
    },
    initialState: {},
    logger: recordingLogger(lines),
    signal: controller.signal,
  };
  return { ctx, stop: () => controller.abort() };
}

const GOOD = '28-0316a2791dff';
const CRC_BAD = '28-0316a2791e00';
const POWER_ON = '28-0316a2791e01';

void test('discovered probes: one reading per interval with each good probe in °C; bad ones left out, counted, logged once', { timeout: 10_000 }, async (t) => {
  const tree = await makeW1Tree(t, { [GOOD]: w1Slave(21562), [CRC_BAD]: w1Slave(22000, { crc: 'NO' }), [POWER_ON]: w1Slave(85000), '10-000000000001': w1Slave(20000) });
  const readings: Reading[] = [];
  const lines: LogLine[] = [];
  const { ctx, stop } = context(readings, lines);
  const source = new OneWireSource({ name: 'temps', intervalMs: 30, baseDir: tree.baseDir });
  const run = source.run(ctx);
  await waitUntil(() => readings.length >= 3, 5_000, 'three readings');
  stop();
  await run;
  for (const r of readings) assert.deepEqual(r.fields, { [GOOD]: 21.562 }, 'discovery reads 28-* only; CRC NO and 85000 are not published');
  assert.ok(source.problems.crc >= 3 && source.problems['power-on'] >= 3);
  const rejected = lines.filter((l) => l.msg === '1-Wire probe reading rejected');
  assert.deepEqual(rejected.map((l) => [l.fields?.probe, l.fields?.problem]).sort(), [
    [CRC_BAD, 'crc'],
    [POWER_ON, 'power-on'],
  ]);
});

void test('listed probes: per-probe names; a missing probe is logged and the others still published', { timeout: 10_000 }, async (t) => {
  const tree = await makeW1Tree(t, { [GOOD]: w1Slave(19000), '10-000000000001': w1Slave(-1500) });
  const readings: Reading[] = [];
  const lines: LogLine[] = [];
  const { ctx, stop } = context(readings, lines);
  const source = new OneWireSource({
    name: 'temps',
    intervalMs: 30,
    baseDir: tree.baseDir,
    probes: [
      { id: GOOD, name: 'greenhouse' },
      { id: '10-000000000001', name: 'outside' },
      { id: '28-00000000dead', name: 'cellar' },
    ],
  });
  const run = source.run(ctx);
  await waitUntil(() => readings.length >= 1, 5_000, 'a reading');
  // The probe is unplugged between readings.
  await rm(join(tree.baseDir, GOOD), { recursive: true });
  const seen = readings.length;
  await waitUntil(() => readings.length >= seen + 2, 5_000, 'more readings');
  stop();
  await run;
  assert.deepEqual(readings[0]?.fields, { greenhouse: 19, outside: -1.5 });
  assert.deepEqual(readings.at(-1)?.fields, { outside: -1.5 });
  assert.ok(source.problems.missing >= 3);
  assert.ok(lines.some((l) => l.fields?.problem === 'missing' && l.fields.name === 'cellar'));
});

void test('no reading at all when no probe gave a valid temperature; a missing base directory fails the run with a hint', { timeout: 10_000 }, async (t) => {
  const tree = await makeW1Tree(t, { [POWER_ON]: w1Slave(85000) });
  const readings: Reading[] = [];
  const lines: LogLine[] = [];
  const { ctx, stop } = context(readings, lines);
  const run = new OneWireSource({ name: 'temps', intervalMs: 20, baseDir: tree.baseDir }).run(ctx);
  await waitUntil(() => lines.some((l) => l.fields?.problem === 'power-on'), 5_000, 'the rejection');
  await new Promise((resolve) => setTimeout(resolve, 100));
  stop();
  await run;
  assert.equal(readings.length, 0);
  await assert.rejects(new OneWireSource({ name: 'temps', intervalMs: 20, baseDir: join(tree.baseDir, 'nope') }).run(context([]).ctx), /dtoverlay=w1-gpio/);
  const listed = new OneWireSource({ name: 'temps', intervalMs: 20, baseDir: join(tree.baseDir, 'nope'), probes: [{ id: POWER_ON, name: 'cellar' }] });
  await assert.rejects(listed.run(context([]).ctx), /dtoverlay=w1-gpio/, 'listed probes too: no bus is a source failure, not three missing probes');
});
