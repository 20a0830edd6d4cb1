/** The metrics, homeassistant and commands sections: defaults, forms and field-named errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors.js';
import type { ConfigIssue } from '../../src/config/errors.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import type { AgentConfig } from '../../src/config/types.js';

const MINIMAL = { device: { id: 'gw-1' }, mqtt: { url: 'mqtt://broker.local' } };

function parse(extra: Record<string, unknown>): Promise<AgentConfig> {
  return parseConfig({ ...MINIMAL, ...extra }, { baseDir: '/etc/sensorgate', env: {} });
}

async function issues(extra: Record<string, unknown>): Promise<string[]> {
  try {
    await parse(extra);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i: ConfigIssue) => `${i.path}: ${i.message}`);
    throw err;
  }
  return assert.fail('expected a ConfigError');
}

void test('defaults: no listener, 5m health window, discovery off under homeassistant/, commands off under sensorgate/{device}/cmd', async () => {
  const config = await parse({});
  assert.deepEqual(config.metrics, { healthWindowMs: 300_000 });
  assert.deepEqual(config.homeassistant, { discovery: false, prefix: 'homeassistant' });
  assert.deepEqual(config.commands, { enabled: false, topic: 'sensorgate/gw-1/cmd' });
  const empty = await parse({ metrics: null, homeassistant: null, commands: null });
  assert.deepEqual(empty.metrics, config.metrics, 'empty sections mean the defaults');
});

void test('metrics.listen: host:port, [v6]:port, a bare port on loopback; false or empty is off', async () => {
  const listen = async (value: unknown) => (await parse({ metrics: { listen: value } })).metrics.listen;
  assert.deepEqual(await listen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(await listen('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
  assert.deepEqual(await listen('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(await listen('localhost:9464'), { host: 'localhost', port: 9464 });
  assert.deepEqual(await listen(9464), { host: '127.0.0.1', port: 9464 });
  assert.equal(await listen(false), undefined);
  assert.equal(await listen(null), undefined);
  assert.equal((await parse({ metrics: { healthWindow: '2m' } })).metrics.healthWindowMs, 120_000);
});

void test('metrics: bad listen values and windows name their field', async () => {
  for (const bad of ['9464', 'host', 'host:0', 'host:70000', ':9464', 'http://127.0.0.1:9464', true, 0, 70_000]) {
    const found = await issues({ metrics: { listen: bad } });
    assert.equal(found.length, 1, String(bad));
    assert.match(found[0] ?? '', /^metrics\.listen: must be host:port/, String(bad));
  }
  assert.deepEqual(await issues({ metrics: { healthWindow: '500ms' } }), ['metrics.healthWindow: must be at least 1s']);
  assert.match((await issues({ metrics: { port: 1 } }))[0] ?? '', /^metrics/, 'unknown keys are errors');
});

void test('homeassistant.prefix: a plain topic prefix', async () => {
  assert.equal((await parse({ homeassistant: { discovery: true, prefix: 'ha/disc' } })).homeassistant.prefix, 'ha/disc');
  assert.deepEqual(await issues({ homeassistant: { prefix: 'home/#' } }), ['homeassistant.prefix: must not contain the wildcards + or #']);
  assert.match((await issues({ homeassistant: { prefix: 'home/' } }))[0] ?? '', /^homeassistant\.prefix: must be a topic prefix/);
  assert.match((await issues({ homeassistant: { discovery: 'yes' } }))[0] ?? '', /^homeassistant\.discovery:/);
});

void test('commands.topic: {device} expanded; a topic the agent publishes under it is refused (it would come back as a command)', async () => {
  assert.equal((await parse({ commands: { enabled: true, topic: 'site/{device}/do' } })).commands.topic, 'site/gw-1/do');
  assert.match((await issues({ commands: { topic: 'x/{source}' } }))[0] ?? '', /^commands\.topic: unknown placeholder \{source\}/);
  assert.match((await issues({ commands: { topic: 'x/' } }))[0] ?? '', /^commands\.topic: must not end with \//);
  const clash = await issues({
    commands: { enabled: true },
    sources: [{ type: 'simulated', name: 'cmd', publish: { mode: 'field', topic: 'sensorgate/{device}/{source}/{field}' } }],
  });
  assert.deepEqual(clash, ['commands.topic: sensorgate/gw-1/cmd/field is published by the agent and would arrive back as a command: choose another commands.topic']);
  // Reading mode on sensorgate/gw-1/cmd is not below the command topic; disabled commands check nothing.
  await parse({ commands: { enabled: true }, sources: [{ type: 'simulated', name: 'cmd' }] });
  await parse({ sources: [{ type: 'simulated', name: 'cmd', publish: { mode: 'field', topic: 'sensorgate/{device}/{source}/{field}' } }] });
  assert.deepEqual(await issues({ commands: { enabled: true }, status: { topic: 'sensorgate/{device}/cmd/status' } }), [
    'commands.topic: sensorgate/gw-1/cmd/status is published by the agent and would arrive back as a command: choose another commands.topic',
  ]);
});

void test('config/sensorgate.example.yaml: the commented metrics block, uncommented, means what its comments say', async () => {
  const example = await readFile(new URL('../../../config/sensorgate.example.yaml', import.meta.url), 'utf8');
  const uncommented = example.replace(/^# metrics:/m, 'metrics:').replace(/^# {3}(listen|healthWindow):/gm, '  $1:');
  assert.notEqual(uncommented, example);
  const dir = await mkdtemp(join(tmpdir(), 'sg-example-'));
  try {
    const file = join(dir, 'example.yaml');
    await writeFile(file, uncommented);
    const config = await loadConfig(file, {});
    assert.deepEqual(config.metrics, { listen: { host: '127.0.0.1', port: 9464 }, healthWindowMs: 300_000 });
    assert.deepEqual(config.homeassistant, { discovery: false, prefix: 'homeassistant' });
    assert.deepEqual(config.commands, { enabled: false, topic: 'sensorgate/greenhouse-pi-01/cmd' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
