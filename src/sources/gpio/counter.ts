/** Pulse-counter arithmetic: which settled changes are pulses, and the fields of a counter reading. */
import type { GpioEdge, RatePer } from '../../config/sources/gpio.js';
import type { FieldValue } from '../../pipeline/reading.js';
import type { Level } from './events.js';

export function isPulse(edge: GpioEdge, previous: Level, level: Level): boolean {
  if (previous === level) return false;
  if (edge === 'both') return true;
  return edge === 'rising' ? level === 1 : level === 0;
}

const PER_MS: Readonly<Record<RatePer, number>> = { second: 1_000, minute: 60_000, hour: 3_600_000 };

export interface CounterInterval {
  /** Pulses counted in the interval. */
  pulses: number;
  /** Running total after it (the persisted value). */
  total: number;
  /** How long the interval actually was. */
  elapsedMs: number;
  ratePer: RatePer;
  scale?: number;
  unit?: string;
}

/** Six decimals: enough for 0.2794 mm × pulses, and no 12.293600000000001 in payloads. */
const round6 = (value: number): number => Math.round(value * 1e6) / 1e6;

/**
 * `{count, total, rate}` in pulses (rate per `ratePer`). With a scale they are in the scaled
 * unit, and the raw integers follow as `pulses` and `pulsesTotal` (and `unit`, if given).
 */
export function counterFields(interval: CounterInterval): Record<string, FieldValue> {
  const { pulses, total, elapsedMs, ratePer, scale, unit } = interval;
  const rate = elapsedMs > 0 ? (pulses * PER_MS[ratePer]) / elapsedMs : 0;
  if (scale === undefined) return { count: pulses, total, rate: round6(rate) };
  return {
    count: round6(pulses * scale),
    total: round6(total * scale),
    rate: round6(rate * scale),
    pulses,
    pulsesTotal: total,
    ...(unit !== undefined && { unit }),
  };
}

/** The persisted total, if it is one: a whole number ≥ 0 (anything else starts again from 0). */
export function storedTotal(value: string | number | undefined): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
