/**
 * Shared setup for the outbox unit tests (test/unit/outbox-*.test.ts): stores in temp dirs
 * that are closed, then removed, after the test, even when an assertion failed.
 */
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { Level } from 'level';
import type { LogFields, Logger } from '../../src/observe/logger.js';
import { silentLogger } from '../../src/observe/logger.js';
import { openOutbox } from '../../src/outbox/level-outbox.js';
import type { LevelOutbox, OutboxHooks } from '../../src/outbox/level-outbox.js';
import type { Message, OutboxOptions } from '../../src/outbox/outbox.js';
import { makeTempDir, removeTempDir } from './temp.js';

/** Per-test timeout used by the outbox tests. */
export const T = { timeout: 30_000 };

export interface OutboxHarness {
  /** A fresh temp dir (removed after the test). */
  dir(prefix?: string): Promise<string>;
  /** A store path, `store` inside a fresh temp dir. */
  path(prefix?: string): Promise<string>;
  /** Opens an outbox at `path` with `{ whenFull: 'drop-oldest', sync: false, ...defaults, ...options }`; closed after the test. */
  open(path: string, options?: Partial<OutboxOptions>, logger?: Logger, hooks?: OutboxHooks): Promise<LevelOutbox>;
  /** `open` on a fresh `path()`. */
  openFresh(options?: Partial<OutboxOptions>, logger?: Logger, hooks?: OutboxHooks): Promise<LevelOutbox>;
}

/** Closes every outbox before its directory goes, even when an assertion failed. */
export function outboxHarness(t: TestContext, defaults: Partial<OutboxOptions> = {}): OutboxHarness {
  const opened: LevelOutbox[] = [];
  const dirs: string[] = [];
  t.after(async () => {
    await Promise.allSettled(opened.map((o) => o.close()));
    for (const dir of dirs) await removeTempDir(dir);
  });
  const h: OutboxHarness = {
    async dir(prefix = 'outbox'): Promise<string> {
      const dir = await makeTempDir(prefix);
      dirs.push(dir);
      return dir;
    },
    async path(prefix?: string): Promise<string> {
      return join(await h.dir(prefix), 'store');
    },
    async open(path, options = {}, logger = silentLogger, hooks = {}): Promise<LevelOutbox> {
      const outbox = await openOutbox({ path, whenFull: 'drop-oldest', sync: false, ...defaults, ...options }, logger, hooks);
      opened.push(outbox);
      return outbox;
    },
    async openFresh(options, logger, hooks): Promise<LevelOutbox> {
      return h.open(await h.path(), options, logger, hooks);
    },
  };
  return h;
}

/** Opens the store's LevelDB directly (the outbox must be closed) and closes it afterwards. */
export async function withRaw<R>(path: string, fn: (db: Level<string, Buffer>) => Promise<R>): Promise<R> {
  const db = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Raw keys under `prefix` (e.g. `f!`), read with the outbox closed. */
export function rawKeys(path: string, prefix: string): Promise<string[]> {
  return withRaw(path, (db) => db.keys({ gt: prefix, lt: prefix.slice(0, -1) + '"' }).all());
}

export type Warning = { msg: string; fields?: LogFields };

/** A silent logger that records its warnings. */
export function captureWarnings(): { logger: Logger; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const logger: Logger = { ...silentLogger, warn: (msg, fields) => warnings.push({ msg, fields }), child: () => logger };
  return { logger, warnings };
}

/**
 * A message on topic 'x' whose payload is n bytes of `fill`.
 * Encoded size is 10 header bytes + topic + payload: 'x' + n bytes = 11 + n.
 */
export const sized = (n: number, { qos = 1, fill = 1 }: { qos?: 0 | 1 | 2; fill?: number } = {}): Message => ({
  topic: 'x',
  payload: Buffer.alloc(n, fill),
  qos,
  retain: false,
});
