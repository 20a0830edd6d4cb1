import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OutboxOpenError } from '../../src/outbox/level-outbox.js';
import { T, outboxHarness } from '../support/outbox-harness.js';

void test('a store locked by another opener fails with a clear OutboxOpenError', T, async (t) => {
  const h = outboxHarness(t);
  const path = join(await h.dir(), 'store');
  const first = await h.open(path);
  await assert.rejects(h.open(path), (err: unknown) => {
    assert.ok(err instanceof OutboxOpenError);
    assert.equal(err.code, 'OUTBOX_LOCKED');
    // In one process LevelDB's own lock table refuses first (and, closing its probe fd, drops the
    // fcntl lock, so /proc/locks cannot name a holder): the pid is tested across processes in cli.test.ts.
    assert.equal(err.message, `store.path ${path} is locked by another process: is another sensorgate running? Stop it, or give this agent its own store.path.`);
    return true;
  });
  assert.deepEqual((await first.commit([{ topic: 't', payload: Buffer.alloc(1), qos: 0, retain: false }])).seqs, [1], 'the holder is unaffected');
});

void test('an unreadable store names the path and how to recover', T, async (t) => {
  const h = outboxHarness(t);
  const path = join(await h.dir(), 'store');
  await (await h.open(path)).close();
  await writeFile(join(path, 'CURRENT'), 'MANIFEST-999999\n');
  await assert.rejects(h.open(path), (err: unknown) => {
    assert.ok(err instanceof OutboxOpenError);
    assert.equal(err.code, 'OUTBOX_OPEN_FAILED');
    assert.match(err.message, new RegExp(`cannot open store.path ${path}: .*MANIFEST-999999`));
    assert.match(err.message, /sensorgate repair --config FILE/);
    assert.match(err.message, /move the directory aside/);
    return true;
  });
});

void test('the store directory is created (with parents) as mode 0700', T, async (t) => {
  const h = outboxHarness(t);
  const path = join(await h.dir(), 'a', 'b', 'store');
  await h.open(path);
  assert.equal((await stat(path)).mode & 0o777, 0o700);
});

void test('invalid options are rejected before anything is created', T, async (t) => {
  const h = outboxHarness(t);
  const path = join(await h.dir(), 'store');
  await assert.rejects(h.open(path, { maxMessages: -1 }), /store.maxMessages must be a non-negative integer/);
  await assert.rejects(h.open(path, { maxBytes: 1.5 }), /store.maxBytes/);
  await assert.rejects(h.open(path, { whenFull: 'drop-random' as 'drop-oldest' }), /store.whenFull/);
  await assert.rejects(stat(path), { code: 'ENOENT' });
});
