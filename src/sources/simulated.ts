/**
 * A stand-in sensor with plausible greenhouse readings and a gapless `seq`. The seq is
 * committed with the reading that carries it, so after a crash the uncommitted seqs are
 * produced again: no gap, no reuse.
 */
import type { Reading } from '../pipeline/reading.js';
import type { Source, SourceContext } from './source.js';

/** Readings per commit when running flat out. */
const BURST = 64;
import { sleep } from './sleep.js';

export interface SimulatedOptions {
  name: string;
  intervalMs: number;
  /** Stop after the reading with this seq. */
  count?: number;
  random?: () => number;
}

export class SimulatedSource implements Source {
  readonly name: string;
  private readonly random: () => number;

  constructor(private readonly options: SimulatedOptions) {
    this.name = options.name;
    this.random = options.random ?? Math.random;
  }

  async run(context: SourceContext): Promise<void> {
    const stored = context.initialState.seq;
    let seq = typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 0 ? stored : 0;
    let temperature = 18 + this.random() * 6;
    let humidity = 40 + this.random() * 20;
    const { intervalMs, count } = this.options;
    let next = Date.now();

    while (!context.signal.aborted && (count === undefined || seq < count)) {
      // Flat out (interval 0), readings go in bursts: one commit carries many, with the
      // seq of the last, so "as fast as the store accepts" is not one disk write per reading.
      const burst = intervalMs > 0 ? 1 : Math.min(BURST, count === undefined ? BURST : count - seq);
      const readings: Reading[] = [];
      for (let i = 0; i < burst; i++) {
        // A bounded random walk: values drift like a real room, never jump.
        temperature = clamp(temperature + (this.random() - 0.5) * 0.2, -10, 45);
        humidity = clamp(humidity + (this.random() - 0.5) * 0.5, 5, 95);
        readings.push({
          source: this.name,
          ts: Date.now(),
          fields: { seq: seq + i + 1, temperature: round(temperature, 2), humidity: round(humidity, 1) },
        });
      }
      await context.emit(readings.length === 1 ? (readings[0] as Reading) : readings, { seq: seq + burst });
      seq += burst;
      if (intervalMs > 0) {
        next += intervalMs;
        if (!(await sleep(Math.max(0, next - Date.now()), context.signal))) break;
      } else {
        // Let timers and sockets run between bursts.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (count !== undefined && seq >= count) context.logger.info('simulated source finished', { count });
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
