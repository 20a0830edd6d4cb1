/** One GPIO line as the GPIO source sees it, whichever way the kernel is reached. */
import type { Level } from './events.js';

export interface LevelEvent {
  /** The physical level (active-low is applied by the source). */
  level: Level;
  /** Monotonic ms: the kernel's event time when known, else when it was seen. */
  atMs: number;
}

export interface GpioLine {
  /** `chardev (libgpiod v2.1.2) gpiochip0 line 17`, `sysfs gpio529`: for logs. */
  readonly description: string;
  /** Reads the level once. Not while `watch` runs: the character device lets one request hold a line. */
  read(): Promise<Level>;
  /**
   * Reports the level, then every change, until the signal aborts (resolves) or watching fails
   * (rejects: the tool exited, the value file vanished). The first event is the initial level.
   */
  watch(onLevel: (event: LevelEvent) => void, signal: AbortSignal): Promise<void>;
}

/** CLOCK_MONOTONIC in ms: the clock gpiomon's timestamps use by default. */
export const monotonicNowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
