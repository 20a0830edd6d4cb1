/**
 * `sensorgate repair`: the recovery path for a store that will not open. Refuses while
 * another process holds the store; copies the directory to `<path>.backup-<UTC time>`
 * first; runs LevelDB's RepairDB (it rebuilds the MANIFEST from every table and log it can
 * read, and moves what it cannot use to `<path>/lost/`); then opens the store the normal
 * way, which moves undecodable messages to `bad!<seq>`, and counts what is queued.
 */
import { cp, stat } from 'node:fs/promises';
import type { Logger } from '../observe/logger.js';
import { lockedMessage } from './errors.js';
import { openOutbox } from './level-outbox.js';
import { repairDb } from './leveldb.js';
import { lockState } from './lock.js';
import type { OutboxOptions } from './outbox.js';

export class RepairError extends Error {
  override readonly name = 'RepairError';
}

export interface RepairResult {
  backup: string;
  messages: number;
  bytes: number;
  /** Messages that could not be decoded, now under bad!<seq>. */
  quarantined: number;
  /** False when no lock check was possible (no /proc/locks): the caller should say so. */
  lockChecked: boolean;
}

/** 2026-11-22T08:15:00.123Z → 20261122T081500Z */
export function backupSuffix(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export async function repairStore(options: OutboxOptions, logger: Logger, now: Date = new Date()): Promise<RepairResult> {
  const { path } = options;
  const info = await stat(path).catch(() => null);
  if (info === null) throw new RepairError(`store.path ${path} does not exist: nothing to repair`);
  if (!info.isDirectory()) throw new RepairError(`store.path ${path} is not a directory`);

  const lock = await lockState(path);
  if (lock.held === true) throw new RepairError(`${lockedMessage(path, lock.pid)} Repair works only on a store nobody has open.`);

  const backup = `${path}.backup-${backupSuffix(now)}`;
  if (await stat(backup).then(() => true, () => false)) throw new RepairError(`${backup} already exists; try again in a second`);
  try {
    await cp(path, backup, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true });
  } catch (err) {
    throw new RepairError(`cannot copy ${path} to ${backup} (${(err as Error).message}); nothing was changed`);
  }

  try {
    await repairDb(path);
  } catch (err) {
    throw new RepairError(`LevelDB could not repair ${path}: ${(err as Error).message}. The directory as it was is in ${backup}.`);
  }
  let outbox;
  try {
    outbox = await openOutbox(options, logger);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? (((cause as { cause?: unknown }).cause as Error | undefined)?.message ?? cause.message) : (err as Error).message;
    throw new RepairError(
      `${path} still does not open after the repair (${detail}). The directory as it was is in ${backup}; ` +
        `move ${path} aside to start with an empty store.`,
    );
  }
  const stats = outbox.stats();
  await outbox.close();
  return { backup, messages: stats.messages, bytes: stats.bytes, quarantined: stats.corrupt, lockChecked: lock.held === false };
}
