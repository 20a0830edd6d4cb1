import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/observe/logger.js';
import { silentLogger } from '../../src/observe/logger.js';
import { CHECK_INTERVAL_MS, FreeSpaceGuard, resumeMargin } from '../../src/outbox/disk-space.js';
import type { FsSpace } from '../../src/outbox/disk-space.js';
import { T, outboxHarness, sized } from '../support/outbox-harness.js';

const MiB = 1024 * 1024;

/** statfs that reports `free` bytes (in 4 KiB blocks) and counts its calls. */
function fakeStatfs(initialFree: number): { statfs: (path: string) => Promise<FsSpace>; calls: number; free: number } {
  const state = {
    calls: 0,
    free: initialFree,
    statfs: (): Promise<FsSpace> => {
      state.calls++;
      const blocks = Math.floor(state.free / 4096);
      return Promise.resolve({ bavail: blocks, bfree: blocks, bsize: 4096 });
    },
  };
  return state;
}

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, fields: fields ?? {} });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

void test('guard: statfs at most once per second, sooner only after a quarter of the reserve was written', async () => {
  let now = 0;
  const fs = fakeStatfs(100 * MiB);
  const guard = new FreeSpaceGuard({ path: '/x', reserve: 8 * MiB, logger: silentLogger, statfs: fs.statfs, now: () => now });
  for (let i = 0; i < 1000; i++) {
    guard.poll(() => 0, 100);
    await settle();
  }
  assert.equal(fs.calls, 1, '1000 small batches within a second: one statfs');
  now += CHECK_INTERVAL_MS;
  guard.poll(() => 0);
  await settle();
  assert.equal(fs.calls, 2);
  guard.poll(() => 0, 2 * MiB);
  await settle();
  assert.equal(fs.calls, 3, 'a quarter of the reserve written: check at once');
});

void test('guard: below the reserve the store is capped at its size, and released only above reserve + margin', async () => {
  let now = 0;
  const reserve = 8 * MiB;
  const fs = fakeStatfs(20 * MiB);
  const { logger, lines } = recordingLogger();
  const guard = new FreeSpaceGuard({ path: '/x', reserve, logger, statfs: fs.statfs, now: () => now, directoryBytes: () => Promise.resolve(5 * MiB) });
  const check = async (free: number, stored: number): Promise<void> => {
    fs.free = free;
    now += CHECK_INTERVAL_MS;
    await guard.check(() => stored);
  };
  await check(20 * MiB, 5_000_000);
  assert.equal(guard.spaceCap, null);
  await check(7 * MiB, 5_000_000);
  assert.equal(guard.spaceCap, 5_000_000, 'frozen at the stored bytes');
  assert.equal(lines.filter((l) => l.msg.startsWith('disk space low')).length, 1);

  // Rising (compaction giving space back): no further shrinking.
  await check(7.5 * MiB, 5_000_000);
  assert.equal(guard.spaceCap, 5_000_000);
  // Still below and falling: shrink by the shortfall (1 MiB of disk), in stored bytes per
  // disk byte (5,000,000 stored in a 5 MiB directory): 1,000,000 stored bytes.
  await check(7 * MiB, 5_000_000);
  assert.equal(guard.spaceCap, 4_000_000);
  // Steady below the reserve: no more shrinking (another process holding the disk must not drain the store).
  await check(7 * MiB, 4_000_000);
  assert.equal(guard.spaceCap, 4_000_000);
  // Above the reserve but inside the margin: still capped (no flapping).
  await check(reserve + resumeMargin(reserve) - 4096, 1_000);
  assert.notEqual(guard.spaceCap, null);
  await check(reserve + resumeMargin(reserve), 1_000);
  assert.equal(guard.spaceCap, null);
  assert.ok(lines.some((l) => l.level === 'info' && l.msg.startsWith('disk space available again')), JSON.stringify(lines));
});

void test('guard: reserve 0 never caps; a failing statfs is logged and keeps the last decision', async () => {
  const off = new FreeSpaceGuard({ path: '/x', reserve: 0, logger: silentLogger, statfs: fakeStatfs(0).statfs });
  assert.equal(await off.check(() => 1), 0);
  assert.equal(off.spaceCap, null);

  const { logger, lines } = recordingLogger();
  let fail = false;
  const fs = fakeStatfs(1 * MiB);
  const guard = new FreeSpaceGuard({
    path: '/x',
    reserve: 8 * MiB,
    logger,
    statfs: async (p) => {
      if (fail) throw new Error('EIO');
      return fs.statfs(p);
    },
  });
  await guard.check(() => 100);
  assert.equal(guard.spaceCap, 100);
  fail = true;
  assert.equal(await guard.check(() => 100), null);
  assert.equal(guard.spaceCap, 100, 'unknown free space does not lift the cap');
  assert.ok(lines.some((l) => l.msg === 'cannot measure free disk space'));
});

void test('outbox with the guard: below the reserve drop-oldest keeps the newest and drop-newest the oldest; both grow again when space returns', T, async (t) => {
  const h = outboxHarness(t);
  for (const whenFull of ['drop-oldest', 'drop-newest'] as const) {
    const fs = fakeStatfs(100 * MiB);
    // 4 KiB reserve: a check every 1 KiB written, so no clock is needed.
    const outbox = await h.openFresh({ whenFull, minFreeSpace: 4096 }, silentLogger, { statfs: fs.statfs });
    for (let i = 0; i < 20; i++) await outbox.commit([sized(89)]);
    fs.free = 1024;
    // Let a check run and see the low space.
    for (let i = 0; i < 20 && outbox.stats().dropped === 0; i++) {
      await outbox.commit([sized(89)]);
      await settle();
    }
    const capped = outbox.stats().bytes;
    assert.ok(outbox.stats().dropped > 0, `${whenFull}: low space applies whenFull`);
    for (let i = 0; i < 30; i++) await outbox.commit([sized(89)]);
    assert.ok(outbox.stats().bytes <= capped, `${whenFull}: the store does not grow while space is low`);
    const seqs = (await outbox.readAfter(0, 1000)).map((m) => m.seq);
    if (whenFull === 'drop-oldest') assert.equal(seqs[seqs.length - 1], outbox.lastSeq(), 'drop-oldest keeps the newest');
    else assert.equal(seqs[0], 1, 'drop-newest keeps the oldest');

    fs.free = 100 * MiB;
    // A batch that writes nothing (drop-newest refusing all) waits for the once-a-second check.
    await new Promise((resolve) => setTimeout(resolve, CHECK_INTERVAL_MS + 50));
    await outbox.commit([sized(89)]);
    await settle();
    const before = outbox.stats().messages;
    for (let i = 0; i < 30; i++) await outbox.commit([sized(89)]);
    assert.ok(outbox.stats().messages > before, `${whenFull}: grows again once space returns`);
  }
});
