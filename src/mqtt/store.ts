/**
 * The narrow interface through which the MQTT session reads and settles outgoing
 * messages. The outbox implements it; the session never sees LevelDB.
 */

export type QoS = 0 | 1 | 2;

export interface OutgoingMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
}

/** Where a message that entered the inflight window stands with the broker. */
export type FlightPhase = 'published' | 'released';

export interface FlightState {
  packetId: number;
  phase: FlightPhase;
}

export interface StoredMessage extends OutgoingMessage {
  /** Persisted, monotonically increasing outbox sequence number. */
  seq: number;
  /** Epoch ms when the message was committed. */
  enqueuedAt: number;
  /** Present when the message was sent before (this or an earlier process). */
  flight?: FlightState;
}

export type DrainOrder = 'oldest-first' | 'newest-first';

/** What one commit added to the store. */
export interface AppendedMessages {
  /** The highest seq committed before this commit: a reader that has read up to it can take `messages` as the next ones. */
  after: number;
  /** In seq order; exactly what was stored (decoded from the stored bytes). */
  messages: readonly StoredMessage[];
}

export interface SessionStore {
  /**
   * Up to `limit` stored messages strictly after `afterSeq` (oldest first), read from disk.
   * `afterSeq` 0 means from the beginning.
   */
  readAfter(afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Up to `limit` stored messages strictly before `beforeSeq`, newest first, read from disk
   * (the newest-first drain walks the backlog down with it).
   */
  readBefore(beforeSeq: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Every stored message that has send state (`flight`), oldest first. Bounded by the
   * inflight window, not by the backlog: only messages that entered the window have one.
   */
  readFlights(): Promise<StoredMessage[]>;
  /** Highest seq ever committed (0 when none); lets the session know there is more to read. */
  lastSeq(): number;
  /**
   * Called after each commit that added messages, with those messages, so a reader that is
   * caught up can take them without reading them back from disk. Returns an unsubscribe function.
   */
  onAppend(listener: (appended: AppendedMessages) => void): () => void;
  /**
   * Called when the store takes writes again after a failed write (disk full). Writes the
   * session made meanwhile (settles, send state) may be missing from disk.
   */
  onWritable(listener: () => void): () => void;
  /**
   * Persist send state before the packets are written, so ids survive a crash.
   * Resolves once durable (same group commit as everything else).
   */
  recordFlight(entries: ReadonlyArray<{ seq: number } & FlightState>): Promise<void>;
  /** Forget all send state (broker reported no session: ids are meaningless now). */
  clearFlight(): Promise<void>;
  /** Delete settled messages (PUBACK, PUBCOMP, or a QoS 0 written to the socket). Batched. */
  settle(seqs: readonly number[]): Promise<void>;
  /** Incoming QoS 2 packet ids awaiting PUBREL (exactly-once for commands). */
  incomingQos2: IncomingQos2Store;
}

export interface IncomingQos2Store {
  has(packetId: number): Promise<boolean>;
  add(packetId: number): Promise<void>;
  remove(packetId: number): Promise<void>;
  /** Forget every id: the broker reported no session, so it will resend none of them. */
  clear(): Promise<void>;
}
