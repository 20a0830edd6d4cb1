/**
 * Deadband with a heartbeat, to save cellular data: a field is published only when it moved by at
 * least its deadband since it was last published, or when maxInterval has passed since then.
 *
 * State is in memory: after a restart every field's first value is published. The clock is
 * monotonic (a Pi without a real-time clock steps its wall clock at boot) and injectable.
 */
import type { FieldValue } from './reading.js';

export interface DeadbandRule {
  /** Every numeric field: published when it changed by at least this (0: when it changed at all); other fields when they changed. */
  all?: number;
  /** Per field, instead of or on top of `all`. A field with no deadband is published every time. */
  fields?: Readonly<Record<string, number>>;
  /** A field held back by its deadband is published anyway this long after it last was. */
  maxIntervalMs?: number;
}

export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Published {
  value: FieldValue;
  at: number;
}

/** More distinct field names than any sensor has: a source inventing names cannot grow memory without bound. */
const MAX_TRACKED_FIELDS = 1_000;
/** Float noise: 0.3 - 0.1 is 0.19999999999999998, which must count as a change of 0.2. */
const RELATIVE_TOLERANCE = 1e-9;

export class Deadband {
  private readonly last = new Map<string, Published>();

  constructor(
    private readonly rule: DeadbandRule,
    private readonly now: () => number = monotonicMs,
  ) {
    for (const [field, band] of Object.entries({ all: rule.all, ...rule.fields })) {
      if (band !== undefined && !(band >= 0 && Number.isFinite(band))) throw new RangeError(`deadband for ${field} must be a finite number >= 0 (got ${band})`);
    }
    if (rule.maxIntervalMs !== undefined && !(rule.maxIntervalMs > 0)) throw new RangeError(`maxIntervalMs must be > 0 (got ${rule.maxIntervalMs})`);
  }

  /**
   * The fields to publish now, remembered as published. `reading` mode publishes a reading whole
   * or not at all: all its fields when any one is due.
   */
  select(fields: Readonly<Record<string, FieldValue>>, mode: 'reading' | 'field'): Record<string, FieldValue> {
    const at = this.now();
    const names = Object.keys(fields);
    const due = names.filter((name) => this.isDue(name, fields[name] as FieldValue, at));
    const chosen = mode === 'reading' ? (due.length > 0 ? names : []) : due;
    const out: Record<string, FieldValue> = {};
    if (this.last.size + chosen.length > MAX_TRACKED_FIELDS) this.last.clear();
    for (const name of chosen) {
      const value = fields[name] as FieldValue;
      out[name] = value;
      this.last.set(name, { value, at });
    }
    return out;
  }

  /** Forgets what was published (its commit failed): every field's next value is published. */
  forget(): void {
    this.last.clear();
  }

  private isDue(name: string, value: FieldValue, at: number): boolean {
    const band = this.rule.fields?.[name] ?? this.rule.all;
    const last = this.last.get(name);
    if (band === undefined || last === undefined) return true;
    if (this.rule.maxIntervalMs !== undefined && at - last.at >= this.rule.maxIntervalMs) return true;
    if (typeof value !== 'number' || typeof last.value !== 'number') return value !== last.value;
    if (value === last.value) return false;
    return Math.abs(value - last.value) >= band * (1 - RELATIVE_TOLERANCE);
  }
}
