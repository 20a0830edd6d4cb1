/**
 * Durations and sizes as they appear in config files.
 *
 * Durations: a number is seconds (may be fractional: 0.5 = 500 ms); a string needs a unit:
 * `ms`, `s`, `m` (minutes) or `h`, e.g. `200ms`, `5s`, `2m`, `1.5h`. Result: whole milliseconds.
 *
 * Sizes: a number is bytes (whole); a string needs a unit, case-insensitive: `B`, `KB`, `MB`, `GB`
 * or `KiB`, `MiB`, `GiB`. Result: whole bytes.
 *
 * Size units are 1024-based, and KB = KiB, MB = MiB, GB = GiB. Buffer and packet limits on small
 * boards are thought of in powers of two (as `ls -h`, `free` and most embedded tools do), and a
 * limit that means two things depending on one letter is a trap; `1MB` here is 1,048,576 bytes.
 */

/** Longest delay Node timers accept (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

const SIZE_UNITS_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A plain non-negative decimal, then a unit: no sign, no exponent, no hex, no "Infinity". */
const QUANTITY = /^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]+)$/;

function splitQuantity(text: string): { amount: number; unit: string } | undefined {
  const match = QUANTITY.exec(text.trim());
  if (match === null) return undefined;
  const [, amount, unit] = match;
  if (amount === undefined || unit === undefined) return undefined;
  return { amount: Number(amount), unit };
}

/** Rounds and returns a whole, safe, non-negative number, or undefined. */
function whole(value: number): number | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  const rounded = Math.round(value);
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/**
 * Parses a duration (see the module comment) into whole milliseconds.
 * Returns undefined for anything else: negatives, NaN, Infinity, unknown units, other types.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return whole(value * 1_000);
  if (typeof value !== 'string') return undefined;
  const quantity = splitQuantity(value);
  if (quantity === undefined) return undefined;
  const factor = DURATION_UNITS_MS[quantity.unit]; // units are case-sensitive: `m` is minutes, never months
  return factor === undefined ? undefined : whole(quantity.amount * factor);
}

/**
 * Parses a size (see the module comment) into whole bytes.
 * Returns undefined for anything else: negatives, fractional byte counts, NaN, unknown units.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? whole(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const quantity = splitQuantity(value);
  if (quantity === undefined) return undefined;
  const factor = SIZE_UNITS_BYTES[quantity.unit.toLowerCase()];
  return factor === undefined ? undefined : whole(quantity.amount * factor);
}

/** Short human form for messages: 1500 → `1.5s`, 120000 → `2m`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  for (const [unit, factor] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= factor && ms % (factor / 1_000) === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}

/** Short human form for messages: 1048576 → `1MiB`, 1536 → `1.5KiB`, 100 → `100B`. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= factor && (bytes * 100) % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
