/**
 * The durable outbox on LevelDB. Every write (commit, flight records, settles, incoming
 * QoS 2 ids) goes through one queue that a single loop turns into one batch at a time:
 * whatever arrives while a batch is being written rides in the next one (group commit).
 * Reads go straight to disk in bounded windows, so memory does not follow the backlog.
 */
import { mkdir } from 'node:fs/promises';
import type { AppendedMessages, FlightState, IncomingQos2Store, OutgoingMessage, StoredMessage } from '../mqtt/store.js';
import { RateLimitedLog } from '../observe/logger.js';
import type { Logger } from '../observe/logger.js';
import type { CommitResult, Outbox, OutboxOptions, OutboxStats, SourceState } from './outbox.js';
import { decodeMessage, encodedLength, encodeFlight, encodeMessage, encodeStateValue, peekEnqueuedAt } from './codec.js';
import { DroppedRangeCompactor } from './compactor.js';
import { FreeSpaceGuard } from './disk-space.js';
import type { StatFs } from './disk-space.js';
import { OutboxClosedError, OutboxOpenError, lockedMessage, toOpenError } from './errors.js';
import { lockState } from './lock.js';
import { BookkeepingWatch, logFileBytes } from './housekeeping.js';
import { SizeCache } from './size-cache.js';
import { INCOMING, MSG, incomingKey, msgKey, parseSeq, spaceRange, stateKey } from './keys.js';
import { compactRange, level0Files, levelTuning, openDb } from './leveldb.js';
import type { LevelTuning } from './leveldb.js';
import { BatchPlanner } from './plan.js';
import type { BatchOp, CommitOp, Db, Limits, PlannedBatch, WriteOp } from './plan.js';
import { StoreReader } from './reader.js';
import { WriteRecovery } from './recovery.js';
import { preflight } from './preflight.js';
import { scanStore } from './scan.js';
import type { ScanResult } from './scan.js';

export { OutboxClosedError, OutboxOpenError } from './errors.js';
export type { BatchOp } from './plan.js';

const LOG_INTERVAL_MS = 10_000;
const PRESENT = Buffer.alloc(0);

export interface LevelOutboxStats extends OutboxStats {
  /** Undecodable messages moved to `bad!<seq>` since open (including at open). */
  corrupt: number;
  /** Batches written since open; with group commit this is far below the number of writes. */
  batches: number;
  /** Commits that failed because the store could not write (disk full), since open. */
  failedCommits: number;
  /** False from a failed write until the store has been reopened. */
  writable: boolean;
}

export interface OutboxHooks {
  /** Runs just before each batch write; throwing fails that batch. For fault-injection tests. */
  beforeWrite?: (ops: readonly BatchOp[]) => void | Promise<void>;
  /** Wraps each LevelDB batch write; a throw counts as a failed disk write (the store is reopened). */
  write?: (ops: readonly BatchOp[], write: () => Promise<void>) => Promise<void>;
  /** Replaces fs.statfs for the free-space guard. */
  statfs?: StatFs;
}

/** A failed batch, and whether it failed in the LevelDB write itself (not in planning or a hook). */
class BatchWriteError extends Error {
  constructor(readonly error: unknown) {
    super('batch write failed');
  }
}

/** Free space a reopen needs besides the log it writes out as a table: manifest, new log, slack. */
const REOPEN_SLACK_BYTES = 1024 * 1024;

interface Pending {
  op: WriteOp;
  resolve: (batch: PlannedBatch) => void;
  reject: (err: unknown) => void;
}

interface OutboxParts {
  db: Db;
  path: string;
  tuning: LevelTuning;
  limits: Limits;
  minFreeSpace: number;
  sync: boolean;
  logger: Logger;
  hooks: OutboxHooks;
  scan: ScanResult;
}

function checkSeq(seq: unknown, what: string): void {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`${what} must be a non-negative safe integer (got ${String(seq)})`);
}

function checkWindowLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer (got ${limit})`);
}

function checkPacketId(packetId: unknown): asserts packetId is number {
  if (typeof packetId !== 'number' || !Number.isInteger(packetId) || packetId < 1 || packetId > 0xffff) {
    throw new RangeError(`packet id must be 1..65535 (got ${String(packetId)})`);
  }
}

/** About what a batch adds to the write-ahead log. */
function batchBytes(ops: readonly BatchOp[]): number {
  let bytes = 0;
  for (const op of ops) bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
  return bytes;
}

function checkLimit(value: number | undefined, name: string): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer (got ${value})`);
  return value;
}

export class LevelOutbox implements Outbox {
  /** No f! record exists above this seq (null: unknown, read it from disk first). */
  private flightHigh: number | null = null;
  /** The oldest-message lookups, one after another (refreshOldest never rejects). */
  private oldestRefresh: Promise<void> = Promise.resolve();
  readonly incomingQos2: IncomingQos2Store;

  private queue: Pending[] = [];
  private loop: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly reads = new Set<Promise<unknown>>();
  private readonly appendListeners = new Set<(appended: AppendedMessages) => void>();
  private readonly dropListeners = new Set<(seqs: readonly number[]) => void>();
  private readonly writableListeners = new Set<() => void>();
  private readonly quarantining = new Set<number>();
  private readonly rateLimited = new RateLimitedLog(LOG_INTERVAL_MS);
  private readonly guard: FreeSpaceGuard;
  private readonly compactor: DroppedRangeCompactor;
  private readonly recovery: WriteRecovery;
  private readonly bookkeeping: BookkeepingWatch;
  /** Set while the database is being reopened: reads wait for it. */
  private reopening: { done: Promise<void>; release: () => void } | null = null;
  private db: Db;
  private reader: StoreReader;
  private readonly sizes = new SizeCache();
  private droppedSinceLog = 0;

  private messages: number;
  private bytes: number;
  private nextSeq: number;
  private last: number;
  private oldest: { seq: number; enqueuedAt: number | null } | null;
  /** No message is stored below this seq: where drop-oldest and the first window read start. */
  private floor: number;
  private dropped = 0;
  private corrupt: number;
  private batches = 0;
  private failedCommits = 0;
  /** The last batch dropped stored messages: the next one waits for compaction to keep up. */
  private dropping = false;

  private readonly path: string;
  private readonly tuning: LevelTuning;
  private readonly limits: Limits;
  private readonly sync: boolean;
  private readonly logger: Logger;
  private readonly hooks: OutboxHooks;

  /** Use openOutbox(); the constructor assumes an open database and a completed scan. */
  constructor(parts: OutboxParts) {
    ({ db: this.db, path: this.path, tuning: this.tuning, limits: this.limits, sync: this.sync, logger: this.logger, hooks: this.hooks } = parts);
    const { scan } = parts;
    this.messages = scan.messages;
    this.bytes = scan.bytes;
    this.nextSeq = scan.nextSeq;
    this.last = scan.nextSeq - 1;
    this.oldest = scan.oldest;
    this.floor = scan.oldest?.seq ?? scan.nextSeq;
    this.corrupt = scan.quarantined;
    this.reader = this.newReader(this.db);
    this.guard = new FreeSpaceGuard({ path: this.path, reserve: parts.minFreeSpace, logger: this.logger, statfs: this.hooks.statfs });
    this.compactor = new DroppedRangeCompactor((start, end) => compactRange(this.db, start, end), {
      minBytes: this.tuning.writeBufferSize,
      level0Files: () => level0Files(this.db),
      logger: this.logger,
    });
    this.recovery = new WriteRecovery({
      path: this.path,
      logger: this.logger,
      guard: this.guard,
      minFreeToReopen: async () => (await logFileBytes(this.path)) + REOPEN_SLACK_BYTES,
      storedBytes: () => this.bytes,
      reopen: () => this.reopen(true),
      onRecovered: () => this.notify(this.writableListeners),
    });
    this.bookkeeping = new BookkeepingWatch(this.path);
    this.incomingQos2 = {
      has: (packetId) => this.hasIncoming(packetId),
      add: (packetId) => this.setIncoming(packetId, true),
      remove: (packetId) => this.setIncoming(packetId, false),
      clear: () => this.clearIncoming(),
    };
  }

  /** Validation and encoding happen before the first await, so call order is batch order. */
  async commit(messages: readonly OutgoingMessage[], state?: { source: string; values: SourceState }): Promise<CommitResult> {
    const enqueuedAt = Date.now();
    const stateEntries: Array<[string, Buffer]> = [];
    if (state !== undefined) {
      if (typeof state.source !== 'string' || state.source.length === 0) throw new TypeError('state.source must be a non-empty string');
      for (const [key, value] of Object.entries(state.values)) stateEntries.push([stateKey(state.source, key), encodeStateValue(value)]);
    }
    const op: CommitOp = { kind: 'commit', messages: messages.map((m) => ({ value: encodeMessage(m, enqueuedAt), enqueuedAt })), state: stateEntries };
    const batch = await this.enqueue(op, 'commit');
    return batch.commitResult(op);
  }

  async readAfter(afterSeq: number, limit: number): Promise<StoredMessage[]> {
    checkSeq(afterSeq, 'afterSeq');
    checkWindowLimit(limit);
    await this.readable('readAfter');
    // Flight records exist only up to the highest seq ever recorded, i.e. for messages the
    // session has already read; in steady state every refill starts above that, and the
    // range read for them would be an empty iterator per refill.
    if (this.flightHigh === null) {
      await this.learnFlightHigh();
      // A reopen may have started meanwhile.
      await this.readable('readAfter');
    }
    // Nothing is stored below the floor: starting there skips the tombstones acks and drops left.
    const from = Math.max(afterSeq, this.floor - 1);
    return this.track(this.sized(() => this.reader.window(from, limit, this.flightHigh ?? undefined)));
  }

  async readBefore(beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    if (this.closed) throw new OutboxClosedError('readBefore');
    checkSeq(beforeSeq, 'beforeSeq');
    checkWindowLimit(limit);
    await this.readable('readBefore');
    if (this.flightHigh === null) {
      await this.learnFlightHigh();
      await this.readable('readBefore');
    }
    return this.track(this.sized(() => this.reader.windowBefore(beforeSeq, limit, this.flightHigh ?? undefined)));
  }

  async readFlights(): Promise<StoredMessage[]> {
    if (this.closed) throw new OutboxClosedError('readFlights');
    await this.readable('readFlights');
    return this.track(this.sized(() => this.reader.inFlight()));
  }

  lastSeq(): number {
    return this.last;
  }

  onAppend(listener: (appended: AppendedMessages) => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Called when the store takes writes again after a failed write (it was reopened). */
  onWritable(listener: () => void): () => void {
    this.writableListeners.add(listener);
    return () => this.writableListeners.delete(listener);
  }

  /**
   * Called with the seqs of stored messages the whenFull policy deleted, after the batch is
   * durable: a session holding them in its window must forget them.
   */
  onDropped(listener: (seqs: readonly number[]) => void): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  async recordFlight(entries: ReadonlyArray<{ seq: number } & FlightState>): Promise<void> {
    const encoded = entries.map((e) => {
      checkSeq(e.seq, 'seq');
      // Raised at enqueue, before the batch lands: a read in between looks too far, never too short.
      if (this.flightHigh !== null) this.flightHigh = Math.max(this.flightHigh, e.seq);
      return { seq: e.seq, value: encodeFlight(e) };
    });
    if (encoded.length === 0 && !this.closed) return;
    await this.enqueue({ kind: 'flight', entries: encoded }, 'recordFlight');
  }

  /** @internal Reads the flight high-water mark from disk (at open, and after a failed clear). */
  async learnFlightHigh(): Promise<void> {
    this.flightHigh = await this.track(this.reader.highestFlight());
  }

  async clearFlight(): Promise<void> {
    const cleared = this.enqueue({ kind: 'clear-flight' }, 'clearFlight');
    // Records queued after this point are raised again by recordFlight.
    this.flightHigh = 0;
    try {
      await cleared;
    } catch (err) {
      // The records may still be there: read the mark from disk again before trusting it.
      this.flightHigh = null;
      throw err;
    }
  }

  async settle(seqs: readonly number[]): Promise<void> {
    for (const seq of seqs) checkSeq(seq, 'seq');
    if (seqs.length === 0 && !this.closed) return;
    await this.enqueue({ kind: 'settle', seqs: [...seqs] }, 'settle');
  }

  async readSourceState(source: string): Promise<Record<string, string | number>> {
    await this.readable('readSourceState');
    return this.track(this.reader.sourceState(source));
  }

  stats(): LevelOutboxStats {
    return {
      messages: this.messages,
      bytes: this.bytes,
      dropped: this.dropped,
      oldestEnqueuedAt: this.oldest?.enqueuedAt ?? null,
      corrupt: this.corrupt,
      batches: this.batches,
      failedCommits: this.failedCommits,
      writable: !this.recovery.failed,
    };
  }

  /** Measures free space now, so a disk that is already low caps the store from the first commit. */
  async checkDiskSpace(): Promise<void> {
    await this.guard.check(() => this.bytes);
  }

  /** Compactions of dropped ranges started since open. */
  get compactions(): number {
    return this.compactor.count;
  }

  /** Waits for queued writes and running reads, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    await this.recovery.stop();
    // Reads waiting for a reopen that will not come now fail with OutboxClosedError.
    this.reopening?.release();
    while (this.loop !== null) await this.loop;
    await Promise.allSettled([...this.reads]);
    await this.compactor.idle();
    await this.db.close();
  }

  /** Waits out a reopen; throws once closed. */
  private async readable(operation: string): Promise<void> {
    if (this.reopening !== null) await this.reopening.done;
    if (this.closed) throw new OutboxClosedError(operation);
  }

  private enqueue(op: WriteOp, operation: string): Promise<PlannedBatch> {
    if (this.closed) return Promise.reject(new OutboxClosedError(operation));
    return new Promise<PlannedBatch>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.loop ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Let everything issued in this turn of the event loop (including promise
    // continuations) join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      const batch = this.queue;
      if (batch.length === 0) {
        // Cleared in the same synchronous step as the empty check, so an enqueue can
        // never find a loop that is about to end.
        this.loop = null;
        return;
      }
      this.queue = [];
      if (this.bookkeeping.reopenDue && !this.recovery.failed) await this.housekeep();
      await this.flush(batch);
    }
  }

  /** Never rejects: a failure is delivered to the callers of this batch only. */
  private async flush(pending: Pending[]): Promise<void> {
    if (this.recovery.failed) {
      // Nothing more goes to a handle whose write failed; the recovery loop reopens it.
      this.countFailedCommits(pending);
      for (const p of pending) p.reject(this.recovery.refusal(p.op.kind));
      return;
    }
    let plan: PlannedBatch;
    try {
      const counters = { messages: this.messages, bytes: this.bytes, nextSeq: this.nextSeq };
      const limits = { ...this.limits, spaceCap: this.guard.spaceCap };
      plan = await new BatchPlanner(this.db, counters, limits, { floor: this.floor }, this.sizes).plan(pending.map((p) => p.op));
      // Seqs handed out by a failed batch are burnt, not reused: nobody saw them, but
      // monotonic-never-reused is simpler to reason about than "reused if unseen".
      this.nextSeq = plan.nextSeq;
      await this.hooks.beforeWrite?.(plan.ops);
      if (this.dropping) await this.compactor.keepUp();
      if (plan.ops.length > 0) {
        await this.write(plan.ops);
        this.batches++;
      }
    } catch (caught) {
      const err = caught instanceof BatchWriteError ? caught.error : caught;
      if (caught instanceof BatchWriteError) {
        this.countFailedCommits(pending);
        this.recovery.fail(err, pending.length);
        void this.guard.check(() => this.bytes);
      } else {
        // A dead disk fails every batch; one line per 10 s says so without filling it further.
        this.rateLimited.maybe('write-failed', (suppressed) => {
          this.logger.error('store write failed; callers of this batch get the error', { err, requests: pending.length, suppressed });
        });
      }
      for (const p of pending) p.reject(err);
      return;
    }
    const after = this.last;
    this.apply(plan);
    this.dropping = plan.droppedStored.length > 0;
    this.guard.poll(() => this.bytes, batchBytes(plan.ops));
    this.bookkeeping.poll();
    if (plan.droppedStored.length > 0) this.compactor.noteDropped(plan.droppedStored, plan.droppedStoredBytes, this.bytes);
    // Only stats read the oldest message: finding it must not delay the callers of this batch.
    // Chained so each lookup starts from the previous one's answer.
    this.oldestRefresh = this.track(this.oldestRefresh.then(() => this.refreshOldest(plan)));
    this.report(plan);
    if (plan.droppedStored.length > 0) this.notify(this.dropListeners, plan.droppedStored);
    if (plan.appended.length > 0 && this.appendListeners.size > 0) {
      // Decoded from the bytes just written: a listener sees exactly what a read would return.
      const messages = plan.appended.map(({ seq, value }) => ({ ...decodeMessage(value), seq }));
      this.notify(this.appendListeners, { after, messages });
    }
    for (const p of pending) p.resolve(plan);
  }

  private countFailedCommits(pending: readonly Pending[]): void {
    for (const p of pending) if (p.op.kind === 'commit') this.failedCommits++;
  }

  /** Throws BatchWriteError: the disk refused the batch, and this handle must not be written again. */
  private async write(ops: readonly BatchOp[]): Promise<void> {
    const write = (): Promise<void> => this.writeBatch(ops);
    try {
      await (this.hooks.write === undefined ? write() : this.hooks.write(ops, write));
    } catch (err) {
      throw new BatchWriteError(err);
    }
  }

  /** A chained batch costs about half the JS time per op of an array batch (no per-op option merge). */
  private async writeBatch(ops: readonly BatchOp[]): Promise<void> {
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: this.sync });
  }

  /** Reopens for a fresh MANIFEST and LOG; runs in the write loop, between batches. */
  private async housekeep(): Promise<void> {
    this.bookkeeping.done();
    try {
      await this.reopen(false);
      this.logger.debug('store reopened to trim LevelDB bookkeeping files (LOG, MANIFEST)');
    } catch (err) {
      // The old handle is closed: from here on this is the failed-write path (reopen with backoff).
      this.recovery.fail(err, 0);
    }
  }

  /**
   * Closes the database and opens it again. After a failed write it also counts the backlog
   * from disk (`rescan`): the failed batches never landed, or, after a failed fsync, may have.
   * Runs only when no batch is in flight (writes refused, or from the write loop); reads wait.
   */
  private async reopen(rescan: boolean): Promise<void> {
    if (this.closed) throw new OutboxClosedError('reopen');
    if (this.reopening === null) {
      let release = (): void => undefined;
      const done = new Promise<void>((resolve) => (release = resolve));
      this.reopening = { done, release };
      await this.compactor.idle();
      await Promise.allSettled([...this.reads]);
      await this.db.close().catch((err: unknown) => this.logger.warn('error closing the store before reopening it', { err }));
    }
    // From here on the old handle is closed: until an open succeeds, reads keep waiting.
    const db = await openDb(this.path, this.tuning);
    if (rescan) {
      let scan: ScanResult;
      try {
        scan = await scanStore(db, this.sync, (key, reason) => this.reportCorrupt(key, reason));
      } catch (err) {
        await db.close().catch(() => undefined);
        throw err;
      }
      this.messages = scan.messages;
      this.bytes = scan.bytes;
      this.nextSeq = Math.max(this.nextSeq, scan.nextSeq);
      this.last = Math.max(this.last, scan.nextSeq - 1);
      this.oldest = scan.oldest;
      this.floor = Math.max(this.floor, scan.oldest?.seq ?? scan.nextSeq);
      this.corrupt += scan.quarantined;
      this.flightHigh = null;
    }
    this.db = db;
    this.reader = this.newReader(db);
    const { release } = this.reopening;
    this.reopening = null;
    release();
  }

  private newReader(db: Db): StoreReader {
    return new StoreReader(db, (key, reason, seq) => {
      this.reportCorrupt(key, reason);
      if (seq !== null) this.quarantine(seq);
    });
  }

  private apply(plan: PlannedBatch): void {
    this.sizes.forget(plan.removed);
    this.sizes.rememberAppended(plan.appended.map(({ seq, value }) => ({ seq, size: value.length })));
    this.messages = plan.messages;
    this.bytes = plan.bytes;
    this.dropped += plan.dropped;
    this.corrupt += plan.quarantined.length;
    for (const seq of plan.quarantined) this.quarantining.delete(seq);
    const newest = plan.appended[plan.appended.length - 1];
    if (newest !== undefined && newest.seq > this.last) this.last = newest.seq;
    // Drops take the oldest stored messages in order: nothing below the last one is left.
    const lastDropped = plan.droppedStored[plan.droppedStored.length - 1];
    if (lastDropped !== undefined) this.floor = Math.max(this.floor, lastDropped + 1);
  }

  /** Keeps oldestEnqueuedAt exact: a one-key read only when the oldest message went away. */
  private async refreshOldest(plan: PlannedBatch): Promise<void> {
    if (this.messages === 0) {
      this.oldest = null;
      return;
    }
    if (this.oldest !== null && !plan.removed.has(this.oldest.seq)) return;
    const first = plan.appended[0];
    // Everything stored is new in this batch: its first message is the oldest, no read needed.
    if (first !== undefined && plan.messages === plan.appended.length) {
      this.oldest = first;
      return;
    }
    try {
      // Seek past the removed oldest: starting at the range's beginning would walk every
      // delete tombstone a draining queue leaves behind, O(backlog drained) per ack.
      const range = spaceRange(MSG);
      const from = this.oldest === null ? range : { gt: msgKey(this.oldest.seq), lt: range.lt };
      const [entry] = await this.db.iterator({ ...from, limit: 1 }).all();
      const seq = entry === undefined ? null : parseSeq(entry[0], MSG);
      this.oldest = entry === undefined || seq === null ? null : { seq, enqueuedAt: peekEnqueuedAt(entry[1]) };
      // Stored seqs only ever get higher at the old end, so any oldest seen is a floor for good.
      if (seq !== null) this.floor = Math.max(this.floor, seq);
    } catch (err) {
      this.oldest = null;
      this.logger.warn('could not read the oldest message for stats', { err });
    }
  }

  private report(plan: PlannedBatch): void {
    if (plan.dropped > 0) {
      this.droppedSinceLog += plan.dropped;
      this.rateLimited.maybe('dropped', () => {
        this.logger.warn('store full: messages dropped', {
          whenFull: this.limits.whenFull,
          dropped: this.droppedSinceLog,
          droppedTotal: this.dropped,
          maxMessages: this.limits.maxMessages,
          maxBytes: this.limits.maxBytes,
        });
        this.droppedSinceLog = 0;
      });
    }
    if (plan.staleFlights > 0) this.logger.debug('flight records ignored for messages no longer stored', { count: plan.staleFlights });
  }

  private notify<A extends unknown[]>(listeners: Set<(...args: A) => void>, ...args: A): void {
    for (const listener of listeners) {
      try {
        listener(...args);
      } catch (err) {
        this.logger.error('outbox listener threw', { err });
      }
    }
  }

  /** A window read whose messages' sizes go into the size cache (so their settles need no read). */
  private sized(read: () => Promise<StoredMessage[]>): Promise<StoredMessage[]> {
    return this.sizes.track(read, (messages) => messages.map((m) => ({ seq: m.seq, size: encodedLength(m) })));
  }

  private track<T>(read: Promise<T>): Promise<T> {
    this.reads.add(read);
    const forget = (): void => {
      this.reads.delete(read);
    };
    read.then(forget, forget);
    return read;
  }

  private quarantine(seq: number): void {
    if (this.closed || this.quarantining.has(seq)) return;
    this.quarantining.add(seq);
    this.enqueue({ kind: 'quarantine', seq }, 'quarantine').catch((err: unknown) => {
      this.quarantining.delete(seq);
      this.logger.error('could not quarantine a corrupt message', { seq, err });
    });
  }

  private reportCorrupt(key: string, reason: string): void {
    this.rateLimited.maybe('corrupt', (suppressed) => {
      this.logger.warn('corrupt store value skipped (messages are moved to bad!<seq>)', { key, reason, suppressed });
    });
  }

  private async hasIncoming(packetId: number): Promise<boolean> {
    checkPacketId(packetId);
    await this.readable('incomingQos2.has');
    return this.track(this.db.has(incomingKey(packetId)));
  }

  private async setIncoming(packetId: number, present: boolean): Promise<void> {
    checkPacketId(packetId);
    const operation = present ? 'incomingQos2.add' : 'incomingQos2.remove';
    await this.enqueue({ kind: 'key', key: incomingKey(packetId), value: present ? PRESENT : null }, operation);
  }

  /** At most 65535 tiny keys, normally none or a few; the deletes ride one batch. */
  private async clearIncoming(): Promise<void> {
    if (this.closed) throw new OutboxClosedError('incomingQos2.clear');
    const keys = await this.track(this.db.keys(spaceRange(INCOMING)).all());
    await Promise.all(keys.map((key) => this.enqueue({ kind: 'key', key, value: null }, 'incomingQos2.clear')));
  }
}

/**
 * Opens (creating with mode 0700 if needed) the store at `options.path`, counts its backlog
 * and quarantines undecodable messages. Throws OutboxOpenError with an operator-facing
 * message when the directory is locked or unreadable.
 */
export async function openOutbox(options: OutboxOptions, logger: Logger, hooks: OutboxHooks = {}): Promise<LevelOutbox> {
  const { path } = options;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('store.path must be a non-empty string');
  if (options.whenFull !== 'drop-oldest' && options.whenFull !== 'drop-newest') {
    throw new RangeError(`store.whenFull must be drop-oldest or drop-newest (got ${String(options.whenFull)})`);
  }
  const limits: Limits = {
    maxMessages: checkLimit(options.maxMessages, 'store.maxMessages'),
    maxBytes: checkLimit(options.maxBytes, 'store.maxBytes'),
    whenFull: options.whenFull,
  };
  const minFreeSpace = checkLimit(options.minFreeSpace, 'store.minFreeSpace');
  const tuning = levelTuning({ ...limits, minFreeSpace });

  let db: Db;
  try {
    await preflight(path, logger);
    await mkdir(path, { recursive: true, mode: 0o700 });
    db = await openDb(path, tuning);
  } catch (err) {
    const error = toOpenError(path, err);
    if (error.code !== 'OUTBOX_LOCKED') throw error;
    // Name the holder when Linux can tell (a second agent, or anything else with it open).
    const lock = await lockState(path);
    throw lock.held === true ? new OutboxOpenError('OUTBOX_LOCKED', path, lockedMessage(path, lock.pid), err) : error;
  }

  const rateLimited = new RateLimitedLog(LOG_INTERVAL_MS);
  try {
    const scan = await scanStore(db, options.sync, (key, reason) => {
      rateLimited.maybe('corrupt', (suppressed) => logger.warn('corrupt message moved to bad!<seq> at open', { key, reason, suppressed }));
    });
    if (scan.quarantined > 0) logger.warn('corrupt messages quarantined at open', { count: scan.quarantined, path });
    const outbox = new LevelOutbox({ db, path, tuning, limits, minFreeSpace, sync: options.sync, logger, hooks, scan });
    await outbox.learnFlightHigh();
    await outbox.checkDiskSpace();
    return outbox;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw toOpenError(path, err);
  }
}
