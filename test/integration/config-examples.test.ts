/** Every config a user may copy (config/*.yaml, config/examples/*) passes `sensorgate check`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT, runCli } from '../support/cli.js';

const CONFIG_FILE = /\.(ya?ml|json)$/;

async function configFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => CONFIG_FILE.test(name)).map((name) => join(dir, name));
}

void test('sensorgate check accepts every example config', { timeout: 60_000 }, async () => {
  const examples = await configFiles(join(PROJECT_ROOT, 'config', 'examples'));
  for (const name of ['serial-weather.yaml', 'gps.yaml']) assert.ok(examples.some((path) => path.endsWith(`/${name}`)), `config/examples/${name} exists`);
  for (const path of [...(await configFiles(join(PROJECT_ROOT, 'config'))), ...examples]) {
    const r = await runCli(['check', '--config', path]);
    assert.equal(r.code, 0, `${path}:\n${r.stderr}`);
    assert.match(r.stdout, /^# sensorgate resolved config/, path);
  }
});
