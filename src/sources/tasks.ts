/** Small concurrency helpers for sources that watch a device and report on a timer at once. */
import { RateLimitedLog } from '../observe/logger.js';
import type { Logger } from '../observe/logger.js';
import type { Reading } from '../pipeline/reading.js';
import type { SourceContext, SourceStateValues } from './source.js';

export type Task = (signal: AbortSignal) => Promise<void>;

/**
 * Runs tasks until `signal` aborts or one of them fails. The first failure aborts the others;
 * it is thrown once every task has ended, so nothing is left running behind the source.
 */
export async function runTogether(signal: AbortSignal, tasks: readonly Task[]): Promise<void> {
  const inner = new AbortController();
  const onAbort = (): void => inner.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) inner.abort();
  let failure: { error: unknown } | undefined;
  try {
    await Promise.all(
      tasks.map((task) =>
        task(inner.signal).catch((error: unknown) => {
          failure ??= { error };
          inner.abort();
        }),
      ),
    );
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw failure.error;
}

const DROP_LOG_INTERVAL_MS = 30_000;

/**
 * Hands readings that happen at any moment (a door opening) to `emit` one after another, in
 * order. Bounded: past `maxQueued` waiting readings, new ones are dropped, counted and logged
 * (a store that cannot keep up with a chattering input must not grow memory).
 */
export class EmitQueue {
  dropped = 0;
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;
  private failure: { error: unknown } | undefined;
  private readonly failed: Promise<never>;
  private fail: (error: unknown) => void = () => undefined;
  private readonly dropLog = new RateLimitedLog(DROP_LOG_INTERVAL_MS);

  constructor(
    private readonly emit: SourceContext['emit'],
    private readonly logger: Logger,
    private readonly maxQueued = 256,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => undefined);
  }

  push(reading: Reading, state?: SourceStateValues): void {
    if (this.failure !== undefined) return;
    if (this.waiting >= this.maxQueued) {
      this.dropped++;
      this.dropLog.maybe('drop', (suppressed) =>
        this.logger.warn('reading dropped: the store is not keeping up with this source', { dropped: this.dropped, suppressed }),
      );
      return;
    }
    this.waiting++;
    this.tail = this.tail.then(async () => {
      this.waiting--;
      if (this.failure !== undefined) return;
      try {
        await this.emit(reading, state);
      } catch (error) {
        this.failure = { error };
        this.fail(error);
      }
    });
  }

  /** A task that ends when the signal aborts, or fails with the first failed emit. */
  readonly watch: Task = (signal) =>
    Promise.race([
      this.failed,
      new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      }),
    ]);

  /** Waits for every queued reading; throws the first failed emit. */
  async idle(): Promise<void> {
    await this.tail;
    if (this.failure !== undefined) throw this.failure.error;
  }
}
