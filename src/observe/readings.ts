/** Readings each source handed over, and when the last one was: for metrics and status. */
export interface ReadingCount {
  count: number;
  /** Epoch ms; null before the first. */
  lastAt: number | null;
}

export class ReadingLedger {
  private readonly counts = new Map<string, ReadingCount>();

  note(source: string, readings: number, at: number = Date.now()): void {
    const entry = this.counts.get(source) ?? { count: 0, lastAt: null };
    entry.count += readings;
    entry.lastAt = at;
    this.counts.set(source, entry);
  }

  get(source: string): ReadingCount {
    const entry = this.counts.get(source);
    return entry === undefined ? { count: 0, lastAt: null } : { ...entry };
  }
}
