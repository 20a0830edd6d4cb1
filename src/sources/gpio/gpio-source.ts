/**
 * `type: gpio`. Input mode reports the (debounced) level on every change and/or every `sample`.
 * Counter mode counts pulses and reports `{count, total, rate}` every `interval`; the total is
 * committed with the reading that carries it, so it survives kill -9 exactly: pulses counted in
 * memory since the last commit are what a crash loses, never a committed one, and none counts twice.
 * A clean stop reports the pulses of the unfinished interval before the source ends.
 */
import type { GpioSourceConfig } from '../../config/sources/gpio.js';
import type { Logger } from '../../observe/logger.js';
import type { Reading } from '../../pipeline/reading.js';
import { sleep } from '../sleep.js';
import type { Source, SourceContext } from '../source.js';
import { EmitQueue, runTogether } from '../tasks.js';
import type { Task } from '../tasks.js';
import { counterFields, isPulse, storedTotal } from './counter.js';
import { Debouncer } from './debounce.js';
import type { DebounceTimers } from './debounce.js';
import type { Level } from './events.js';
import { monotonicNowMs } from './line.js';
import type { GpioLine } from './line.js';
import { openGpioLine } from './open.js';

export interface GpioSourceDeps {
  /** How the line is reached; default: picked from the config (see open.ts). */
  openLine?: (logger: Logger) => Promise<GpioLine>;
  timers?: DebounceTimers;
  /** Monotonic ms, for the counter's rate. */
  now?: () => number;
}

export class GpioSource implements Source {
  readonly name: string;
  private readonly openLine: (logger: Logger) => Promise<GpioLine>;
  private readonly now: () => number;

  constructor(
    private readonly config: GpioSourceConfig,
    private readonly deps: GpioSourceDeps = {},
  ) {
    this.name = config.name;
    this.openLine = deps.openLine ?? ((logger) => openGpioLine(config, logger));
    this.now = deps.now ?? monotonicNowMs;
  }

  async run(context: SourceContext): Promise<void> {
    const line = await this.openLine(context.logger);
    if (context.signal.aborted) return;
    context.logger.info('gpio line opened', { line: line.description, mode: this.config.mode });
    if (this.config.mode === 'counter') await this.runCounter(line, context);
    else await this.runInput(line, context);
  }

  private logical(level: Level): Level {
    return this.config.activeLow ? ((1 - level) as Level) : level;
  }

  private watchTask(line: GpioLine, debouncer: Debouncer): Task {
    return (signal) =>
      line
        .watch((event) => debouncer.input(this.logical(event.level), event.atMs), signal)
        .finally(() => debouncer.reset());
  }

  private async runInput(line: GpioLine, context: SourceContext): Promise<void> {
    const { field, onChange, sampleMs, debounceMs } = this.config;
    const queue = new EmitQueue((reading, state) => context.emit(reading, state), context.logger);
    const report = (level: Level): void => queue.push({ source: this.name, ts: Date.now(), fields: { [field]: level } });
    const debouncer = new Debouncer(debounceMs, (level) => report(level), this.deps.timers);
    const tasks: Task[] = [queue.watch];
    if (onChange) tasks.push(this.watchTask(line, debouncer));
    if (sampleMs !== undefined) {
      tasks.push(async (signal) => {
        // Without change reports the line is free for gpioget: read it now, then every sample.
        if (!onChange) report(this.logical(await line.read()));
        while (await sleep(sampleMs, signal)) {
          const level = onChange ? debouncer.level : this.logical(await line.read());
          if (level !== undefined) report(level);
        }
      });
    }
    let failure: { error: unknown } | undefined;
    try {
      await runTogether(context.signal, tasks);
    } catch (error) {
      failure = { error };
    }
    await queue.idle();
    if (failure !== undefined) throw failure.error;
  }

  private async runCounter(line: GpioLine, context: SourceContext): Promise<void> {
    const { edge, intervalMs, debounceMs, ratePer, scale, unit } = this.config;
    let total = storedTotal(context.initialState.total) ?? 0;
    context.logger.info('gpio counter resumes', { total });
    let pulses = 0;
    let last = this.now();
    const debouncer = new Debouncer(
      debounceMs,
      (level, previous) => {
        if (previous !== undefined && isPulse(edge, previous, level)) pulses++;
      },
      this.deps.timers,
    );
    const report = async (): Promise<void> => {
      const count = pulses;
      pulses = 0;
      const at = this.now();
      const elapsedMs = at - last;
      last = at;
      const next = total + count;
      const reading: Reading = {
        source: this.name,
        ts: Date.now(),
        fields: counterFields({ pulses: count, total: next, elapsedMs, ratePer, ...(scale !== undefined && { scale }), ...(unit !== undefined && { unit }) }),
      };
      // Pulses arriving while this commits count towards the next interval.
      await context.emit(reading, { total: next });
      total = next;
    };
    const ticker: Task = async (signal) => {
      let due = this.now() + intervalMs;
      while (await sleep(Math.max(0, due - this.now()), signal)) {
        await report();
        due += intervalMs;
        // After a stall (a slow store), start the rhythm again rather than report in a burst.
        if (due < this.now()) due = this.now() + intervalMs;
      }
    };
    let failure: { error: unknown } | undefined;
    try {
      await runTogether(context.signal, [this.watchTask(line, debouncer), ticker]);
    } catch (error) {
      failure = { error };
    }
    // Stopping or failing: the pulses of the unfinished interval are committed, not dropped.
    if (pulses > 0) {
      try {
        await report();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }
}
