/**
 * A locked, damaged or garbage-filled store, through the real CLI: a clear message and exit
 * code 1 (or a clean open when the garbage is harmless), never a stack trace, never a file
 * of the store deleted; and `sensorgate repair` as the way back, ending with the recovered
 * messages delivered to mosquitto.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/observe/logger.js';
import { openOutbox } from '../../src/outbox/level-outbox.js';
import { startBroker } from '../support/broker.js';
import { registerCleanup, trackChild } from '../support/cleanup.js';
import { PROJECT_ROOT, runCli } from '../support/cli.js';
import { exitPromise } from '../support/proc.js';
import { startSubscriber } from '../support/subscriber.js';
import { withTimeout } from '../support/wait.js';
import { agentFixture, logMsg, waitForAllSeqs } from './harness.js';
import type { AgentFixture } from './harness.js';

const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;
const N = 300;

/** A fixture whose store holds N queued readings (seq 1..N), written through the outbox as the agent would. */
async function queuedStore(t: TestContext, url = 'mqtt://127.0.0.1:1'): Promise<AgentFixture> {
  const fx = await agentFixture({ url, count: N, t });
  const outbox = await openOutbox({ path: fx.storePath, whenFull: 'drop-oldest', sync: true }, silentLogger);
  for (let seq = 1; seq <= N; seq++) {
    const payload = Buffer.from(JSON.stringify({ ts: Date.now(), seq }));
    await outbox.commit([{ topic: fx.dataTopic, payload, qos: 1, retain: false }], { source: 'sim', values: { seq } });
  }
  await outbox.close();
  return fx;
}

/** Every file under `dir` (recursively) with its contents. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), await readFile(path));
  }
  return files;
}

function firstMatching(files: Iterable<string>, pattern: RegExp): string {
  const name = [...files].find((f) => pattern.test(f));
  if (name === undefined) throw new Error(`no file matching ${pattern}`);
  return name;
}

async function expectRefused(fx: AgentFixture, message: RegExp): Promise<string> {
  const r = await runCli(['run', '--config', fx.configPath], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, message);
  assert.ok(r.stderr.includes(fx.storePath), 'the message names the store path');
  assert.doesNotMatch(r.stderr, STACK_FRAME);
  assert.doesNotMatch(r.stdout, STACK_FRAME);
  return r.stderr;
}

void test('a LOCK held by a second agent: exit 1 naming the path, the holder and what to do; the first agent carries on', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await agentFixture({ url: broker.url, interval: '20ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
  const first = fx.start();
  await first.waitForLog(logMsg('connected to broker'), 15_000);

  const stderr = await expectRefused(fx, /is locked by another process \(pid \d+\): is another sensorgate running\? Stop it, or give this agent its own store\.path\./);
  assert.ok(stderr.includes(`pid ${first.pid}`), stderr);

  const before = sub.messages.length;
  await sub.waitForCount(before + 20, 10_000, fx.dataTopic);
  assert.equal(first.running, true, 'the first agent is unaffected');
  assert.equal(await first.stop(), 0);
});

void test('a LOCK held by another program (a node child with the directory open): exit 1 naming its pid', { timeout: 60_000 }, async (t) => {
  const fx = await queuedStore(t);
  const holder = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import { Level } from 'level'; const db = new Level(${JSON.stringify(fx.storePath)}); await db.open(); console.log('open'); setInterval(() => {}, 1000);`],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  trackChild(holder);
  const exited = exitPromise(holder);
  registerCleanup(t, async () => {
    holder.kill('SIGKILL');
    await exited;
  });
  await withTimeout(new Promise<void>((resolve) => holder.stdout.once('data', () => resolve())), 10_000, 'the holder to open the store');

  const stderr = await expectRefused(fx, /is locked by another process/);
  assert.ok(stderr.includes(`pid ${holder.pid}`), stderr);
  const repair = await runCli(['repair', '--config', fx.configPath]);
  assert.equal(repair.code, 1, 'repair refuses too');
  assert.match(repair.stderr, /repair failed: .*is locked by another process .*Repair works only on a store nobody has open/);
  assert.equal(existsSync(`${fx.storePath}.backup-`), false);
  assert.deepEqual((await readdir(join(fx.storePath, '..'))).filter((n) => n.includes('.backup-')), [], 'no backup was made');
});

interface Damage {
  name: string;
  damage: (store: string, files: Map<string, Buffer>) => Promise<void>;
  /** null: the agent opens; otherwise the refusal message. */
  refused: RegExp | null;
  /**
   * LevelDB opens it and the outbox's scan is what fails: by then LevelDB has done its usual
   * open-time rotation (a new MANIFEST and CURRENT, the empty log replaced), so only the
   * files holding data are compared.
   */
  opensFirst?: true;
}

const DAMAGES: Damage[] = [
  { name: 'a stray file', damage: (s) => writeFile(join(s, 'notes.txt'), 'hello'), refused: null },
  {
    name: 'a garbage CURRENT',
    damage: (s) => writeFile(join(s, 'CURRENT'), randomBytes(40)),
    refused: /cannot open store\.path .*Corruption: CURRENT file does not end with newline.*sensorgate repair --config FILE.*move the directory aside/,
  },
  {
    name: 'a truncated MANIFEST',
    damage: (s, files) => truncate(join(s, firstMatching(files.keys(), /^MANIFEST-/)), 10),
    refused: /cannot open store\.path .*Corruption.*sensorgate repair --config FILE/,
  },
  {
    name: 'no CURRENT (LevelDB would start empty and delete the tables)',
    damage: (s) => rm(join(s, 'CURRENT')),
    refused: /holds LevelDB files .* but no CURRENT file; opening it would start an empty store and delete them\..*sensorgate repair --config FILE/,
  },
  {
    name: 'a garbage table the MANIFEST references',
    damage: async (s, files) => {
      const table = firstMatching(files.keys(), /^\d+\.ldb$/);
      await writeFile(join(s, table), randomBytes((files.get(table) as Buffer).length));
    },
    refused: /cannot open store\.path .*Corruption.*sensorgate repair --config FILE/,
    opensFirst: true,
  },
  { name: 'a garbage table nobody references', damage: (s) => writeFile(join(s, '000999.ldb'), randomBytes(5000)), refused: null },
  { name: 'a garbage write-ahead log', damage: (s) => writeFile(join(s, '000998.log'), randomBytes(5000)), refused: null },
];

const holdsData = (file: string, contents: Buffer): boolean => /^\d+\.(ldb|sst)$/.test(file) || (/^\d+\.log$/.test(file) && contents.length > 0);

for (const { name, damage, refused, opensFirst } of DAMAGES) {
  void test(`store with ${name}: ${refused === null ? 'opens, and keeps the file' : 'exit 1 with the recovery path'}; no file is lost`, { timeout: 60_000 }, async (t) => {
    const fx = await queuedStore(t);
    // One more open and close, so the data sits in table files and a MANIFEST, not only in the log.
    await (await openOutbox({ path: fx.storePath, whenFull: 'drop-oldest', sync: false }, silentLogger)).close();
    await damage(fx.storePath, await snapshot(fx.storePath));
    const damaged = await snapshot(fx.storePath);

    if (refused !== null) {
      await expectRefused(fx, refused);
      const after = await snapshot(fx.storePath);
      for (const [file, contents] of damaged) {
        if (file === 'LOG' || file === 'LOG.old') continue; // LevelDB's info log, rotated by every open attempt
        if (opensFirst && !holdsData(file, contents)) continue;
        assert.deepEqual(after.get(file), contents, `${file} is untouched`);
      }
      return;
    }
    const agent = fx.start();
    await agent.waitForLog(logMsg('store opened'), 15_000);
    assert.equal(await agent.stop(), 0);
    const after = await snapshot(fx.storePath);
    for (const file of ['notes.txt', '000999.ldb', '000998.log']) {
      if (!damaged.has(file)) continue;
      const kept = after.get(file) ?? after.get(join('lost', file));
      assert.deepEqual(kept, damaged.get(file), `${file} is still there (in the store or in lost/)`);
      if (file !== 'notes.txt') assert.ok(agent.lines.some(logMsg('lost/')), 'and a warning says where it went');
    }
  });
}

void test('repair: a store that will not open is backed up, repaired, and its queued messages are delivered', { timeout: 90_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await queuedStore(t, broker.url);
  await (await openOutbox({ path: fx.storePath, whenFull: 'drop-oldest', sync: false }, silentLogger)).close();
  const manifest = firstMatching((await snapshot(fx.storePath)).keys(), /^MANIFEST-/);
  await writeFile(join(fx.storePath, manifest), randomBytes(200));

  await expectRefused(fx, /sensorgate repair --config FILE/);
  const damaged = await snapshot(fx.storePath);
  const r = await runCli(['repair', '--config', fx.configPath], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
  assert.match(r.stdout, new RegExp(`repaired ${fx.storePath}`));
  assert.match(r.stdout, new RegExp(`queued messages: ${N} \\(`));
  const backup = /backup of the directory as it was: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(backup !== undefined && backup.startsWith(`${fx.storePath}.backup-`), r.stdout);
  const saved = await snapshot(backup);
  for (const [file, contents] of damaged) assert.deepEqual(saved.get(file), contents, `the backup holds ${file} as it was`);

  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  await waitForAllSeqs(sub, fx.dataTopic, N, 30_000);
  assert.equal(await agent.stop(), 0);
});
