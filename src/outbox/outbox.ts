import type { OutgoingMessage, SessionStore } from '../mqtt/store.js';

/** What happens when a commit would exceed `store.maxMessages` / `store.maxBytes`. */
export type WhenFull = 'drop-oldest' | 'drop-newest';

export interface OutboxOptions {
  path: string;
  /** 0 or undefined = unlimited. */
  maxMessages?: number;
  /** 0 or undefined = unlimited; counted as encoded message bytes. */
  maxBytes?: number;
  whenFull: WhenFull;
  /**
   * Bytes to keep free on the store's filesystem (0 or undefined = off): below it the store
   * stops growing and whenFull applies, so LevelDB keeps room to delete and compact.
   */
  minFreeSpace?: number;
  /** fsync every commit batch. */
  sync: boolean;
}

/** Small per-source state committed atomically with the messages its reading produced. */
export type SourceState = Readonly<Record<string, string | number>>;

export interface CommitResult {
  /** Seqs assigned to the committed messages (empty when drop-newest rejected them). */
  seqs: number[];
  /** Messages refused by drop-newest in this commit. */
  rejected: number;
}

export interface OutboxStats {
  messages: number;
  bytes: number;
  /** Total dropped by the whenFull policy since open. */
  dropped: number;
  /** Epoch ms of the oldest stored message, or null when empty. */
  oldestEnqueuedAt: number | null;
}

/**
 * The single place outgoing messages live. Everything the session sends comes from here,
 * everything acknowledged is deleted from here.
 */
export interface Outbox extends SessionStore {
  /**
   * Commit messages (and optionally the producing source's state) in one LevelDB batch.
   * Resolves only after the batch is written. Concurrent commits are grouped.
   */
  commit(messages: readonly OutgoingMessage[], state?: { source: string; values: SourceState }): Promise<CommitResult>;
  /** Last committed state of a source ({} when none). */
  readSourceState(source: string): Promise<Record<string, string | number>>;
  stats(): OutboxStats;
  close(): Promise<void>;
}

/** The message shape the pipeline produces and the outbox stores. */
export type { OutgoingMessage as Message, QoS } from '../mqtt/store.js';
