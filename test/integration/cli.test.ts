import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { PROJECT_ROOT, runCli, writeConfig } from '../support/cli.js';
import { makeTempDir } from '../support/temp.js';

const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

void test('--help and --version', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /sensorgate run\s+--config FILE/);
  assert.match(help.stdout, /sensorgate check --config FILE/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
});

void test('unknown command and missing --config exit 2 with a message, no stack trace', async () => {
  for (const args of [['frobnicate'], ['run'], ['check'], ['run', '--bogus']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `sensorgate ${args.join(' ')}`);
    assert.match(r.stderr, /^sensorgate: /);
    assert.doesNotMatch(r.stderr, STACK_FRAME);
  }
});

void test('check prints the resolved config with defaults and the password masked', async (t) => {
  const dir = await makeTempDir('sg-cli-', t);
  await writeFile(join(dir, 'secret'), 'hunter2-very-secret\n');
  const path = await writeConfig(dir, {
    device: { id: 'pi-7' },
    mqtt: { url: 'mqtt://broker.example:1884', username: 'gw', passwordFile: 'secret' },
    sources: [{ type: 'simulated', name: 'sim', interval: '200ms' }],
  });
  const r = await runCli(['check', '-c', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
  assert.match(r.stdout, /\*{8}/);
  assert.match(r.stdout, /inflight: 20/);
  assert.match(r.stdout, /sensorgate\/pi-7\/status/);
});

void test('every config error names its field and exits non-zero without a stack trace', async (t) => {
  const dir = await makeTempDir('sg-cli-', t);
  const cases: Array<[unknown, RegExp]> = [
    [{ mqtt: { url: 'mqtt://h' } }, /device(\.id)?: /],
    [{ device: { id: 'a' }, mqtt: { url: 'http://h' } }, /mqtt\.url: /],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h', inflight: 0 } }, /mqtt\.inflight: must be a positive integer/],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h', keepalive: 'soon' } }, /mqtt\.keepalive: /],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h', inflght: 3 } }, /mqtt\.inflght: unknown key/],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h' }, store: { maxBytes: '12 parsecs' } }, /store\.maxBytes: /],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h' }, store: { whenFull: 'panic' } }, /store\.whenFull: /],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h' }, publish: { qos: 3 } }, /publish\.qos: /],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h' }, sources: [{ type: 'simulated', name: 's', interval: '-1s' }] }, /sources\[0\]\.interval: /],
    [{ device: { id: 'a' }, mqtt: { url: 'mqtt://h' }, sources: [{ type: 'laser', name: 's' }] }, /sources\[0\]\.type: /],
  ];
  for (const [i, [config, expected]] of cases.entries()) {
    const path = await writeConfig(dir, config, { name: `bad-${i}.yaml` });
    for (const command of ['check', 'run']) {
      const r = await runCli([command, '--config', path]);
      assert.equal(r.code, 2, `${command} case ${i}: ${r.stderr}`);
      assert.match(r.stderr, expected, `${command} case ${i}`);
      assert.doesNotMatch(r.stderr, STACK_FRAME);
    }
  }
  const missing = await runCli(['check', '--config', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml/);
  await writeFile(join(dir, 'broken.json'), '{"device": {');
  const broken = await runCli(['check', '--config', join(dir, 'broken.json')]);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /broken\.json/);
  assert.doesNotMatch(broken.stderr, STACK_FRAME);
});
