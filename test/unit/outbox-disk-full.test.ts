import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/observe/logger.js';
import { isDiskFullError } from '../../src/outbox/errors.js';
import type { FsSpace } from '../../src/outbox/disk-space.js';
import type { BatchOp } from '../../src/outbox/level-outbox.js';
import { T, outboxHarness, sized } from '../support/outbox-harness.js';

const MiB = 1024 * 1024;

/** What LevelDB reports when its log or a table cannot be written. */
const enospc = (): Error => Object.assign(new Error('IO error: /var/lib/sensorgate/000012.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (msg: string) => lines.push({ level, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

void test('isDiskFullError knows LevelDB and errno spellings, nothing else', () => {
  assert.equal(isDiskFullError(enospc()), true);
  assert.equal(isDiskFullError(Object.assign(new Error('write failed'), { code: 'ENOSPC' })), true);
  assert.equal(isDiskFullError(new Error('outer', { cause: new Error('IO error: x: Disk quota exceeded') })), true);
  assert.equal(isDiskFullError(new Error('IO error: x: Input/output error')), false);
  assert.equal(isDiskFullError('No space left on device'), false);
});

void test('a failed disk write: writes are refused without touching the disk, reads go on, and the store is reopened once space returns', T, async (t) => {
  let full = false;
  let writes = 0;
  const space = { free: 100 * MiB };
  const statfs = (): Promise<FsSpace> => Promise.resolve({ bavail: space.free / 4096, bfree: space.free / 4096, bsize: 4096 });
  const { logger, lines } = recordingLogger();
  const h = outboxHarness(t);
  const path = await h.path();
  const outbox = await h.open(path, {}, logger, {
    statfs,
    write: async (_ops: readonly BatchOp[], write: () => Promise<void>) => {
      writes++;
      if (full) throw enospc();
      await write();
    },
  });
  let writable = 0;
  outbox.onWritable(() => writable++);
  await outbox.commit([sized(10), sized(10)], { source: 'sim', values: { seq: 2 } });

  full = true;
  space.free = 0;
  await assert.rejects(outbox.commit([sized(10)], { source: 'sim', values: { seq: 3 } }), /No space left on device/);
  assert.equal(outbox.stats().writable, false);
  const attempted = writes;
  await assert.rejects(outbox.commit([sized(10)]), { code: 'OUTBOX_UNWRITABLE' });
  await assert.rejects(outbox.settle([1]), { code: 'OUTBOX_UNWRITABLE' });
  assert.equal(writes, attempted, 'nothing more is written to a handle whose write failed');
  assert.deepEqual((await outbox.readAfter(0, 10)).map((m) => m.seq), [1, 2], 'delivery of what is stored goes on');
  assert.equal(outbox.stats().failedCommits, 2);
  assert.equal(lines.filter((l) => l.msg.startsWith('disk full')).length, 1, 'one error line, not one per write');

  // The disk is writable again, but the free space says not yet: no reopen.
  full = false;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(outbox.stats().writable, false);
  space.free = 100 * MiB;
  await until(() => outbox.stats().writable, 10_000, 'the store to be reopened');
  assert.equal(writable, 1);
  assert.ok(lines.some((l) => l.level === 'info' && l.msg.startsWith('disk space available again: store reopened')), JSON.stringify(lines));

  assert.deepEqual(await outbox.readSourceState('sim'), { seq: 2 }, 'the failed commit left no state behind');
  assert.equal(outbox.stats().messages, 2, 'counted again from disk');
  const next = await outbox.commit([sized(10)], { source: 'sim', values: { seq: 3 } });
  assert.ok(next.seqs[0] !== undefined && next.seqs[0] > 3, 'seqs handed to failed batches are not reused');
  await outbox.settle([1, 2]);
  assert.deepEqual((await outbox.readAfter(0, 10)).map((m) => m.seq), next.seqs);
});

void test('close while waiting for space: returns promptly, nothing is lost', T, async (t) => {
  let full = false;
  const statfs = (): Promise<FsSpace> => Promise.resolve({ bavail: 0, bfree: 0, bsize: 4096 });
  const h = outboxHarness(t);
  const path = await h.path();
  const outbox = await h.open(path, {}, undefined, {
    statfs,
    write: async (_ops, write) => {
      if (full) throw enospc();
      await write();
    },
  });
  await outbox.commit([sized(10)]);
  full = true;
  await assert.rejects(outbox.commit([sized(10)]));
  const started = Date.now();
  await outbox.close();
  assert.ok(Date.now() - started < 2_000, 'close does not wait for space');
  const again = await h.open(path);
  assert.deepEqual((await again.readAfter(0, 10)).map((m) => m.seq), [1]);
});
