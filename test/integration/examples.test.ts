/** Every config users are pointed at passes `sensorgate check` (the real CLI). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT, runCli } from '../support/cli.js';

void test('sensorgate check accepts every file in config/examples/ and the commented example', { timeout: 60_000 }, async () => {
  const examples = join(PROJECT_ROOT, 'config', 'examples');
  const files = (await readdir(examples)).filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => join(examples, f));
  assert.ok(files.length >= 3, `examples found: ${files.join(', ')}`);
  files.push(join(PROJECT_ROOT, 'config', 'sensorgate.example.yaml'), join(PROJECT_ROOT, 'config', 'demo.yaml'));
  const types = new Set<string>();
  for (const file of files) {
    const result = await runCli(['check', '--config', file], { env: { SENSORGATE_MQTT_PASSWORD: undefined } });
    assert.equal(result.code, 0, `${file}:\n${result.stderr}`);
    for (const [, type] of result.stdout.matchAll(/^\s+(?:- )?type: (\w+)$/gm)) types.add(type ?? '');
  }
  for (const type of ['simulated', 'gpio', 'onewire']) assert.ok(types.has(type), `no example has a ${type} source`);
});
