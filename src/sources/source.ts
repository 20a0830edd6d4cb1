/**
 * What every source (simulated, serial, GPIO, 1-Wire) implements. A source produces
 * readings and small state; it never sees MQTT or the store.
 */
import type { Logger } from '../observe/logger.js';
import type { Reading } from '../pipeline/reading.js';

export type SourceStateValues = Record<string, string | number>;

export interface SourceContext {
  /**
   * Hands a reading (and the state it advances) to the agent. Resolves once both are
   * committed together; a source must await it before producing state that depends on it.
   * Several readings in one call are committed in one batch with the state (all or none).
   * With publish.batch it resolves once they are in an open batch, which is committed (with
   * the state) within maxDelay; if that commit fails, a later emit rejects and the source
   * restarts from `initialState`, the last state not lost.
   */
  emit(reading: Reading | readonly Reading[], state?: SourceStateValues): Promise<void>;
  /** The state last committed with one of this source's readings, or waiting in an open batch ({} on first start). */
  readonly initialState: Readonly<SourceStateValues>;
  readonly logger: Logger;
  /** Aborted when the agent stops; a source returns promptly after it fires. */
  readonly signal: AbortSignal;
}

export interface Source {
  readonly name: string;
  /** Runs until the signal aborts or the source has nothing more to produce. Throws on failure. */
  run(context: SourceContext): Promise<void>;
  /** Counters for metrics (lines parsed, parse errors, reconnects, ...), for sources that keep them. */
  stats?(): Readonly<Record<string, number>>;
}
