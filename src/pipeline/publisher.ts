/**
 * The pipeline as the agent wires it: what each source's `emit` does with its readings.
 * Without publish.batch, every reading becomes a message committed at once with the state the
 * source handed over; with it, readings go through the batcher first.
 */
import type { Logger } from '../observe/logger.js';
import type { CommitResult, Message, SourceState } from '../outbox/outbox.js';
import type { BatchLimits } from './batch.js';
import { Batcher } from './batcher.js';
import type { BatcherStats, Timers } from './batcher.js';
import { readingToMessages } from './pipeline.js';
import type { PublishRule } from './pipeline.js';
import type { Reading } from './reading.js';

/** The outbox's commit (messages and one source's state in one store batch). */
export type CommitMessages = (messages: readonly Message[], state?: { source: string; values: SourceState }) => Promise<CommitResult>;

export interface PublisherOptions {
  rule: PublishRule;
  /** Absent: one message per reading, no batching. */
  batch?: BatchLimits;
  commit: CommitMessages;
  logger: Logger;
  timers?: Timers;
}

/** One source's way into the pipeline. */
export interface SourceSink {
  /**
   * Hands readings and the state they advance to the pipeline. Without batching it resolves
   * once both are committed; with batching once they are in an open batch (see batcher.ts).
   */
  emit(readings: Reading | readonly Reading[], state?: SourceState): Promise<void>;
  /** What the source (re)starts from: the state last handed over and not lost. */
  readonly resumeState: SourceState;
}

export interface Publisher {
  /** `committed`: the source's state as the store has it. */
  source(name: string, committed: SourceState): SourceSink;
  /** Commits every open batch; call after the sources have stopped, before the store closes. */
  close(): Promise<void>;
  /** Batching counters; undefined without batching. */
  batchStats(): BatcherStats | undefined;
}

const asList = (readings: Reading | readonly Reading[]): readonly Reading[] =>
  Array.isArray(readings) ? (readings as readonly Reading[]) : [readings as Reading];

export function createPublisher(options: PublisherOptions): Publisher {
  const { rule, logger } = options;
  const toMessages = (readings: Reading | readonly Reading[]): Message[] => asList(readings).flatMap((r) => readingToMessages(r, rule));
  const commit = async (source: string, messages: readonly Message[], values: SourceState | undefined): Promise<void> => {
    const result = await options.commit(messages, values === undefined ? undefined : { source, values });
    if (result.rejected > 0) logger.debug('reading dropped: store full (store.whenFull: drop-newest)', { source, messages: result.rejected });
  };

  if (options.batch === undefined) {
    return {
      source(name, committed) {
        let state = committed;
        return {
          async emit(readings, values) {
            await commit(name, toMessages(readings), values);
            if (values !== undefined) state = { ...state, ...values };
          },
          get resumeState() {
            return state;
          },
        };
      },
      close: () => Promise.resolve(),
      batchStats: () => undefined,
    };
  }

  const batcher = new Batcher({ limits: options.batch, commit, logger, ...(options.timers !== undefined && { timers: options.timers }) });
  return {
    source(name, committed) {
      const lane = batcher.source(name, committed);
      return {
        emit: async (readings, values) => lane.add(toMessages(readings), values),
        get resumeState() {
          return lane.resumeState;
        },
      };
    },
    close: () => batcher.close(),
    batchStats: () => batcher.stats(),
  };
}
