/** Bounded waiting primitives: every wait in the support library ends in a timeout. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** Rejects with a TimeoutError naming `description` if `promise` does not settle in time. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${timeoutMs} ms: ${description}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `condition` until it returns a value other than undefined/false. `detail` is called
 * on timeout so the error says what state the world was in, not just that it was wrong.
 */
export async function waitUntil<T>(
  condition: () => T | undefined | false,
  timeoutMs: number,
  description: string,
  opts: { intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const interval = opts.intervalMs ?? 10;
  for (;;) {
    const value = condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      const extra = opts.detail ? `\n${opts.detail()}` : '';
      throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${description}${extra}`);
    }
    await sleep(interval);
  }
}

/** `waitUntil` for a condition that has to await something (a file, a process list). */
export async function waitUntilAsync<T>(
  condition: () => Promise<T | undefined | false>,
  timeoutMs: number,
  description: string,
  opts: { intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const interval = opts.intervalMs ?? 20;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      const extra = opts.detail ? `\n${opts.detail()}` : '';
      throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${description}${extra}`);
    }
    await sleep(interval);
  }
}
