/**
 * The pipeline as the agent wires it: what each source's `emit` does with its readings.
 * Each source has its own rule (topic, QoS, retain, mode, deadband). Readings pass the deadband,
 * become messages and are committed at once with the state the source handed over; with
 * publish.batch, reading-mode messages go through the batcher first. Field-mode messages are
 * plain values, which have no array form, so they are never batched.
 *
 * A reading the deadband holds back produces no message, but the state it advances is still
 * committed (a counter total must not fall behind because nothing was worth sending).
 */
import { RateLimitedLog } from '../observe/logger.js';
import type { Logger } from '../observe/logger.js';
import type { CommitResult, Message, SourceState } from '../outbox/outbox.js';
import type { BatchLimits } from './batch.js';
import { Batcher } from './batcher.js';
import type { BatcherStats, Timers } from './batcher.js';
import { Deadband } from './deadband.js';
import type { DeadbandRule } from './deadband.js';
import { readingToMessages } from './pipeline.js';
import type { FieldTopicError, PublishRule } from './pipeline.js';
import type { Reading } from './reading.js';

/** The outbox's commit (messages and one source's state in one store batch). */
export type CommitMessages = (messages: readonly Message[], state?: { source: string; values: SourceState }) => Promise<CommitResult>;

/** What one source's readings become: the message rule plus the deadband in front of it. */
export interface SourceRule extends PublishRule {
  deadband?: DeadbandRule;
}

export interface PublisherOptions {
  /** The rule of a source registered without one of its own. */
  rule: SourceRule;
  /** Absent: one message per reading, no batching. */
  batch?: BatchLimits;
  commit: CommitMessages;
  logger: Logger;
  timers?: Timers;
  /** Monotonic ms for deadband's maxInterval; tests pass a fake. */
  now?: () => number;
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
  source(name: string, committed: SourceState, rule?: SourceRule): SourceSink;
  /** Commits every open batch; call after the sources have stopped, before the store closes. */
  close(): Promise<void>;
  /** Batching counters; undefined without batching. */
  batchStats(): BatcherStats | undefined;
}

const BAD_FIELD_LOG_INTERVAL_MS = 60_000;

const asList = (readings: Reading | readonly Reading[]): readonly Reading[] =>
  Array.isArray(readings) ? (readings as readonly Reading[]) : [readings as Reading];

export function createPublisher(options: PublisherOptions): Publisher {
  const { logger } = options;
  const badFieldLog = new RateLimitedLog(BAD_FIELD_LOG_INTERVAL_MS);
  const commit = async (source: string, messages: readonly Message[], values: SourceState | undefined): Promise<void> => {
    if (messages.length === 0 && values === undefined) return;
    const result = await options.commit(messages, values === undefined ? undefined : { source, values });
    if (result.rejected > 0) logger.debug('reading dropped: store full (store.whenFull: drop-newest)', { source, messages: result.rejected });
  };
  const batcher =
    options.batch === undefined ? undefined : new Batcher({ limits: options.batch, commit, logger, ...(options.timers !== undefined && { timers: options.timers }) });

  /** Readings → messages for one source: deadband first, then the topic and payload rules. */
  const shaper = (name: string, rule: SourceRule) => {
    const mode = rule.mode ?? 'reading';
    const deadband = rule.deadband === undefined ? undefined : new Deadband(rule.deadband, options.now);
    const onBadField = ({ field, topic, problem }: FieldTopicError): void => {
      badFieldLog.maybe(`${name}\u0000${field}`, (suppressed) =>
        logger.warn('field not published: its topic is not valid', { source: name, field, topic, problem, suppressed }),
      );
    };
    return {
      toMessages(readings: Reading | readonly Reading[]): Message[] {
        const messages: Message[] = [];
        for (const reading of asList(readings)) {
          const fields = deadband === undefined ? reading.fields : deadband.select(reading.fields, mode);
          if (Object.keys(fields).length === 0) continue;
          messages.push(...readingToMessages(fields === reading.fields ? reading : { ...reading, fields }, rule, onBadField));
        }
        return messages;
      },
      forget: () => deadband?.forget(),
    };
  };

  return {
    source(name, committed, rule = options.rule) {
      const shape = shaper(name, rule);
      if (batcher !== undefined && (rule.mode ?? 'reading') === 'reading') {
        const lane = batcher.source(name, committed);
        return {
          emit: async (readings, values) => lane.add(shape.toMessages(readings), values),
          get resumeState() {
            return lane.resumeState;
          },
        };
      }
      let state = committed;
      return {
        async emit(readings, values) {
          try {
            await commit(name, shape.toMessages(readings), values);
          } catch (err) {
            // What the deadband thinks was published was not: publish the next values whatever they are.
            shape.forget();
            throw err;
          }
          if (values !== undefined) state = { ...state, ...values };
        },
        get resumeState() {
          return state;
        },
      };
    },
    close: () => batcher?.close() ?? Promise.resolve(),
    batchStats: () => batcher?.stats(),
  };
}
