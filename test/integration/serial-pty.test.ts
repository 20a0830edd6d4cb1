/**
 * The serial source on real pseudo-terminals with the real serialport binding: every parser end
 * to end, polling, line noise, the first partial line, unplug/replug, and a port absent at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FieldSpecs } from '../../src/sources/fields.js';
import { systemBinding } from '../../src/sources/serial/binding.js';
import type { ParserSpec } from '../../src/sources/serial/parsers/index.js';
import { SerialSource } from '../../src/sources/serial/source.js';
import type { SerialSourceOptions } from '../../src/sources/serial/source.js';
import type { AfterHook } from '../support/cleanup.js';
import { createPty } from '../support/pty.js';
import type { PtyDevice } from '../support/pty.js';
import { runSource } from '../support/source-context.js';
import type { RunningSource } from '../support/source-context.js';
import { sleep, waitUntil, withTimeout } from '../support/wait.js';

const TIMEOUT = { timeout: 60_000 };

function serialSource(path: string, parser: ParserSpec, extra: Partial<SerialSourceOptions> = {}): SerialSource {
  return new SerialSource({
    name: 'dev',
    path,
    baudRate: 9600,
    dataBits: 8,
    parity: 'none',
    stopBits: 1,
    rtscts: false,
    maxLineLength: 256,
    parser,
    fields: {},
    // Fast retries keep unplug tests short; the production default is 1 s → 30 s.
    retry: { minMs: 50, maxMs: 400 },
    ...extra,
  });
}

interface Rig {
  pty: PtyDevice;
  source: SerialSource;
  run: RunningSource;
}

/** A pty, a source on it, opened; the first line end is sent so the next line is not a "first partial line". */
async function rig(t: AfterHook, parser: ParserSpec, extra: Partial<SerialSourceOptions> = {}): Promise<Rig> {
  const pty = await createPty({ t });
  const source = serialSource(pty.path, parser, extra);
  const run = runSource(source, { t });
  await run.waitForLog('serial port opened', 10_000);
  if (extra.poll === undefined) await pty.write('\n');
  return { pty, source, run };
}

const fieldsOf = (run: RunningSource): unknown[] => run.readings.map((r) => ({ ...r.fields }));

void test('lines: each line is a value; numbers become numbers; ts is when the line ended', TIMEOUT, async (t) => {
  const { pty, run } = await rig(t, { type: 'lines', field: 'value' });
  const before = Date.now();
  await pty.write('21.5\r\nhello world\n');
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [{ value: 21.5 }, { value: 'hello world' }]);
  for (const reading of run.readings) {
    assert.equal(reading.source, 'dev');
    assert.ok(reading.ts >= before && reading.ts <= Date.now(), `ts ${reading.ts}`);
  }
});

void test('json: objects per line; a broken line is counted and sampled in the log', TIMEOUT, async (t) => {
  const { pty, source, run } = await rig(t, { type: 'json' });
  await pty.write('{"t":21.5,"h":40}\n{"t":21.6,"h\n{"t":22,"bme":{"p":1013}}\n');
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [{ t: 21.5, h: 40 }, { t: 22, 'bme.p': 1013 }]);
  assert.equal(source.stats().parseErrors, 1);
  const log = await run.waitForLog('serial line not parsed', 1_000);
  assert.equal(log.fields.sample, '{"t":21.6,"h');
  assert.match(String(log.fields.reason), /^not JSON/);
});

void test('csv: columns, transforms applied, a short line is a parse error', TIMEOUT, async (t) => {
  const fields: FieldSpecs = { temperature: { unit: '°C' }, pressure: { scale: 0.1, unit: 'hPa' } };
  const { pty, source, run } = await rig(t, { type: 'csv', columns: ['temperature', null, 'pressure'], separator: ',' }, { fields });
  await pty.write('21.5,x,10132\r\n21.6,10133\r\n21.7,y,10134\r\n');
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [
    { temperature: 21.5, pressure: 1013.2 },
    { temperature: 21.7, pressure: 1013.4 },
  ]);
  assert.equal(source.stats().parseErrors, 1);
});

void test('kv: both default styles, with renames', TIMEOUT, async (t) => {
  const fields: FieldSpecs = { T: { rename: 'temperature' }, H: { rename: 'humidity' }, temp: { rename: 'temperature' }, hum: { rename: 'humidity' } };
  const { pty, run } = await rig(t, { type: 'kv' }, { fields });
  await pty.write('T=21.5 H=40\ntemp:21.6,hum:41\n');
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [
    { temperature: 21.5, humidity: 40 },
    { temperature: 21.6, humidity: 41 },
  ]);
});

void test('regex: named groups, a line that does not match is counted', TIMEOUT, async (t) => {
  const fields: FieldSpecs = { p: { rename: 'pressure', scale: 0.1 } };
  const { pty, source, run } = await rig(t, { type: 'regex', pattern: '^T(?<t>-?[0-9.]+) P(?<p>[0-9]+)$', flags: '' }, { fields });
  await pty.write('T21.5 P10132\nboot v1.2\nT-0.5 P9990\n');
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [
    { t: 21.5, pressure: 1013.2 },
    { t: -0.5, pressure: 999 },
  ]);
  assert.equal(source.stats().parseErrors, 1);
});

void test('nmea: real GGA and RMC sentences; other types ignored; a bad checksum counted', TIMEOUT, async (t) => {
  const { pty, source, run } = await rig(t, { type: 'nmea', sentences: ['GGA', 'RMC'] });
  await pty.write(
    [
      '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47',
      '$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74',
      '$GPGGA,123520,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47', // time changed, checksum not: corrupted
      '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A',
      '',
    ].join('\r\n'),
  );
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [
    { fix: 1, satellites: 8, hdop: 0.9, lat: 48.1173, lon: 11.5166667, alt: 545.4 },
    { valid: true, lat: 48.1173, lon: 11.5166667, speed: 41.485, course: 84.4 },
  ]);
  const stats = source.stats();
  assert.equal(stats.ignoredLines, 1);
  assert.equal(stats.parseErrors, 1);
  assert.match(String((await run.waitForLog('serial line not parsed', 1_000)).fields.reason), /checksum mismatch/);
});

void test('garbage: binary noise, invalid UTF-8 and oversized lines are counted and dropped; good lines around them survive', TIMEOUT, async (t) => {
  const { pty, source, run } = await rig(t, { type: 'kv' });
  await pty.write(
    Buffer.concat([
      Buffer.from('T=1\n'),
      Buffer.from([0x54, 0x3d, 0x00, 0x00, 0x32, 0x0a]), // NUL noise
      Buffer.from([0x54, 0x3d, 0xff, 0xfe, 0x33, 0x0a]), // invalid UTF-8
      Buffer.alloc(5_000, 0x41), // far over maxLineLength (256), no line end for a while
      Buffer.from('\nT=4\n'),
      Buffer.from([0x80, 0x81, 0x82, 0x0d, 0x0a]), // a lone continuation run
      Buffer.from('T=5\n'),
    ]),
  );
  await run.waitForReadings(3, 5_000);
  assert.deepEqual(fieldsOf(run), [{ T: 1 }, { T: 4 }, { T: 5 }]);
  const stats = source.stats();
  assert.equal(stats.binaryLines, 1);
  assert.equal(stats.invalidUtf8Lines, 2);
  assert.equal(stats.oversizeLines, 1);
  assert.equal(stats.parseErrors, 0);
  assert.equal((await run.waitForLog('serial line with binary noise discarded', 1_000)).fields.sampleHex, '543d000032');
  await run.waitForLog('serial line with invalid UTF-8 discarded', 1_000);
  assert.equal((await run.waitForLog('serial line longer than maxLineLength discarded', 1_000)).fields.bytes, 5_000);
  // A second noisy line within the interval is counted, not logged again.
  await pty.write(Buffer.from([0x00, 0x0a, 0x54, 0x3d, 0x36, 0x0a]));
  await run.waitForReadings(4, 5_000);
  assert.equal(source.stats().binaryLines, 2);
  assert.equal(run.countLogs('serial line with binary noise discarded'), 1);
});

void test('the first partial line after open is dropped', TIMEOUT, async (t) => {
  const pty = await createPty({ t });
  const source = serialSource(pty.path, { type: 'kv' });
  const run = runSource(source, { t });
  await run.waitForLog('serial port opened', 10_000);
  await pty.write('=21.5 H=40\nT=22 H=41\n'); // the tail of a line the device was sending before we opened
  await run.waitForReadings(1, 5_000);
  assert.deepEqual(fieldsOf(run), [{ T: 22, H: 41 }]);
  assert.equal(source.stats().partialLines, 1);
  assert.equal(source.stats().parseErrors, 0);
});

void test('polling: one command at a time, each reply parsed; escapes decoded', TIMEOUT, async (t) => {
  const pty = await createPty({ t });
  let n = 0;
  pty.onData((chunk) => {
    // The device answers each complete command, after a little thinking time.
    const commands = chunk.toString('latin1').split('\x02R\r').length - 1;
    for (let i = 0; i < commands; i++) {
      n++;
      const reply = `T=${20 + n} H=${40 + n}\r\n`;
      setTimeout(() => void pty.write(reply).catch(() => undefined), 20);
    }
  });
  const source = serialSource(pty.path, { type: 'kv' }, { poll: { command: '\\x02R\\r', everyMs: 150, timeoutMs: 100 } });
  const run = runSource(source, { t });
  await run.waitForReadings(4, 10_000);
  await run.stop();
  assert.deepEqual(fieldsOf(run).slice(0, 4), [
    { T: 21, H: 41 },
    { T: 22, H: 42 },
    { T: 23, H: 43 },
    { T: 24, H: 44 },
  ]);
  const stats = source.stats();
  assert.equal(pty.received().toString('latin1'), '\x02R\r'.repeat(stats.polls), 'exactly the decoded command, once per poll');
  assert.equal(stats.pollTimeouts, 0);
  assert.equal(stats.unsolicitedLines, 0);
  assert.ok(stats.readings >= 4 && stats.readings <= stats.polls, `${stats.readings} readings for ${stats.polls} polls`);
});

void test('polling a device that does not answer: timeouts counted, the source carries on and reads once it answers', TIMEOUT, async (t) => {
  const pty = await createPty({ t });
  let answering = false;
  pty.onData(() => {
    if (answering) void pty.write('T=7\r\n').catch(() => undefined);
  });
  const source = serialSource(pty.path, { type: 'kv' }, { poll: { command: 'R\\r', everyMs: 100, timeoutMs: 80 } });
  const run = runSource(source, { t });
  await waitUntil(() => source.stats().pollTimeouts >= 3, 10_000, '3 poll timeouts');
  assert.equal(run.readings.length, 0);
  assert.equal(run.countLogs('serial poll got no reply'), 1, 'rate-limited: one line for many timeouts');
  // A line the device sends on its own (no command waiting) is not taken as a reply.
  answering = true;
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run).slice(0, 2), [{ T: 7 }, { T: 7 }]);
  const stats = source.stats();
  assert.ok(stats.polls >= stats.pollTimeouts + stats.readings, 'every reply and every timeout belongs to its own poll');
});

void test('unplug and replug: the source notices, retries, reopens and reads again', TIMEOUT, async (t) => {
  const { pty, source, run } = await rig(t, { type: 'kv' });
  await pty.write('T=1\n');
  await run.waitForReadings(1, 5_000);

  const mark = run.logs.length;
  await pty.unplug();
  const closed = await run.waitForLog('serial port closed/unplugged', 5_000, { since: mark });
  assert.ok(closed.fields.err !== undefined);
  await run.waitForLog('serial port not found, retrying', 5_000, { since: mark });
  await sleep(500); // several retries while absent
  assert.ok(source.stats().openFailures >= 2, `open failures: ${source.stats().openFailures}`);

  await pty.plug();
  await run.waitForLog('serial port opened', 5_000, { since: mark });
  await pty.write('\nT=2\n');
  await run.waitForReadings(2, 5_000);
  assert.deepEqual(fieldsOf(run), [{ T: 1 }, { T: 2 }]);
  const stats = source.stats();
  assert.equal(stats.opens, 2);
  assert.equal(stats.disconnects, 1);

  // And once more: each unplug is noticed, not just the first.
  const mark2 = run.logs.length;
  await pty.unplug();
  await waitUntil(() => source.stats().disconnects === 2, 5_000, 'second disconnect');
  await run.waitForLog('serial port not found, retrying', 5_000, { since: mark2 });
  await pty.plug();
  await waitUntil(() => source.stats().opens === 3, 5_000, 'third open');
  await pty.write('\nT=3\n');
  await run.waitForReadings(3, 5_000);
  assert.equal(run.countLogs('serial port not found, retrying'), 2, 'each outage logs "not found" once (first attempt), not once per retry');
});

// node-serialport's own read spins on the 0-byte reads of a hung-up tty and never rejects when
// the hangup comes while no read waits in its poller (see src/sources/serial/unix-link.ts).
void test('a hangup while no read is waiting: the next read rejects instead of spinning', TIMEOUT, async (t) => {
  const pty = await createPty({ t });
  const link = await (await systemBinding()).open({ path: pty.path, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false });
  t.after(() => link.close().catch(() => undefined));
  const buffer = Buffer.alloc(64);
  await pty.write('T=1\n');
  const { bytesRead } = await withTimeout(link.read(buffer, 0, buffer.length), 5_000, 'the first read');
  assert.ok(bytesRead > 0);
  await pty.unplug(); // socat has exited and the pty is gone before the next read starts
  await assert.rejects(withTimeout(link.read(buffer, 0, buffer.length), 5_000, 'the read after the hangup'), /hung up/);
});

void test('an unplug while the source is committing is noticed by the read alone (path check off)', TIMEOUT, async (t) => {
  const pty = await createPty({ t });
  const source = serialSource(pty.path, { type: 'kv' }, { deviceCheckMs: 0 });
  const run = runSource(source, { t, emitDelayMs: 1_500 });
  await run.waitForLog('serial port opened', 10_000);
  await pty.write('\nT=1\n');
  await waitUntil(() => source.stats().bytesRead >= 5, 5_000, 'the line read; its emit is pending');
  await pty.unplug();
  const closed = await run.waitForLog('serial port closed/unplugged', 10_000);
  assert.match(String((closed.fields.err as { message?: string }).message), /hung up/);
  await run.waitForLog('serial port not found, retrying', 5_000);
  assert.deepEqual(fieldsOf(run), [{ T: 1 }], 'the reading read before the unplug was emitted');
});

void test('a port absent at start is opened when it appears', TIMEOUT, async (t) => {
  const pty = await createPty({ t, plugged: false });
  const source = serialSource(pty.path, { type: 'lines', field: 'v' });
  const run = runSource(source, { t });
  const notFound = await run.waitForLog('serial port not found, retrying', 5_000);
  assert.equal(notFound.level, 'warn');
  assert.equal(notFound.fields.path, pty.path);
  await sleep(300);
  await pty.plug();
  await run.waitForLog('serial port opened', 5_000);
  await pty.write('\n42\n');
  await run.waitForReadings(1, 5_000);
  assert.deepEqual(fieldsOf(run), [{ v: 42 }]);
});

void test('stop is clean: run returns promptly and the port is released for others', TIMEOUT, async (t) => {
  const { pty, run } = await rig(t, { type: 'lines', field: 'v' });
  await run.stop(2_000);
  // The port was closed and released: another source opens it and reads.
  const again = runSource(serialSource(pty.path, { type: 'lines', field: 'v' }), { t });
  await again.waitForLog('serial port opened', 5_000);
  await pty.write('\n1\n');
  await again.waitForReadings(1, 5_000);
});
