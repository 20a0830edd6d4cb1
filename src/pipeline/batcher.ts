/**
 * Packs each source's readings into batches (publish.batch) and commits every batch as one
 * message, together with the latest state of its source (invariant 1 at batch granularity).
 *
 * A batch closes when it holds maxReadings, when the next reading would push its payload over
 * maxBytes (that reading starts the next batch), or maxDelay after its first reading. A reading
 * is committed only when its batch is in the store: until then it is in memory, for at most
 * maxDelay, and a crash loses it. Its source's state is not committed either, so a source that
 * regenerates from its state (the simulated seq) produces the same readings again after a
 * restart: no gap, no reuse.
 *
 * What one `add` hands over is committed all or none with its state, as without batching: when
 * a batch fills in the middle of an `add`, the rest of that add's readings close with it, as a
 * shorter batch in the same commit. `add` resolves when its readings are in an open batch, or,
 * when it closed one, once that commit is written (a source cannot outrun the store).
 *
 * Memory: at most one open batch per source (≤ maxReadings readings and ≤ maxBytes, a single
 * oversized reading aside), plus the readings of commits being written.
 */
import { RateLimitedLog } from '../observe/logger.js';
import type { Logger } from '../observe/logger.js';
import type { Message, SourceState } from '../outbox/outbox.js';
import { batchKey, OpenBatch } from './batch.js';
import type { BatchLimits } from './batch.js';

/** The clock the batcher waits on; tests pass a fake one. */
export interface Timers {
  /** Calls `fn` after `ms`; the returned function cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realTimers: Timers = {
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Writes one source's closed batches (and its state, if any) in one store commit. */
export type CommitBatches = (source: string, messages: readonly Message[], state: SourceState | undefined) => Promise<void>;

export interface BatcherOptions {
  limits: BatchLimits;
  commit: CommitBatches;
  logger: Logger;
  timers?: Timers;
}

export interface BatcherStats {
  /** Batch messages committed. */
  batches: number;
  /** Readings in them. */
  readings: number;
  /** Store commits of batches that failed. */
  failedCommits: number;
  /** Readings lost to failed commits: in the failed batch, or accepted after it and withdrawn. */
  lostReadings: number;
  /** Readings that alone exceeded maxBytes and went in a message of their own. */
  oversizeReadings: number;
}

/** One source's end of the batcher. */
export interface BatchedSource {
  /**
   * Adds the messages of a source's readings (one JSON message each) and the state they
   * advance. Rejects if the batcher is closed, if the commit this call waited for failed, or
   * if a batch commit of this source failed since its last call: the source must then restart
   * from `resumeState`.
   */
  add(messages: readonly Message[], state?: SourceState): Promise<void>;
  /** What a (re)started source resumes from: the last state handed over and not lost. */
  readonly resumeState: SourceState;
}

const FAILURE_LOG_INTERVAL_MS = 10_000;

interface ClosedBatch {
  message: Message;
  readings: number;
}

class Lane {
  open: OpenBatch | null = null;
  cancelTimer: (() => void) | null = null;
  /** The state handed over with the readings in `open`, merged: it rides with their commit. */
  pendingState: SourceState | undefined;
  /** Last state written to the store. */
  committed: SourceState;
  /** Last state handed over (committed, or waiting with `open`). */
  accepted: SourceState;
  /** This source's commits, one after another: a batch is written only after the one before. */
  tail: Promise<void> = Promise.resolve();
  /** Bumped by a failed commit: commits queued before it follow lost readings and are dropped. */
  epoch = 0;
  lastError: Error = new Error('a batch commit of this source failed');
  /** A background commit failed and the source has not been told yet. */
  untold = false;
  warnedOversize = false;

  constructor(
    readonly source: string,
    committed: SourceState,
  ) {
    this.committed = committed;
    this.accepted = committed;
  }
}

const merge = (base: SourceState | undefined, next: SourceState | undefined): SourceState | undefined =>
  next === undefined ? base : { ...base, ...next };

export class Batcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly timers: Timers;
  private readonly failureLog = new RateLimitedLog(FAILURE_LOG_INTERVAL_MS);
  private readonly counters: BatcherStats = { batches: 0, readings: 0, failedCommits: 0, lostReadings: 0, oversizeReadings: 0 };
  private closing: Promise<void> | null = null;

  constructor(private readonly options: BatcherOptions) {
    const { maxReadings, maxDelayMs, maxBytes } = options.limits;
    if (!Number.isSafeInteger(maxReadings) || maxReadings < 1) throw new RangeError(`maxReadings must be a positive integer (got ${maxReadings})`);
    if (!(maxDelayMs > 0)) throw new RangeError(`maxDelayMs must be > 0 (got ${maxDelayMs})`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer (got ${maxBytes})`);
    this.timers = options.timers ?? realTimers;
  }

  /** Registers a source with the state last committed for it. */
  source(name: string, committed: SourceState): BatchedSource {
    if (this.lanes.has(name)) throw new Error(`source ${name} is already registered`);
    const lane = new Lane(name, committed);
    this.lanes.set(name, lane);
    return {
      add: (messages, state) => this.add(lane, messages, state),
      get resumeState(): SourceState {
        return lane.accepted;
      },
    };
  }

  stats(): BatcherStats {
    return { ...this.counters };
  }

  /** Commits every open batch and waits for every commit. No `add` is accepted after. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      let batches = 0;
      let readings = 0;
      for (const lane of this.lanes.values()) {
        if (lane.open === null) continue;
        const batch = this.closeBatch(lane);
        batches++;
        readings += batch.readings;
        this.background(lane, [batch], this.takeState(lane));
      }
      await Promise.all([...this.lanes.values()].map((lane) => lane.tail));
      this.options.logger.info('open batches committed', { batches, readings, failedCommits: this.counters.failedCommits });
    })();
    return this.closing;
  }

  private add(lane: Lane, messages: readonly Message[], state: SourceState | undefined): Promise<void> {
    if (this.closing !== null) return Promise.reject(new Error('the pipeline is closed; no more readings are accepted'));
    if (lane.untold) {
      lane.untold = false;
      return Promise.reject(lane.lastError);
    }
    const { maxReadings, maxBytes } = this.options.limits;
    const before = lane.pendingState;
    const ready: ClosedBatch[] = [];
    // Whether a batch closed holding some of this call's readings (not just earlier ones).
    let cutInside = false;
    messages.forEach((message, i) => {
      const open = lane.open;
      if (open !== null && (open.key !== batchKey(message) || open.bytesWith(message.payload) > maxBytes)) {
        ready.push(this.closeBatch(lane));
        if (i > 0) cutInside = true;
      }
      const batch = lane.open ?? this.openBatch(lane, message);
      batch.add(message.payload);
      if (batch.count >= maxReadings || batch.bytes >= maxBytes) {
        if (batch.bytes > maxBytes) this.reportOversize(lane, batch.bytes);
        ready.push(this.closeBatch(lane));
        cutInside = true;
      }
    });
    const after = merge(before, state);
    lane.accepted = merge(lane.accepted, state) ?? lane.accepted;

    if (ready.length === 0) {
      // Only state, and no readings waiting for it to ride with: it can be written now.
      if (lane.open === null) return state === undefined ? Promise.resolve() : this.awaited(lane, [], state);
      lane.pendingState = after;
      return Promise.resolve();
    }
    if (!cutInside) {
      // Only the batch open before this call closed (its first reading did not fit): that batch
      // ends where the previous call ended and carries the state from then; ours stay open.
      lane.pendingState = after;
      return this.awaited(lane, ready, before);
    }
    if (lane.open !== null) ready.push(this.closeBatch(lane));
    lane.pendingState = undefined;
    return this.awaited(lane, ready, after);
  }

  private openBatch(lane: Lane, first: Message): OpenBatch {
    const batch = new OpenBatch(first);
    lane.open = batch;
    lane.cancelTimer = this.timers.schedule(() => this.onMaxDelay(lane, batch), this.options.limits.maxDelayMs);
    return batch;
  }

  private closeBatch(lane: Lane): ClosedBatch {
    const open = lane.open;
    if (open === null) throw new Error('no open batch');
    lane.open = null;
    lane.cancelTimer?.();
    lane.cancelTimer = null;
    return { message: open.toMessage(), readings: open.count };
  }

  private takeState(lane: Lane): SourceState | undefined {
    const state = lane.pendingState;
    lane.pendingState = undefined;
    return state;
  }

  private onMaxDelay(lane: Lane, batch: OpenBatch): void {
    if (lane.open !== batch) return;
    lane.cancelTimer = null;
    this.background(lane, [this.closeBatch(lane)], this.takeState(lane));
  }

  /** A commit an `add` waits for: its failure is told to the source by that add's rejection. */
  private awaited(lane: Lane, batches: ClosedBatch[], state: SourceState | undefined): Promise<void> {
    return this.enqueue(lane, batches, state, true);
  }

  /** A commit nobody waits for (maxDelay, stop): a failure is told to the source's next add. */
  private background(lane: Lane, batches: ClosedBatch[], state: SourceState | undefined): void {
    this.enqueue(lane, batches, state, false).catch(() => undefined);
  }

  private enqueue(lane: Lane, batches: ClosedBatch[], state: SourceState | undefined, awaited: boolean): Promise<void> {
    const epoch = lane.epoch;
    const readings = batches.reduce((n, b) => n + b.readings, 0);
    const run = lane.tail.then(async () => {
      if (lane.epoch !== epoch) {
        // An earlier batch of this source failed: writing these would leave a gap before them.
        this.counters.lostReadings += readings;
        if (awaited) lane.untold = false;
        throw lane.lastError;
      }
      try {
        await this.options.commit(
          lane.source,
          batches.map((b) => b.message),
          state,
        );
      } catch (err) {
        this.onCommitFailed(lane, err, readings, awaited);
        throw err;
      }
      this.counters.batches += batches.length;
      this.counters.readings += readings;
      lane.committed = merge(lane.committed, state) ?? lane.committed;
    });
    lane.tail = run.catch(() => undefined);
    return run;
  }

  private onCommitFailed(lane: Lane, err: unknown, readings: number, awaited: boolean): void {
    // Everything accepted after the last good commit is withdrawn: the source starts again
    // from the committed state, which is what it will regenerate from after a restart too.
    lane.epoch++;
    lane.lastError = err instanceof Error ? err : new Error(String(err));
    lane.untold = !awaited;
    const withdrawn = lane.open?.count ?? 0;
    if (lane.open !== null) this.closeBatch(lane);
    lane.pendingState = undefined;
    lane.accepted = lane.committed;
    this.counters.failedCommits++;
    this.counters.lostReadings += readings + withdrawn;
    this.failureLog.maybe(lane.source, (suppressed) =>
      this.options.logger.error('batch commit failed; its readings are lost and the source restarts from its last committed state', {
        source: lane.source,
        err,
        readings: readings + withdrawn,
        failedCommits: this.counters.failedCommits,
        lostReadings: this.counters.lostReadings,
        suppressed,
      }),
    );
  }

  private reportOversize(lane: Lane, bytes: number): void {
    this.counters.oversizeReadings++;
    if (lane.warnedOversize) return;
    lane.warnedOversize = true;
    this.options.logger.warn('reading larger than publish.batch.maxBytes: sent alone (logged once per source)', {
      source: lane.source,
      bytes,
      maxBytes: this.options.limits.maxBytes,
    });
  }
}
