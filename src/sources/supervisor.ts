/**
 * Keeps one source running: a source that throws is restarted with backoff while the
 * others carry on. Errors are logged at most once per interval per source.
 */
import { RateLimitedLog } from '../observe/logger.js';
import type { Source, SourceContext } from './source.js';
import { sleep } from './sleep.js';

const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 60_000;
const ERROR_LOG_INTERVAL_MS = 30_000;

/** running: in its run(); restarting: failed, waiting out the backoff; finished: stopped or out of readings. */
export type SourceRunState = 'running' | 'restarting' | 'finished';

export interface SupervisedSource {
  readonly name: string;
  readonly failures: number;
  readonly state: SourceRunState;
  /** Why it last failed (the error message), if it ever did. */
  readonly lastError: string | undefined;
  /** Settles when the source has finished for good (stopped or ran out of readings). */
  readonly done: Promise<void>;
}

export function supervise(source: Source, context: SourceContext): SupervisedSource {
  const errorLog = new RateLimitedLog(ERROR_LOG_INTERVAL_MS);
  const state: { name: string; failures: number; state: SourceRunState; lastError: string | undefined; done: Promise<void> } = {
    name: source.name,
    failures: 0,
    state: 'running',
    lastError: undefined,
    done: Promise.resolve(),
  };
  state.done = (async () => {
    let delay = RESTART_MIN_MS;
    while (!context.signal.aborted) {
      const startedAt = Date.now();
      state.state = 'running';
      try {
        await source.run(context);
        return;
      } catch (err) {
        state.failures++;
        state.state = 'restarting';
        state.lastError = err instanceof Error ? err.message : String(err);
        errorLog.maybe(source.name, (suppressed) =>
          context.logger.error('source failed; restarting', { source: source.name, err, retryInMs: delay, suppressed }),
        );
      }
      // A source that ran fine for a while before failing starts its backoff over.
      if (Date.now() - startedAt > RESTART_MAX_MS) delay = RESTART_MIN_MS;
      if (!(await sleep(delay * (0.5 + Math.random() / 2), context.signal))) return;
      delay = Math.min(RESTART_MAX_MS, delay * 2);
    }
  })().finally(() => {
    state.state = 'finished';
  });
  return state;
}
