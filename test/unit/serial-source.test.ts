/**
 * SerialSource against a fake binding (node-serialport's own testing model): backpressure,
 * the retry loop, open problems, clean stop and failing emits, exactly and without timing luck.
 * The same source on real ptys is in test/integration/serial-pty.test.ts.
 */
import { rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SerialBinding, SerialLink, SerialOpenOptions } from '../../src/sources/serial/binding.js';
import { SerialSource } from '../../src/sources/serial/source.js';
import type { SerialSourceOptions } from '../../src/sources/serial/source.js';
import { runSource } from '../support/source-context.js';
import { makeTempDir } from '../support/temp.js';
import { sleep, waitUntil } from '../support/wait.js';

class FakeLink implements SerialLink {
  readCalls = 0;
  closed = false;
  readonly writes: Buffer[] = [];
  private readonly queued: Buffer[] = [];
  private pending: { buffer: Buffer; resolve: (r: { bytesRead: number }) => void; reject: (err: Error) => void } | undefined;

  /** The device sends bytes. */
  feed(data: string | Buffer): void {
    this.queued.push(Buffer.from(data));
    this.serve();
  }

  /** The port fails (unplug) under a pending read. */
  fail(err: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }

  get reading(): boolean {
    return this.pending !== undefined;
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number }> {
    this.readCalls++;
    if (this.closed) return Promise.reject(Object.assign(new Error('Port is not open'), { canceled: true }));
    if (this.pending !== undefined) throw new Error('two reads at once');
    return new Promise((resolve, reject) => {
      this.pending = { buffer: buffer.subarray(offset, offset + length), resolve, reject };
      this.serve();
    });
  }

  write(data: Buffer): Promise<void> {
    this.writes.push(Buffer.from(data));
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('Port is not open'));
    this.closed = true;
    this.fail(Object.assign(new Error('Canceled'), { canceled: true }));
    return Promise.resolve();
  }

  private serve(): void {
    const pending = this.pending;
    const next = this.queued[0];
    if (pending === undefined || next === undefined) return;
    const n = next.copy(pending.buffer, 0, 0, Math.min(next.length, pending.buffer.length));
    if (n === next.length) this.queued.shift();
    else this.queued[0] = next.subarray(n);
    this.pending = undefined;
    pending.resolve({ bytesRead: n });
  }
}

/** Each open() takes the next outcome: a link, or an error to throw. */
class FakeBinding implements SerialBinding {
  readonly opens: Array<{ options: SerialOpenOptions; at: number }> = [];
  readonly links: FakeLink[] = [];
  constructor(private readonly outcome: (attempt: number) => FakeLink | Error) {}

  open(options: SerialOpenOptions): Promise<SerialLink> {
    this.opens.push({ options, at: Date.now() });
    const result = this.outcome(this.opens.length);
    if (result instanceof Error) return Promise.reject(result);
    this.links.push(result);
    return Promise.resolve(result);
  }
}

const enoent = (): Error => Object.assign(new Error('Error: No such file or directory, cannot open /dev/ttyUSB9'), {});

function source(binding: SerialBinding, extra: Partial<SerialSourceOptions> = {}): SerialSource {
  return new SerialSource({
    name: 'dev',
    path: '/dev/ttyUSB9',
    baudRate: 115200,
    dataBits: 8,
    parity: 'none',
    stopBits: 1,
    rtscts: true,
    maxLineLength: 64,
    parser: { type: 'kv' },
    fields: {},
    binding,
    retry: { minMs: 20, maxMs: 160 },
    random: () => 1, // no jitter: delays are exactly min, 2·min, ... max
    deviceCheckMs: 0, // /dev/ttyUSB9 does not exist; the path check has its own tests on real files
    ...extra,
  });
}

void test('the port is opened with the configured settings', { timeout: 10_000 }, async (t) => {
  const binding = new FakeBinding(() => new FakeLink());
  const run = runSource(source(binding), { t });
  await run.waitForLog('serial port opened', 2_000);
  assert.deepEqual(binding.opens[0]?.options, { path: '/dev/ttyUSB9', baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, rtscts: true });
});

void test('no read while an emit is pending: a slow store slows reading, memory stays bounded', { timeout: 10_000 }, async (t) => {
  const link = new FakeLink();
  const run = runSource(source(new FakeBinding(() => link)), { t, emitDelayMs: 200 });
  await run.waitForLog('serial port opened', 2_000);
  link.feed('\nT=1\n');
  await waitUntil(() => link.readCalls >= 1 && !link.reading, 2_000, 'the first line handed to emit');
  const readsDuringEmit = link.readCalls;
  link.feed('T=2\n'); // arrives while the store is busy
  await sleep(100);
  assert.equal(link.readCalls, readsDuringEmit, 'no read until the emit resolved');
  await run.waitForReadings(2, 2_000);
  assert.deepEqual(
    run.readings.map((r) => ({ ...r.fields })),
    [{ T: 1 }, { T: 2 }],
  );
});

void test('lines of one read go out in one emit, in order', { timeout: 10_000 }, async (t) => {
  const link = new FakeLink();
  const run = runSource(source(new FakeBinding(() => link)), { t });
  await run.waitForLog('serial port opened', 2_000);
  link.feed('\nT=1\nT=2\nT=3\n');
  await run.waitForReadings(3, 2_000);
  assert.equal(run.emits.length, 1);
  assert.deepEqual(
    run.emits[0]?.map((r) => r.fields.T),
    [1, 2, 3],
  );
});

void test('an absent port is retried with growing delays, capped, and logged once', { timeout: 10_000 }, async (t) => {
  const binding = new FakeBinding((attempt) => (attempt <= 6 ? enoent() : new FakeLink()));
  const run = runSource(source(binding), { t });
  await run.waitForLog('serial port opened', 5_000);
  const gaps = binding.opens.slice(1).map((o, i) => o.at - (binding.opens[i]?.at ?? 0));
  // Timers never fire early (give 2 ms for clock granularity); upper bounds would only measure the machine's load.
  [20, 40, 80, 160, 160].forEach((expected, i) => assert.ok((gaps[i] ?? 0) >= expected - 2, `gap ${i}: ${gaps[i]} ms, expected ≥ ${expected}`));
  assert.equal(run.countLogs('serial port not found, retrying'), 1);
  const log = await run.waitForLog('serial port not found, retrying', 0);
  assert.deepEqual(log.fields, { path: '/dev/ttyUSB9', retryInMs: 20, suppressed: 0 });
});

void test('permission denied says what to do about it', { timeout: 10_000 }, async (t) => {
  const binding = new FakeBinding(() => new Error('Error: Permission denied, cannot open /dev/ttyUSB9'));
  const run = runSource(source(binding), { t });
  const log = await run.waitForLog('serial port could not be opened, retrying', 2_000);
  assert.match(String(log.fields.hint), /dialout group/);
  assert.equal(log.level, 'warn');
});

void test('a port that fails while open is closed (no leaked descriptor), then reopened with the backoff reset', { timeout: 10_000 }, async (t) => {
  const binding = new FakeBinding(() => new FakeLink());
  const src = source(binding);
  const run = runSource(src, { t });
  await run.waitForLog('serial port opened', 2_000);
  const first = binding.links[0];
  await waitUntil(() => first?.reading, 2_000, 'a pending read');
  first?.fail(Object.assign(new Error('Input/output error'), { code: 'EIO' }));
  const closed = await run.waitForLog('serial port closed/unplugged', 2_000);
  assert.match(String(closed.fields.err), /Input\/output error/);
  await waitUntil(() => binding.links.length === 2, 2_000, 'reopened');
  assert.equal(first?.closed, true, 'the failed link was closed');
  assert.equal(src.stats().disconnects, 1);
  assert.equal(src.stats().opens, 2);
});

void test('stop closes the port and returns; a stop during open closes the late link', { timeout: 10_000 }, async (t) => {
  const binding = new FakeBinding(() => new FakeLink());
  const run = runSource(source(binding), { t });
  await run.waitForLog('serial port opened', 2_000);
  await run.stop(1_000);
  assert.equal(binding.links[0]?.closed, true);

  let release: (link: SerialLink) => void = () => undefined;
  const slow: SerialBinding = { open: () => new Promise((resolve) => (release = resolve)) };
  const late = new FakeLink();
  const run2 = runSource(source(slow), { t });
  await sleep(20);
  const stopped = run2.stop(1_000);
  release(late);
  await stopped;
  await waitUntil(() => late.closed, 1_000, 'late link closed');
});

void test('a failing emit ends run with that error and closes the port (the supervisor restarts the source)', { timeout: 10_000 }, async (t) => {
  const link = new FakeLink();
  const run = runSource(source(new FakeBinding(() => link)), { t, emitError: () => new Error('commit failed') });
  await run.waitForLog('serial port opened', 2_000);
  link.feed('\nT=1\n');
  await assert.rejects(run.done, /commit failed/);
  assert.equal(link.closed, true);
});

void test('polling: a reply is one line after the command; what came before is dropped, lines between polls are unsolicited', { timeout: 10_000 }, async (t) => {
  const link = new FakeLink();
  const src = source(new FakeBinding(() => link), { poll: { command: 'R\\r', everyMs: 10_000, timeoutMs: 5_000 } });
  const run = runSource(src, { t });
  link.feed('half a li');
  await waitUntil(() => link.writes.length === 1, 2_000, 'first command');
  assert.equal(link.writes[0]?.toString(), 'R\r');
  link.feed('T=5\r\nT=6\r\nT=7\r\n'); // one reply line, then chatter nobody asked for
  await run.waitForReadings(1, 2_000);
  await waitUntil(() => src.stats().unsolicitedLines === 2, 2_000, 'later lines counted as unsolicited');
  assert.deepEqual({ ...run.readings[0]?.fields }, { T: 5 });
  assert.equal(src.stats().partialLines, 1);
  assert.equal(link.writes.length, 1, 'one command, no second before the interval');
});

/** A "device" the path check can see: a symlink (as /dev/serial/by-id/...) to a file in a temp dir. */
async function devicePath(t: Parameters<typeof makeTempDir>[1]): Promise<{ path: string; dir: string }> {
  const dir = await makeTempDir('serial-watch', t);
  await writeFile(join(dir, 'ttyUSB0'), '');
  const path = join(dir, 'by-id-sensor');
  await symlink(join(dir, 'ttyUSB0'), path);
  return { path, dir };
}

// FakeLink's read never rejects on its own: only the path check can end these sessions.
void test('path check: a port whose path disappears is closed and reopened, though its read never failed', { timeout: 10_000 }, async (t) => {
  const { path, dir } = await devicePath(t);
  const binding = new FakeBinding((attempt) => (attempt === 1 ? new FakeLink() : enoent()));
  const src = source(binding, { path, deviceCheckMs: 20 });
  const run = runSource(src, { t });
  await run.waitForLog('serial port opened', 2_000);
  await waitUntil(() => binding.links[0]?.reading, 2_000, 'a pending read');
  await sleep(100); // several checks with the path in place
  await rm(join(dir, 'ttyUSB0')); // the link dangles, as a by-id link does after an unplug until udev removes it
  const closed = await run.waitForLog('serial port closed/unplugged', 5_000);
  assert.equal(binding.links[0]?.closed, true, 'the link was closed, so the pending read ended');
  assert.match(String((closed.fields.err as { message?: string }).message), /is gone/);
  await waitUntil(() => binding.opens.length >= 2, 2_000, 'the reconnect loop took over');
  assert.equal(src.stats().disconnects, 1);
});

void test('path check: a path that now names a different device closes the port', { timeout: 10_000 }, async (t) => {
  const { path, dir } = await devicePath(t);
  const binding = new FakeBinding(() => new FakeLink());
  const run = runSource(source(binding, { path, deviceCheckMs: 20 }), { t });
  await run.waitForLog('serial port opened', 2_000);
  await sleep(100);
  // The by-id link now points at another node (a replug that got a new ttyUSB number).
  await writeFile(join(dir, 'ttyUSB1'), '');
  await symlink(join(dir, 'ttyUSB1'), join(dir, 'next-link'));
  await rename(join(dir, 'next-link'), path);
  const closed = await run.waitForLog('serial port closed/unplugged', 5_000);
  assert.equal(binding.links[0]?.closed, true);
  assert.match(String((closed.fields.err as { message?: string }).message), /different device/);
  await waitUntil(() => binding.links.length === 2, 2_000, 'reopened');
});

void test('path check: it never fires while the path stays', { timeout: 10_000 }, async (t) => {
  const { path } = await devicePath(t);
  const binding = new FakeBinding(() => new FakeLink());
  const src = source(binding, { path, deviceCheckMs: 10 });
  const run = runSource(src, { t });
  await run.waitForLog('serial port opened', 2_000);
  await sleep(500); // ~50 checks
  assert.equal(binding.links[0]?.closed, false);
  assert.equal(binding.opens.length, 1);
  assert.equal(src.stats().disconnects, 0);
  await run.stop(1_000);
  assert.equal(binding.links[0]?.closed, true);
  assert.equal(run.countLogs('serial port closed/unplugged'), 0, 'a stop is not an unplug');
});
