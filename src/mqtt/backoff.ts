/** Exponential backoff with full jitter, floored at minDelay, capped at maxDelay. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minDelayMs: number,
    private readonly maxDelayMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    if (ceiling < this.maxDelayMs) this.attempt++;
    return Math.round(this.minDelayMs + this.random() * (ceiling - this.minDelayMs));
  }

  /** The maximum delay: for refusals that will not fix themselves by retrying sooner. */
  max(): number {
    return this.maxDelayMs;
  }

  reset(): void {
    this.attempt = 0;
  }
}
