/** `type: serial` sources in the config: defaults, and an error naming the field for every rule. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import type { SerialSourceConfig } from '../../src/config/types.js';
import { makeTempDir } from '../support/temp.js';

const BASE = { device: { id: 'gw-1' }, mqtt: { url: 'mqtt://broker.local' } } as const;
const SERIAL = { type: 'serial', name: 'weather', path: '/dev/serial/by-id/usb-FTDI_FT232R-if00-port0' } as const;

async function serial(entry: Record<string, unknown>): Promise<SerialSourceConfig> {
  const config = await parseConfig({ ...BASE, sources: [{ ...SERIAL, ...entry }] }, { baseDir: '/etc/sensorgate', env: {} });
  const source = config.sources[0];
  assert.equal(source?.type, 'serial');
  return source;
}

/** The `path: message` lines for one bad serial entry. */
async function problems(entry: Record<string, unknown>): Promise<string[]> {
  try {
    await serial(entry);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((issue) => `${issue.path}: ${issue.message}`);
    throw err;
  }
  return assert.fail(`expected a ConfigError for ${JSON.stringify(entry)}`);
}

async function problem(entry: Record<string, unknown>, expected: RegExp): Promise<void> {
  const found = await problems(entry);
  assert.ok(
    found.some((line) => expected.test(line)),
    `expected ${String(expected)} among:\n  ${found.join('\n  ')}`,
  );
}

void test('a serial source gets every default', async () => {
  assert.deepEqual(await serial({ parser: { type: 'lines' } }), {
    ...SERIAL,
    baudRate: 9600,
    dataBits: 8,
    parity: 'none',
    stopBits: 1,
    rtscts: false,
    maxLineLength: 1024,
    parser: { type: 'lines', field: 'value' },
    fields: {},
  });
  assert.deepEqual((await serial({ parser: { type: 'csv', columns: ['a', null] } })).parser, { type: 'csv', columns: ['a', null], separator: ',' });
  assert.deepEqual((await serial({ parser: { type: 'nmea' } })).parser, { type: 'nmea', sentences: ['GGA', 'RMC'] });
  assert.deepEqual((await serial({ parser: { type: 'regex', pattern: '(?<t>\\d+)' } })).parser, { type: 'regex', pattern: '(?<t>\\d+)', flags: '' });
});

void test('port settings, poll and fields are resolved', async () => {
  const source = await serial({
    baudRate: 115200,
    dataBits: 7,
    parity: 'even',
    stopBits: 2,
    rtscts: true,
    maxLineLength: 256,
    parser: { type: 'kv', pairSeparator: ',', keyValueSeparator: ':' },
    poll: { command: 'R\\r', every: '10s', timeout: '500ms' },
    fields: { T: { rename: 'temperature', unit: '°C', offset: -0.5 }, P: { scale: 0.1, type: 'number' }, id: { type: 'string' }, H: null },
  });
  assert.deepEqual(source.poll, { command: 'R\\r', everyMs: 10_000, timeoutMs: 500 });
  assert.deepEqual(source.fields, { T: { rename: 'temperature', unit: '°C', offset: -0.5 }, P: { scale: 0.1, type: 'number' }, id: { type: 'string' }, H: {} });
  assert.equal(source.stopBits, 2);
  assert.equal((await serial({ parser: { type: 'json' }, poll: { command: '?', every: 5 } })).poll?.timeoutMs, 1_000, 'default timeout');
  assert.equal((await serial({ parser: { type: 'json' }, baudRate: 250000 })).baudRate, 250000, 'a non-standard rate is tried as given');
});

void test('port settings errors name their field', async () => {
  await problem({ parser: { type: 'json' }, path: 'ttyUSB0' }, /^sources\[0\]\.path: must be an absolute device path/);
  await problem({ parser: { type: 'json' }, path: undefined }, /^sources\[0\]\.path: is required/);
  await problem({ parser: { type: 'json' }, baudRate: 0 }, /^sources\[0\]\.baudRate: must be a positive integer baud rate, such as 9600/);
  await problem({ parser: { type: 'json' }, baudRate: 9600.5 }, /^sources\[0\]\.baudRate: must be a positive integer/);
  await problem({ parser: { type: 'json' }, baudRate: '9600' }, /^sources\[0\]\.baudRate: must be a positive integer/);
  await problem({ parser: { type: 'json' }, dataBits: 9 }, /^sources\[0\]\.dataBits: must be 5, 6, 7 or 8/);
  await problem({ parser: { type: 'json' }, parity: 'mark' }, /^sources\[0\]\.parity: must be one of: none, even, odd/);
  await problem({ parser: { type: 'json' }, stopBits: 3 }, /^sources\[0\]\.stopBits: must be 1, 1\.5 or 2/);
  await problem({ parser: { type: 'json' }, rtscts: 'yes' }, /^sources\[0\]\.rtscts: must be true or false/);
  await problem({ parser: { type: 'json' }, maxLineLength: 8 }, /^sources\[0\]\.maxLineLength: must be at least 16/);
  await problem({ parser: { type: 'json' }, baud: 9600 }, /^sources\[0\]\.baud: unknown key/);
});

void test('parser errors name their field', async () => {
  await problem({}, /^sources\[0\]\.parser\.type: is required \(known: lines, json, csv, kv, regex, nmea\)/);
  await problem({ parser: { type: 'xml' } }, /^sources\[0\]\.parser\.type: unknown parser type "xml" \(known: lines, json/);
  await problem({ parser: { type: 'csv' } }, /^sources\[0\]\.parser\.columns: is required when parser\.type is csv/);
  await problem({ parser: { type: 'csv', columns: [] } }, /^sources\[0\]\.parser\.columns: must name at least one column/);
  await problem({ parser: { type: 'csv', columns: ['a', 'a'] } }, /^sources\[0\]\.parser\.columns\[1\]: duplicate column name "a"/);
  await problem({ parser: { type: 'csv', columns: ['ts'] } }, /^sources\[0\]\.parser\.columns\[0\]: "ts" is reserved/);
  await problem({ parser: { type: 'csv', columns: ['a'], separator: '' } }, /^sources\[0\]\.parser\.separator: must not be empty/);
  await problem({ parser: { type: 'kv', pairSeparator: '' } }, /^sources\[0\]\.parser\.pairSeparator: must not be empty/);
  await problem({ parser: { type: 'regex' } }, /^sources\[0\]\.parser\.pattern: is required when parser\.type is regex/);
  await problem({ parser: { type: 'regex', pattern: '(?<t>[0-9' } }, /^sources\[0\]\.parser\.pattern: invalid regular expression: /);
  await problem({ parser: { type: 'regex', pattern: 'T=([0-9.]+)' } }, /^sources\[0\]\.parser\.pattern: needs at least one named group/);
  await problem({ parser: { type: 'regex', pattern: '(?<ts>\\d+)' } }, /^sources\[0\]\.parser\.pattern: group name ts: "ts" is reserved/);
  await problem({ parser: { type: 'regex', pattern: '(?<t>\\d+)', flags: 'g' } }, /^sources\[0\]\.parser\.flags: may only hold the flags i, m, s, u/);
  await problem({ parser: { type: 'nmea', sentences: ['GSV'] } }, /^sources\[0\]\.parser\.sentences\[0\]: must be one of: GGA, RMC/);
  await problem({ parser: { type: 'lines', field: 'a/b' } }, /^sources\[0\]\.parser\.field: contains a control character, \+, # or \//);
  await problem({ parser: { type: 'json', extra: 1 } }, /^sources\[0\]\.parser\.extra: unknown key/);
});

void test('poll errors name their field', async () => {
  const json = { type: 'json' };
  await problem({ parser: json, poll: { every: '5s' } }, /^sources\[0\]\.poll\.command: is required/);
  await problem({ parser: json, poll: { command: '', every: '5s' } }, /^sources\[0\]\.poll\.command: must not be empty/);
  await problem({ parser: json, poll: { command: 'R\\q', every: '5s' } }, /^sources\[0\]\.poll\.command: unknown escape "\\q"/);
  await problem({ parser: json, poll: { command: 'R\\x1', every: '5s' } }, /^sources\[0\]\.poll\.command: \\x needs two hex digits/);
  await problem({ parser: json, poll: { command: 'R' } }, /^sources\[0\]\.poll\.every: is required/);
  await problem({ parser: json, poll: { command: 'R', every: '0s' } }, /^sources\[0\]\.poll\.every: must be greater than 0/);
  await problem({ parser: json, poll: { command: 'R', every: '1s', timeout: '2s' } }, /^sources\[0\]\.poll\.every: must be at least poll\.timeout \(2s\)/);
  await problem({ parser: json, poll: { command: 'R', every: '1s', timeout: 'soon' } }, /^sources\[0\]\.poll\.timeout: must be a duration/);
});

void test('fields errors name their field', async () => {
  const json = { type: 'json' };
  await problem({ parser: json, fields: { T: { rename: 'x' }, H: { rename: 'x' } } }, /^sources\[0\]\.fields\.H\.rename: gives the same field name "x" as fields\.T/);
  await problem({ parser: json, fields: { T: { rename: 'ts' } } }, /^sources\[0\]\.fields\.T\.rename: "ts" is reserved/);
  await problem({ parser: json, fields: { ts: { unit: 's' } } }, /^sources\[0\]\.fields\.ts: "ts" is reserved.*give it a rename/);
  await problem({ parser: json, fields: { T: { scale: 0 } } }, /^sources\[0\]\.fields\.T\.scale: must be a number other than 0/);
  await problem({ parser: json, fields: { T: { offset: 'one' } } }, /^sources\[0\]\.fields\.T\.offset: must be a number/);
  await problem({ parser: json, fields: { T: { type: 'string', scale: 2 } } }, /^sources\[0\]\.fields\.T\.type: cannot be string together with scale or offset/);
  await problem({ parser: json, fields: { T: { type: 'float' } } }, /^sources\[0\]\.fields\.T\.type: must be one of: auto, number, string/);
  await problem({ parser: json, fields: { T: { unit: '' } } }, /^sources\[0\]\.fields\.T\.unit: must not be empty/);
  await problem({ parser: json, fields: { T: { units: 'C' } } }, /^sources\[0\]\.fields\.T\.units: unknown key \(did you mean unit\?\)/);
});

void test('a serial and a simulated source with the same name clash', async () => {
  await assert.rejects(
    parseConfig({ ...BASE, sources: [{ type: 'simulated', name: 'weather' }, { ...SERIAL, parser: { type: 'json' } }] }, { baseDir: '/', env: {} }),
    (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === 'sources[1].name' && /duplicate source name/.test(i.message)),
  );
});

void test('config/sensorgate.example.yaml: the commented serial source, uncommented, is valid and means what its comments say', async (t) => {
  const examplePath = join(fileURLToPath(new URL('../../../', import.meta.url)), 'config', 'sensorgate.example.yaml');
  const lines = (await readFile(examplePath, 'utf8')).split('\n');
  const start = lines.findIndex((line) => line === '  # - type: serial');
  const end = lines.findIndex((line, i) => i > start && !line.startsWith('  #'));
  assert.ok(start > 0 && end > start, 'the serial block is in the example');
  const uncommented = [...lines.slice(0, start), ...lines.slice(start, end).map((line) => line.replace(/^ {2}# /, '  ')), ...lines.slice(end)];
  const dir = await makeTempDir('example', t);
  await writeFile(join(dir, 'example.yaml'), uncommented.join('\n'));
  const config = await loadConfig(join(dir, 'example.yaml'), {});
  const serialSource = config.sources[1];
  assert.equal(serialSource?.type, 'serial');
  assert.deepEqual(serialSource, {
    type: 'serial',
    name: 'weather',
    path: '/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0',
    baudRate: 9600,
    dataBits: 8,
    parity: 'none',
    stopBits: 1,
    rtscts: false,
    maxLineLength: 1024,
    parser: { type: 'kv' },
    poll: { command: 'R\\r', everyMs: 10_000, timeoutMs: 1_000 },
    fields: { T: { rename: 'temperature', unit: '°C' }, P: { rename: 'pressure', scale: 0.1, offset: 0 }, id: { type: 'string' } },
  });
});
