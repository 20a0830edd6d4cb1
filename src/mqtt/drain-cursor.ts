/**
 * Which stored message enters the inflight window next (`store.drain`). A cursor reads the
 * store in bounded windows and hands the session one message at a time; the session owns
 * everything else (ids, window, acks). Memory per cursor is a few read windows, never the
 * backlog (invariant 6).
 */
import type { AppendedMessages, DrainOrder, SessionStore, StoredMessage } from './store.js';

/**
 * Decides, for a message just read from disk, whether it may be sent: false for one that is
 * already acknowledged (its delete still queued). May adjust its flight state (an id that
 * means nothing on this connection is dropped).
 */
export type Admissible = (message: StoredMessage) => boolean;

export interface DrainCursor {
  /** A new connection: start over from the store. Resolves once the first messages are known. */
  begin(): Promise<void>;
  /** The message to send next, or undefined when `refill` must run first (or nothing is pending). */
  peek(): StoredMessage | undefined;
  /** Takes the message `peek` returned. */
  shift(): void;
  /** Reads the next window from disk. False: nothing more to read until the next append. */
  refill(): Promise<boolean>;
  /**
   * A commit just added `appended`. A cursor that has read everything before them, is not
   * reading, and has room takes them as its next messages: a caught-up session then sends live
   * readings without reading them back from disk. Otherwise it ignores them and reads them later.
   */
  offer(appended: AppendedMessages): void;
  /** The connection is gone: drop everything; reads still running discard their result. */
  reset(): void;
}

function takeInto(lane: StoredMessage[], messages: readonly StoredMessage[], admissible: Admissible): void {
  for (const message of messages) if (admissible(message)) lane.push(message);
}

export interface CursorOptions {
  store: SessionStore;
  /** Messages per read from disk. */
  readAhead: number;
  admissible: Admissible;
}

/**
 * Oldest first, one forward cursor: the outbox is read in seq order, so a new message never
 * overtakes a stored one, and messages still in flight from the last connection (always the
 * oldest stored ones) go first.
 */
export class OldestFirstCursor implements DrainCursor {
  private buffer: StoredMessage[] = [];
  private after = 0;
  private epoch = 0;
  /** Between begin() and reset(): only then may an offer be taken. */
  private active = false;
  private reading = false;

  constructor(private readonly options: CursorOptions) {}

  async begin(): Promise<void> {
    const epoch = this.epoch;
    await this.read();
    if (epoch === this.epoch) this.active = true;
  }

  peek(): StoredMessage | undefined {
    return this.buffer[0];
  }

  shift(): void {
    this.buffer.shift();
  }

  async refill(): Promise<boolean> {
    if (this.after >= this.options.store.lastSeq()) return false;
    return (await this.read()) > 0;
  }

  offer({ after, messages }: AppendedMessages): void {
    if (!this.active || this.reading || this.after !== after) return;
    if (this.buffer.length + messages.length > this.options.readAhead) return;
    takeInto(this.buffer, messages, this.options.admissible);
    this.after = messages[messages.length - 1]?.seq ?? this.after;
  }

  reset(): void {
    this.epoch++;
    this.buffer = [];
    this.after = 0;
    this.active = false;
    this.reading = false;
  }

  private async read(): Promise<number> {
    const epoch = this.epoch;
    this.reading = true;
    let batch: StoredMessage[];
    try {
      batch = await this.options.store.readAfter(this.after, this.options.readAhead);
    } finally {
      if (epoch === this.epoch) this.reading = false;
    }
    if (epoch !== this.epoch) return 0;
    takeInto(this.buffer, batch, this.options.admissible);
    const last = batch[batch.length - 1];
    if (last !== undefined) this.after = last.seq;
    return batch.length;
  }
}

/**
 * Newest first, in three lanes taken in this order:
 * 1. replay: every message with send state at `begin` (it was on the wire when the last
 *    connection ended), oldest first. MQTT requires resending these under their ids on a
 *    resumed session; they go before anything new;
 * 2. live: messages committed after `begin`, in commit order, read as soon as they are committed;
 * 3. backlog: what was stored at `begin`, newest to oldest, read in descending windows.
 * The lanes never overlap: live is above the boundary seq, backlog at or below it, and both
 * skip the replayed seqs (bounded by the number of flight records).
 */
export class NewestFirstCursor implements DrainCursor {
  private replay: StoredMessage[] = [];
  private readonly replayed = new Set<number>();
  private live: StoredMessage[] = [];
  /** The next live read starts after this seq (the boundary at `begin`, then the last live seq read). */
  private liveAfter = 0;
  private backlog: StoredMessage[] = [];
  /** The next backlog read takes seqs below this; 0 once the backlog is exhausted. */
  private backlogBefore = 0;
  private epoch = 0;
  /** Between begin() and reset(): only then may an offer be taken. */
  private active = false;
  private readingLive = false;

  constructor(private readonly options: CursorOptions) {}

  async begin(): Promise<void> {
    const epoch = this.epoch;
    // Anything committed from here on is live; flight records only exist for committed seqs.
    const boundary = this.options.store.lastSeq();
    const inFlight = await this.options.store.readFlights();
    if (epoch !== this.epoch) return;
    this.liveAfter = boundary;
    this.backlogBefore = boundary + 1;
    for (const message of inFlight) {
      this.replayed.add(message.seq);
      if (this.options.admissible(message)) this.replay.push(message);
    }
    this.active = true;
  }

  peek(): StoredMessage | undefined {
    if (this.replay.length > 0) return this.replay[0];
    if (this.live.length > 0) return this.live[0];
    // Live messages wait on disk: read them before taking more of the backlog.
    if (this.liveAfter < this.options.store.lastSeq()) return undefined;
    return this.backlog[0];
  }

  shift(): void {
    if (this.replay.length > 0) this.replay.shift();
    else if (this.live.length > 0) this.live.shift();
    else this.backlog.shift();
  }

  async refill(): Promise<boolean> {
    const { store, readAhead } = this.options;
    const epoch = this.epoch;
    const last = store.lastSeq();
    if (this.liveAfter < last) {
      this.readingLive = true;
      let batch: StoredMessage[];
      try {
        batch = await store.readAfter(this.liveAfter, readAhead);
      } finally {
        if (epoch === this.epoch) this.readingLive = false;
      }
      if (epoch !== this.epoch) return false;
      this.take(batch, this.live);
      const newest = batch[batch.length - 1]?.seq ?? 0;
      // A short read saw everything committed up to `last`: whatever is missing below it was
      // settled or dropped, and must not make the backlog wait for it.
      this.liveAfter = batch.length < readAhead ? Math.max(newest, last) : newest;
      return true;
    }
    if (this.backlogBefore <= 1 || this.backlog.length > 0) return false;
    const batch = await store.readBefore(this.backlogBefore, readAhead);
    if (epoch !== this.epoch) return false;
    this.take(batch, this.backlog);
    const oldest = batch[batch.length - 1]?.seq ?? 0;
    this.backlogBefore = batch.length < readAhead ? 0 : oldest;
    return true;
  }

  offer({ after, messages }: AppendedMessages): void {
    if (!this.active || this.readingLive || this.liveAfter !== after) return;
    if (this.live.length + messages.length > this.options.readAhead) return;
    this.take(messages, this.live);
    this.liveAfter = messages[messages.length - 1]?.seq ?? this.liveAfter;
  }

  reset(): void {
    this.epoch++;
    this.active = false;
    this.readingLive = false;
    this.replay = [];
    this.replayed.clear();
    this.live = [];
    this.liveAfter = 0;
    this.backlog = [];
    this.backlogBefore = 0;
  }

  private take(batch: readonly StoredMessage[], lane: StoredMessage[]): void {
    for (const message of batch) {
      if (!this.replayed.has(message.seq) && this.options.admissible(message)) lane.push(message);
    }
  }
}

export function createDrainCursor(order: DrainOrder, options: CursorOptions): DrainCursor {
  return order === 'newest-first' ? new NewestFirstCursor(options) : new OldestFirstCursor(options);
}
