/** loadConfig: files on disk (YAML, JSON), relative paths, password files, TLS files, syntax errors. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/config/errors.js';
import type { ConfigIssue } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_DELAY_MS, DEFAULT_BATCH_MAX_READINGS, PASSWORD_ENV } from '../../src/config/schema.js';

const NO_ENV = {};
let dir = '';
let counter = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sensorgate-config-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `text` to a fresh file with the given extension in the temp dir; returns its path. */
async function file(text: string, extension = '.yaml'): Promise<string> {
  const path = join(dir, `config-${++counter}${extension}`);
  await writeFile(path, text);
  return path;
}

async function issuesOf(promise: Promise<unknown>): Promise<{ error: ConfigError; issues: readonly ConfigIssue[] }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) return { error: err, issues: err.issues };
    throw err;
  }
  return assert.fail('expected a ConfigError');
}

const MINIMAL_YAML = 'device:\n  id: gw-1\nmqtt:\n  url: mqtt://broker\n';

void test('YAML: loads, and the default store path is next to the config file', async () => {
  const config = await loadConfig(await file(MINIMAL_YAML), NO_ENV);
  assert.equal(config.device.id, 'gw-1');
  assert.equal(config.mqtt.url, 'mqtt://broker:1883');
  assert.equal(config.store.path, join(dir, 'sensorgate-data'));
});

void test('.yml and .json are accepted too', async () => {
  assert.equal((await loadConfig(await file(MINIMAL_YAML, '.yml'), NO_ENV)).device.id, 'gw-1');
  const json = JSON.stringify({ device: { id: 'gw-json' }, mqtt: { url: 'mqtts://broker' }, store: { path: 'q' } });
  const config = await loadConfig(await file(json, '.json'), NO_ENV);
  assert.equal(config.device.id, 'gw-json');
  assert.equal(config.mqtt.port, 8883);
  assert.equal(config.store.path, join(dir, 'q'));
});

void test('relative store.path resolves against the config file directory, not the working directory', async () => {
  await mkdir(join(dir, 'etc'), { recursive: true });
  const path = join(dir, 'etc', 'gw.yaml');
  await writeFile(path, `${MINIMAL_YAML}store:\n  path: ../var/queue\n`);
  assert.equal((await loadConfig(path, NO_ENV)).store.path, join(dir, 'var', 'queue'));
});

void test('a UTF-8 byte order mark is ignored', async () => {
  const json = `\uFEFF${JSON.stringify({ device: { id: 'bom' }, mqtt: { url: 'mqtt://b' } })}`;
  assert.equal((await loadConfig(await file(json, '.json'), NO_ENV)).device.id, 'bom');
  assert.equal((await loadConfig(await file(`\uFEFF${MINIMAL_YAML}`), NO_ENV)).device.id, 'gw-1');
});

void test('an unsupported extension is refused, naming the file', async () => {
  const path = await file(MINIMAL_YAML, '.toml');
  const { error, issues } = await issuesOf(loadConfig(path, NO_ENV));
  assert.equal(error.file, path);
  assert.ok(error.message.includes(path));
  assert.match(issues[0]?.message ?? '', /unsupported config file type \("\.toml"\): use \.yaml, \.yml or \.json/);
  await assert.rejects(loadConfig(join(dir, 'noextension'), NO_ENV), /no extension/);
});

void test('a missing or unreadable file is a ConfigError naming the file', async () => {
  const missing = join(dir, 'missing.yaml');
  const { error } = await issuesOf(loadConfig(missing, NO_ENV));
  assert.ok(error.message.includes(missing));
  assert.match(error.message, /file not found/);

  const directory = join(dir, 'a-directory.yaml');
  await mkdir(directory);
  assert.match((await issuesOf(loadConfig(directory, NO_ENV))).error.message, /not a regular file/);

  const big = await file(`# ${'x'.repeat(1024 * 1024)}\n${MINIMAL_YAML}`);
  assert.match((await issuesOf(loadConfig(big, NO_ENV))).error.message, /larger than/);
});

void test('YAML syntax errors give the file, line and column', async () => {
  const path = await file('device:\n  id: gw-1\nmqtt:\n  url: [mqtt://broker\n  inflight: 3\n');
  const { error, issues } = await issuesOf(loadConfig(path, NO_ENV));
  assert.ok(error.message.includes(path));
  assert.match(error.message, /YAML syntax error/);
  assert.ok(issues.every((issue) => typeof issue.line === 'number' && issue.line >= 4), JSON.stringify(issues));
});

void test('YAML duplicate keys are errors, not "last one wins"', async () => {
  const { issues } = await issuesOf(loadConfig(await file(`${MINIMAL_YAML}mqtt:\n  url: mqtt://other\n`), NO_ENV));
  assert.equal(issues[0]?.line, 5);
  assert.match(issues[0]?.message ?? '', /unique/);
});

void test('YAML alias bombs are refused', async () => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++) levels.push(`${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9).fill(`*${'abcdefghi'[i - 1]}`).join(',')}]`);
  const { error } = await issuesOf(loadConfig(await file(`${levels.join('\n')}\n`), NO_ENV));
  assert.match(error.message, /YAML error/);
});

void test('JSON syntax errors give the file (and the line when the parser reports a position)', async () => {
  const path = await file('{\n  "device": {"id": "gw"},\n}\n', '.json');
  const { error, issues } = await issuesOf(loadConfig(path, NO_ENV));
  assert.ok(error.message.includes(path));
  assert.match(error.message, /JSON syntax error/);
  assert.equal(issues[0]?.line, 3);
  assert.match((await issuesOf(loadConfig(await file('{"device": x}', '.json'), NO_ENV))).error.message, /JSON syntax error/);
});

void test('JSON duplicate keys are errors', async () => {
  const json = '{"device": {"id": "a"}, "mqtt": {"url": "mqtt://b"}, "device": {"id": "b"}}';
  const { issues } = await issuesOf(loadConfig(await file(json, '.json'), NO_ENV));
  assert.match(issues[0]?.message ?? '', /duplicate key/);
});

void test('an empty file says what is required', async () => {
  const { issues } = await issuesOf(loadConfig(await file('# nothing yet\n'), NO_ENV));
  assert.match(issues[0]?.message ?? '', /empty.*device\.id and mqtt\.url/);
});

void test('validation issues carry the line of the field, in file order', async () => {
  const path = await file(
    ['device:', '  id: gw-1', 'mqtt:', '  url: mqtt://broker', '  inflght: 5', 'sources:', '  - type: simulated', '    name: a', '    interval: soon', '  - name: b', ''].join(
      '\n',
    ),
  );
  const { error, issues } = await issuesOf(loadConfig(path, NO_ENV));
  assert.deepEqual(
    issues.map((issue) => [issue.path, issue.line]),
    [
      ['mqtt.inflght', 5],
      ['sources[0].interval', 9],
      ['sources[1].type', 10], // missing: the line of the entry it is missing from
    ],
  );
  assert.ok(error.message.includes('mqtt.inflght: unknown key (did you mean inflight?) (line 5)'));
});

void test('JSON validation issues carry lines too', async () => {
  const json = '{\n  "device": {"id": "gw"},\n  "mqtt": {\n    "url": "mqtt://b",\n    "inflight": 0\n  }\n}\n';
  const { issues } = await issuesOf(loadConfig(await file(json, '.json'), NO_ENV));
  assert.deepEqual(issues, [{ path: 'mqtt.inflight', message: 'must be a positive integer', line: 5 }]);
});

void test('mqtt.passwordFile: read relative to the config, trailing newline trimmed, wins over the environment', async () => {
  await writeFile(join(dir, 'pw.txt'), 's3cret with spaces \n');
  const config = await loadConfig(await file(`${MINIMAL_YAML}  passwordFile: pw.txt\n`), { [PASSWORD_ENV]: 'from-env' });
  assert.equal(config.mqtt.password, 's3cret with spaces ');
  assert.equal(config.mqtt.passwordSource, 'passwordFile');
  assert.equal(config.mqtt.passwordFile, join(dir, 'pw.txt'));

  await writeFile(join(dir, 'pw-crlf.txt'), 'abc\r\n');
  assert.equal((await loadConfig(await file(`${MINIMAL_YAML}  passwordFile: pw-crlf.txt\n`), NO_ENV)).mqtt.password, 'abc');
});

void test('mqtt.passwordFile problems name mqtt.passwordFile', async () => {
  const cases: Array<[string, RegExp]> = [
    ['nope.txt', /^file not found: .*nope\.txt$/],
    ['.', /not a regular file/],
  ];
  await writeFile(join(dir, 'empty-pw.txt'), '\n');
  cases.push(['empty-pw.txt', /file is empty/]);
  if (process.getuid?.() !== 0) {
    await writeFile(join(dir, 'locked-pw.txt'), 'x');
    await chmod(join(dir, 'locked-pw.txt'), 0o000);
    cases.push(['locked-pw.txt', /permission denied/]);
  }
  for (const [name, message] of cases) {
    const { issues } = await issuesOf(loadConfig(await file(`${MINIMAL_YAML}  passwordFile: ${name}\n`), NO_ENV));
    assert.equal(issues[0]?.path, 'mqtt.passwordFile', name);
    assert.match(issues[0]?.message ?? '', message, name);
  }
});

void test('mqtt.passwordFile pointing at a FIFO is refused without blocking', { skip: process.platform === 'win32' }, async () => {
  const fifo = join(dir, 'pw.fifo');
  execFileSync('mkfifo', [fifo]);
  const { issues } = await issuesOf(loadConfig(await file(`${MINIMAL_YAML}  passwordFile: pw.fifo\n`), NO_ENV));
  assert.equal(issues[0]?.path, 'mqtt.passwordFile');
  assert.match(issues[0]?.message ?? '', /not a regular file/);
});

void test('mqtt.password and mqtt.passwordFile together are refused', async () => {
  await writeFile(join(dir, 'pw2.txt'), 'x');
  const { issues } = await issuesOf(loadConfig(await file(`${MINIMAL_YAML}  password: a\n  passwordFile: pw2.txt\n`), NO_ENV));
  assert.deepEqual(
    issues.map((issue) => issue.path),
    ['mqtt.passwordFile'],
  );
});

void test('mqtt.tls: files must exist and be readable; paths resolve against the config directory', async () => {
  await writeFile(join(dir, 'ca.pem'), 'ca');
  await writeFile(join(dir, 'client.pem'), 'cert');
  await writeFile(join(dir, 'client.key'), 'key');
  const yaml = 'device:\n  id: gw\nmqtt:\n  url: mqtts://broker\n  tls:\n    ca: ca.pem\n    cert: client.pem\n    key: client.key\n';
  const config = await loadConfig(await file(yaml), NO_ENV);
  assert.deepEqual(config.mqtt.tls, {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'client.pem'),
    key: join(dir, 'client.key'),
    rejectUnauthorized: true,
  });

  const onlyCa = await loadConfig(await file('device:\n  id: gw\nmqtt:\n  url: mqtts://broker\n  tls:\n    ca: ca.pem\n'), NO_ENV);
  assert.deepEqual(onlyCa.mqtt.tls, { ca: join(dir, 'ca.pem'), rejectUnauthorized: true });
});

void test('mqtt.tls problems name the field', async () => {
  const base = 'device:\n  id: gw\nmqtt:\n  url: mqtts://broker\n  tls:\n';
  const cases: Array<[string, string, RegExp]> = [
    ['    ca: missing-ca.pem\n', 'mqtt.tls.ca', /file not found: .*missing-ca\.pem/],
    ['    ca: .\n', 'mqtt.tls.ca', /not a regular file/],
    ['    cert: ca.pem\n', 'mqtt.tls.key', /required when mqtt\.tls\.cert is given/],
    ['    key: ca.pem\n', 'mqtt.tls.cert', /required when mqtt\.tls\.key is given/],
    ['    cert: missing.pem\n    key: client.key\n', 'mqtt.tls.cert', /file not found/],
    ['    ca: ""\n', 'mqtt.tls.ca', /must not be empty/],
  ];
  await writeFile(join(dir, 'ca.pem'), 'ca');
  await writeFile(join(dir, 'client.key'), 'key');
  for (const [tls, path, message] of cases) {
    const { issues } = await issuesOf(loadConfig(await file(base + tls), NO_ENV));
    assert.ok(
      issues.some((issue) => issue.path === path && message.test(issue.message)),
      `${tls.trim()}: expected ${path} ${String(message)}; got ${JSON.stringify(issues)}`,
    );
  }
});

void test('mqtt.tls with an mqtt:// url is refused, even alongside other problems', async () => {
  await writeFile(join(dir, 'ca.pem'), 'ca');
  const { issues } = await issuesOf(loadConfig(await file(`${MINIMAL_YAML}  inflight: 0\n  tls:\n    ca: ca.pem\n`), NO_ENV));
  assert.deepEqual(
    issues.map((issue) => issue.path),
    ['mqtt.inflight', 'mqtt.tls'],
  );
  assert.match(issues[1]?.message ?? '', /mqtts:\/\//);
});

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

void test('config/sensorgate.example.yaml is valid', async () => {
  const config = await loadConfig(join(repoRoot, 'config', 'sensorgate.example.yaml'), NO_ENV);
  assert.equal(config.store.path, '/var/lib/sensorgate');
  assert.equal(config.mqtt.keepaliveMs, 60_000);
  assert.equal(config.sources.length, 1);
});

void test('config/sensorgate.example.yaml: the commented publish.batch block, uncommented, shows the defaults', async () => {
  const example = await readFile(join(repoRoot, 'config', 'sensorgate.example.yaml'), 'utf8');
  const uncommented = example.replace(/^ {2}# batch:/m, '  batch:').replace(/^ {2}# {3}(max(?:Readings|Delay|Bytes):)/gm, '    $1');
  assert.notEqual(uncommented, example);
  const config = await loadConfig(await file(uncommented), NO_ENV);
  assert.deepEqual(config.publish.batch, { maxReadings: DEFAULT_BATCH_MAX_READINGS, maxDelayMs: DEFAULT_BATCH_MAX_DELAY_MS, maxBytes: DEFAULT_BATCH_MAX_BYTES });
  assert.equal((await loadConfig(join(repoRoot, 'config', 'sensorgate.example.yaml'), NO_ENV)).publish.batch, undefined, 'off unless given');
});

void test('config/demo.yaml is valid and keeps its store under the repository', async () => {
  const config = await loadConfig(join(repoRoot, 'config', 'demo.yaml'), NO_ENV);
  assert.equal(config.device.id, 'demo-gateway');
  assert.equal(config.mqtt.host, '127.0.0.1');
  assert.equal(config.store.path, join(repoRoot, '.sensorgate-demo'));
  assert.deepEqual(
    config.sources.map((source) => [source.name, source.type === 'simulated' ? source.intervalMs : undefined]),
    [
      ['greenhouse', 1_000],
      ['barn', 2_000],
    ],
  );
});
