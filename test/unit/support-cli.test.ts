import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CLI_PATH, PROJECT_ROOT, runAgent, runCli, writeConfig } from '../support/cli.js';
import { makeTempDir } from '../support/temp.js';

const T = { timeout: 30_000 };

// A stand-in for dist/src/cli.js: proves the runner's plumbing without depending on the agent.
const FAKE_AGENT = `
const [cmd, flag, config] = process.argv.slice(2);
const log = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
if (cmd === 'run') {
  // Handlers before the 'started' line, so a test that signals on 'started' never races them.
  if (process.env.FAKE_MODE !== 'stubborn') {
    process.on('SIGTERM', () => { log({ level: 'info', msg: 'stopping' }); process.exit(0); });
  } else {
    process.on('SIGTERM', () => {});
  }
  log({ level: 'info', msg: 'started', config, flag, env: process.env.FAKE_MODE ?? null });
  process.stderr.write('a stderr line\\n');
  if (process.env.FAKE_MODE === 'crash') process.exit(3);
  setInterval(() => {}, 1000);
} else {
  process.stdout.write('args:' + process.argv.slice(2).join(',') + '\\n');
  process.exit(Number(process.env.FAKE_CODE ?? 0));
}
`;

void test('project root and CLI path resolve from the compiled location', () => {
  assert.ok(existsSync(join(PROJECT_ROOT, 'package.json')));
  assert.equal(CLI_PATH, join(PROJECT_ROOT, 'dist', 'src', 'cli.js'));
});

void test('runAgent captures JSON log lines, waits for them, and stops with SIGTERM', T, async (t) => {
  const dir = await makeTempDir('cli', t);
  const entry = join(dir, 'fake-agent.mjs');
  await writeFile(entry, FAKE_AGENT);
  const configPath = await writeConfig(dir, { mqtt: { url: 'mqtt://127.0.0.1:1' } });

  const agent = runAgent({ configPath, entry, env: { FAKE_MODE: 'ok' }, t });
  const started = await agent.waitForLog((l) => l.json?.msg === 'started', 5000);
  assert.equal(started.json?.config, configPath);
  assert.equal(started.json?.flag, '--config');
  assert.equal(started.json?.env, 'ok');
  await agent.waitForLog('a stderr line', 5000);
  const mark = agent.lines.length;
  assert.equal(await agent.stop(), 0);
  await agent.waitForLog((l) => l.json?.msg === 'stopping', 1000, { since: mark });
  assert.match(agent.output(), /\[stderr\] a stderr line/);
});

void test('runAgent: waitForLog fails fast on exit; stop() escalates to SIGKILL and says so', T, async (t) => {
  const dir = await makeTempDir('cli', t);
  const entry = join(dir, 'fake-agent.mjs');
  await writeFile(entry, FAKE_AGENT);
  const configPath = await writeConfig(dir, {}, { format: 'json' });

  const crashing = runAgent({ configPath, entry, env: { FAKE_MODE: 'crash' }, t });
  const started = Date.now();
  await assert.rejects(crashing.waitForLog('never printed', 10_000), /exited before logging/);
  assert.ok(Date.now() - started < 5000);
  assert.equal((await crashing.exited).code, 3);

  const stubborn = runAgent({ configPath, entry, env: { FAKE_MODE: 'stubborn' }, t });
  await stubborn.waitForLog('started', 5000);
  await assert.rejects(stubborn.stop('SIGTERM', 300), /did not exit within 300 ms/);
  assert.equal((await stubborn.exited).signal, 'SIGKILL');

  const killed = runAgent({ configPath, entry, t });
  await killed.waitForLog('started', 5000);
  assert.equal((await killed.kill9()).signal, 'SIGKILL');
});

void test('runCli returns code and output; writeConfig writes YAML and JSON', T, async (t) => {
  const dir = await makeTempDir('cli', t);
  const entry = join(dir, 'fake-agent.mjs');
  await writeFile(entry, FAKE_AGENT);
  const result = await runCli(['check', '--config', 'x.yaml'], { entry, env: { FAKE_CODE: '2' }, timeoutMs: 5000 });
  assert.equal(result.code, 2);
  assert.equal(result.stdout, 'args:check,--config,x.yaml\n');

  const config = { mqtt: { url: 'mqtt://h:1', inflight: 4 }, sources: [{ type: 'simulated', name: 's' }] };
  assert.deepEqual(parse(await readFile(await writeConfig(dir, config), 'utf8')), config);
  const jsonPath = await writeConfig(dir, config, { format: 'json', name: 'c.json' });
  assert.deepEqual(JSON.parse(await readFile(jsonPath, 'utf8')), config);
});
