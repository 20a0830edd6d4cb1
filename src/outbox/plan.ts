/**
 * Turns the write requests gathered for one group commit into one LevelDB batch plus the
 * counter deltas it implies. Requests are applied in arrival order to an in-memory overlay
 * of the store, so a settle, a drop and a flight record for the same seq in one batch
 * account exactly once. Only one plan runs at a time and nothing else writes, so what the
 * planner reads from disk is exactly the committed state it builds on.
 */
import type { Level } from 'level';
import type { CommitResult, WhenFull } from './outbox.js';
import { encodeSeq } from './codec.js';
import type { SizeCache } from './size-cache.js';
import { FLIGHT, MSG, NEXT_SEQ_KEY, badKey, flightKey, msgKey, parseSeq, spaceRange } from './keys.js';

export type Db = Level<string, Buffer>;

export type BatchOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

export interface EncodedMessage {
  value: Buffer;
  enqueuedAt: number;
}

export interface CommitOp {
  kind: 'commit';
  messages: readonly EncodedMessage[];
  state: ReadonlyArray<readonly [key: string, value: Buffer]>;
}
export interface FlightOp {
  kind: 'flight';
  entries: ReadonlyArray<{ seq: number; value: Buffer }>;
}
export interface ClearFlightOp {
  kind: 'clear-flight';
}
export interface SettleOp {
  kind: 'settle';
  seqs: readonly number[];
}
/** Moves an undecodable message to `bad!<seq>`: out of the send path, kept for inspection. */
export interface QuarantineOp {
  kind: 'quarantine';
  seq: number;
}
export interface KeyOp {
  kind: 'key';
  key: string;
  value: Buffer | null;
}
export type WriteOp = CommitOp | FlightOp | ClearFlightOp | SettleOp | QuarantineOp | KeyOp;

export interface Limits {
  maxMessages: number;
  maxBytes: number;
  whenFull: WhenFull;
  /**
   * A byte bound from the free-space guard (null: none): while the disk is below its reserve
   * the store may not grow, and whenFull applies as if it were full. Unlike maxBytes, 0 means 0.
   */
  spaceCap?: number | null;
}

export interface StoreCounters {
  messages: number;
  bytes: number;
  nextSeq: number;
}

/** Where drop-oldest starts looking: no message is stored below this seq. */
export interface PlanHints {
  floor: number;
}

export interface PlannedBatch extends StoreCounters {
  ops: BatchOp[];
  /** New messages that will be stored, in seq order. */
  appended: Array<{ seq: number; enqueuedAt: number; value: Buffer }>;
  /** Stored seqs this batch removes, whatever the reason. */
  removed: Set<number>;
  /** Stored seqs removed by the whenFull policy (the session must forget them), ascending. */
  droppedStored: number[];
  /** Encoded bytes of droppedStored. */
  droppedStoredBytes: number;
  /** Every message lost to the whenFull policy: stored, displaced in this batch, or refused. */
  dropped: number;
  quarantined: number[];
  /** recordFlight entries ignored because their message is gone (settled or dropped). */
  staleFlights: number;
  commitResult(op: CommitOp): CommitResult;
}

const CURSOR_CHUNK = 64;

interface NewMessage extends EncodedMessage {
  owner: CommitOp;
}

/**
 * Walks stored messages oldest first for drop-oldest; opened only when the store is full.
 * Starts at the known floor: from the start of the range it would walk every tombstone
 * earlier drops and acks left behind, on every full commit.
 */
class OldestCursor {
  private readonly iterator;
  private buffered: Array<[string, Buffer]> = [];
  private done = false;

  constructor(db: Db, floor: number) {
    this.iterator = db.iterator({ gte: msgKey(Math.max(1, floor)), lt: spaceRange(MSG).lt });
  }

  async next(): Promise<{ seq: number; size: number } | null> {
    for (;;) {
      const entry = this.buffered.shift();
      if (entry !== undefined) {
        const seq = parseSeq(entry[0], MSG);
        if (seq !== null) return { seq, size: entry[1].length };
        continue;
      }
      if (this.done) return null;
      this.buffered = await this.iterator.nextv(CURSOR_CHUNK);
      if (this.buffered.length === 0) this.done = true;
    }
  }

  close(): Promise<void> {
    return this.iterator.close();
  }
}

export class BatchPlanner {
  private readonly puts = new Map<number, NewMessage>();
  private readonly deletes = new Map<number, number>();
  private readonly quarantined = new Map<number, Buffer>();
  /** f!, s!, i! writes; null = delete. Keyed by key so the last request for a key wins. */
  private readonly writes = new Map<string, Buffer | null>();
  /** Encoded sizes of the stored messages the requests name (absent: not stored). */
  private readonly stored = new Map<number, number>();
  /** Values of messages to quarantine (moved to bad!<seq> as they are). */
  private readonly quarantineValues = new Map<number, Buffer>();
  private readonly assigned = new Map<CommitOp, number[]>();
  private readonly droppedStored: number[] = [];
  private droppedStoredBytes = 0;
  private droppedOther = 0;
  private staleFlights = 0;
  private cursor: OldestCursor | null = null;
  private messages: number;
  private bytes: number;
  private nextSeq: number;
  private readonly firstSeq: number;

  constructor(
    private readonly db: Db,
    start: StoreCounters,
    private readonly limits: Limits,
    private readonly hints: PlanHints = { floor: 1 },
    /** Known sizes of stored messages (see size-cache.ts); without it every named seq is read. */
    private readonly sizes?: Pick<SizeCache, 'get'>,
  ) {
    this.messages = start.messages;
    this.bytes = start.bytes;
    this.nextSeq = start.nextSeq;
    this.firstSeq = start.nextSeq;
  }

  async plan(requests: readonly WriteOp[]): Promise<PlannedBatch> {
    try {
      await this.prefetch(requests);
      for (const request of requests) {
        // Only commits (eviction) and clearFlight touch the disk; not awaiting the rest
        // keeps 20k single-seq settles from costing 20k promise turns.
        const pending = this.apply(request);
        if (pending !== undefined) await pending;
      }
      return this.result();
    } finally {
      await this.cursor?.close();
    }
  }

  /**
   * Sizes (for accounting) and existence (for flights) of every stored message the requests
   * name: from the size cache where it knows them, else one getMany. Quarantines always read,
   * since the value itself is moved.
   */
  private async prefetch(requests: readonly WriteOp[]): Promise<void> {
    const unknown = new Set<number>();
    const quarantine: number[] = [];
    const need = (seq: number): void => {
      const size = this.sizes?.get(seq);
      if (size === undefined) unknown.add(seq);
      else this.stored.set(seq, size);
    };
    for (const r of requests) {
      if (r.kind === 'settle') for (const seq of r.seqs) need(seq);
      else if (r.kind === 'flight') for (const e of r.entries) need(e.seq);
      else if (r.kind === 'quarantine') quarantine.push(r.seq);
    }
    const list = [...unknown, ...quarantine];
    if (list.length === 0) return;
    const values = await this.db.getMany(list.map(msgKey));
    list.forEach((seq, i) => {
      const value = values[i];
      if (value === undefined) return;
      this.stored.set(seq, value.length);
      if (i >= unknown.size) this.quarantineValues.set(seq, value);
    });
  }

  private apply(request: WriteOp): Promise<void> | undefined {
    switch (request.kind) {
      case 'commit':
        return this.commit(request);
      case 'flight':
        for (const { seq, value } of request.entries) {
          if (this.puts.has(seq) || this.present(seq) !== undefined) this.writes.set(flightKey(seq), value);
          else this.staleFlights++;
        }
        return undefined;
      case 'clear-flight':
        return this.clearFlight();
      case 'settle':
        for (const seq of request.seqs) this.remove(seq);
        return undefined;
      case 'quarantine': {
        const value = this.present(request.seq) === undefined ? undefined : this.quarantineValues.get(request.seq);
        if (value === undefined) return undefined;
        this.quarantined.set(request.seq, value);
        this.account(-1, -value.length);
        this.writes.set(flightKey(request.seq), null);
        return undefined;
      }
      case 'key':
        this.writes.set(request.key, request.value);
        return undefined;
    }
  }

  /** The tightest byte bound in force (Infinity: none). */
  private byteCap(): number {
    const { maxBytes, spaceCap } = this.limits;
    return Math.min(maxBytes === 0 ? Infinity : maxBytes, spaceCap ?? Infinity);
  }

  private async commit(op: CommitOp): Promise<void> {
    const { whenFull } = this.limits;
    const cap = this.byteCap();
    const seqs: number[] = [];
    this.assigned.set(op, seqs);
    let accepted = op.messages.filter((m) => m.value.length <= cap);
    this.droppedOther += op.messages.length - accepted.length;
    if (whenFull === 'drop-newest') {
      const size = accepted.reduce((sum, m) => sum + m.value.length, 0);
      if (!this.fits(accepted.length, size)) {
        this.droppedOther += accepted.length;
        accepted = [];
      }
    }
    for (const message of accepted) {
      while (!this.fits(1, message.value.length)) await this.dropOldest();
      const seq = this.nextSeq++;
      this.puts.set(seq, { ...message, owner: op });
      this.account(1, message.value.length);
      seqs.push(seq);
    }
    // Written even when every message was refused: the source moves on, and a gap in its
    // own numbering is honest where a reused number would not be.
    for (const [key, value] of op.state) this.writes.set(key, value);
  }

  private fits(count: number, size: number): boolean {
    const { maxMessages } = this.limits;
    return (maxMessages === 0 || this.messages + count <= maxMessages) && this.bytes + size <= this.byteCap();
  }

  private async dropOldest(): Promise<void> {
    this.cursor ??= new OldestCursor(this.db, this.hints.floor);
    for (let next = await this.cursor.next(); next !== null; next = await this.cursor.next()) {
      if (this.deletes.has(next.seq) || this.quarantined.has(next.seq)) continue;
      this.deletes.set(next.seq, next.size);
      this.writes.set(flightKey(next.seq), null);
      this.account(-1, -next.size);
      this.droppedStored.push(next.seq);
      this.droppedStoredBytes += next.size;
      return;
    }
    // Disk holds nothing older: displace the oldest message added earlier in this batch.
    const first = this.puts.entries().next();
    if (first.done === true) throw new Error('outbox invariant: store full but nothing to drop');
    const [seq, message] = first.value;
    this.puts.delete(seq);
    this.account(-1, -message.value.length);
    this.droppedOther++;
  }

  /** The encoded size of a stored message the requests named, unless this batch already removed it. */
  private present(seq: number): number | undefined {
    if (this.deletes.has(seq) || this.quarantined.has(seq)) return undefined;
    return this.stored.get(seq);
  }

  /** Absent seqs are a no-op for the counters; the f! delete still clears any stray record. */
  private remove(seq: number): void {
    const fresh = this.puts.get(seq);
    if (fresh !== undefined) {
      this.puts.delete(seq);
      this.account(-1, -fresh.value.length);
    } else {
      const size = this.present(seq);
      if (size !== undefined) {
        this.deletes.set(seq, size);
        this.account(-1, -size);
      }
    }
    this.writes.set(flightKey(seq), null);
  }

  private async clearFlight(): Promise<void> {
    for (const key of this.writes.keys()) if (key.startsWith(FLIGHT)) this.writes.set(key, null);
    for await (const key of this.db.keys(spaceRange(FLIGHT))) this.writes.set(key, null);
  }

  private account(count: number, size: number): void {
    this.messages += count;
    this.bytes += size;
  }

  private result(): PlannedBatch {
    const ops: BatchOp[] = [];
    const appended: PlannedBatch['appended'] = [];
    for (const [seq, message] of this.puts) {
      ops.push({ type: 'put', key: msgKey(seq), value: message.value });
      appended.push({ seq, enqueuedAt: message.enqueuedAt, value: message.value });
    }
    for (const seq of this.deletes.keys()) ops.push({ type: 'del', key: msgKey(seq) });
    for (const [seq, value] of this.quarantined) {
      ops.push({ type: 'del', key: msgKey(seq) }, { type: 'put', key: badKey(seq), value });
    }
    for (const [key, value] of this.writes) ops.push(value === null ? { type: 'del', key } : { type: 'put', key, value });
    if (this.nextSeq !== this.firstSeq) ops.push({ type: 'put', key: NEXT_SEQ_KEY, value: encodeSeq(this.nextSeq) });

    const { puts, assigned } = this;
    return {
      ops,
      messages: this.messages,
      bytes: this.bytes,
      nextSeq: this.nextSeq,
      appended,
      removed: new Set([...this.deletes.keys(), ...this.quarantined.keys()]),
      droppedStored: this.droppedStored,
      droppedStoredBytes: this.droppedStoredBytes,
      dropped: this.droppedStored.length + this.droppedOther,
      quarantined: [...this.quarantined.keys()],
      staleFlights: this.staleFlights,
      commitResult(op: CommitOp): CommitResult {
        const seqs = (assigned.get(op) ?? []).filter((seq) => puts.has(seq));
        return { seqs, rejected: op.messages.length - seqs.length };
      },
    };
  }
}
