import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockState } from '../../src/outbox/lock.js';
import { liveTables, logProblem } from '../../src/outbox/manifest.js';
import { backupSuffix } from '../../src/outbox/repair.js';
import { T, outboxHarness, sized } from '../support/outbox-harness.js';

void test('liveTables reads the tables a real MANIFEST references; logProblem passes real logs and flags garbage', T, async (t) => {
  const h = outboxHarness(t);
  const path = await h.path();
  const outbox = await h.open(path, { maxBytes: 256 * 1024 });
  for (let i = 0; i < 400; i++) await outbox.commit(Array.from({ length: 32 }, () => sized(100)));
  await outbox.close();
  const names = await readdir(path);
  const current = (await readFile(join(path, 'CURRENT'), 'utf8')).trim();
  const live = liveTables(await readFile(join(path, current)));
  const tables = names.filter((n) => n.endsWith('.ldb')).map((n) => Number(n.slice(0, -4)));
  // Every table the MANIFEST names is on disk. A table on disk it does not name can only be one
  // a compaction just replaced, which LevelDB deletes a moment later (or at the next open).
  const referenced = [...(live ?? [])].sort((a, b) => a - b);
  assert.ok(referenced.length > 0, 'the MANIFEST names tables');
  for (const n of referenced) assert.ok(tables.includes(n), `table ${n} named by the MANIFEST exists`);
  const newest = Math.max(...referenced);
  for (const n of tables.filter((n) => !referenced.includes(n))) assert.ok(n < newest, `unreferenced table ${n} is older than the newest live one (${newest})`);
  for (const log of names.filter((n) => n.endsWith('.log'))) assert.equal(logProblem(await readFile(join(path, log))), null, log);

  const manifest = await readFile(join(path, current));
  const flipped = Buffer.from(manifest);
  flipped[20] = (flipped[20] as number) ^ 0xff;
  assert.equal(liveTables(flipped), null, 'a checksum mismatch means "unknown", never a guess');
  assert.equal(liveTables(manifest.subarray(0, manifest.length - 3)), null);
  assert.notEqual(logProblem(randomBytes(5000)), null);
  assert.equal(logProblem(Buffer.alloc(0)), null);
});

void test('lockState finds the LOCK in /proc/locks by device and inode, with the holder pid', T, async (t) => {
  const dir = await outboxHarness(t).dir();
  assert.deepEqual(await lockState(dir), { held: false }, 'no LOCK file: nobody has it open');
  await writeFile(join(dir, 'LOCK'), '');
  const { ino, dev } = await stat(join(dir, 'LOCK'));
  const major = Number((BigInt(dev) >> 8n) & 0xfffn).toString(16).padStart(2, '0');
  const minor = Number(BigInt(dev) & 0xffn).toString(16).padStart(2, '0');
  const locks = join(dir, 'locks');
  await writeFile(locks, `1: POSIX  ADVISORY  WRITE 4242 ${major}:${minor}:${ino + 1} 0 EOF\n2: POSIX  ADVISORY  WRITE 777 ${major}:${minor}:${ino} 0 EOF\n`);
  assert.deepEqual(await lockState(dir, locks), { held: true, pid: 777 });
  await writeFile(locks, `1: POSIX  ADVISORY  WRITE 4242 ${major}:${minor}:${ino + 1} 0 EOF\n`);
  assert.deepEqual(await lockState(dir, locks), { held: false });
  assert.equal((await lockState(dir, join(dir, 'nope'))).held, 'unknown');
});

void test('backup names sort by time and have no colons', () => {
  assert.equal(backupSuffix(new Date('2026-11-22T08:15:00.123Z')), '20261122T081500Z');
});
