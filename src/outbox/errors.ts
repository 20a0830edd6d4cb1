/** The store could not be opened; `message` is written for the operator, not the developer. */
export class OutboxOpenError extends Error {
  override readonly name = 'OutboxOpenError';
  readonly code: 'OUTBOX_LOCKED' | 'OUTBOX_OPEN_FAILED' | 'OUTBOX_DAMAGED';
  readonly path: string;

  constructor(code: OutboxOpenError['code'], path: string, message: string, cause: unknown) {
    super(message, { cause });
    this.code = code;
    this.path = path;
  }
}

/** Any call after close(): the agent's stop order is wrong if this ever shows up in a log. */
export class OutboxClosedError extends Error {
  override readonly name = 'OutboxClosedError';
  readonly code = 'OUTBOX_CLOSED';

  constructor(operation: string) {
    super(`outbox is closed (${operation} called after close())`);
  }
}

function causeCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code;
  return undefined;
}

/** What to do about a store that cannot be opened; every open error ends with it. */
export function RECOVERY_HINT(path: string): string {
  return (
    `To recover: stop sensorgate and run \`sensorgate repair --config FILE\` (it copies the directory to ` +
    `${path}.backup-<time> first), or move the directory aside (mv ${path} ${path}.broken) to start with an ` +
    `empty store; the queued messages stay in the moved copy.`
  );
}

export function lockedMessage(path: string, pid: number | null): string {
  const who = pid === null ? 'another process' : `another process (pid ${pid})`;
  return `store.path ${path} is locked by ${who}: is another sensorgate running? Stop it, or give this agent its own store.path.`;
}

export function toOpenError(path: string, err: unknown): OutboxOpenError {
  if (err instanceof OutboxOpenError) return err;
  const code = causeCode(err);
  if (code === 'LEVEL_LOCKED') return new OutboxOpenError('OUTBOX_LOCKED', path, lockedMessage(path, null), err);
  const detail = err instanceof Error ? ((err as { cause?: unknown }).cause instanceof Error ? (err.cause as Error).message : err.message) : String(err);
  return new OutboxOpenError('OUTBOX_OPEN_FAILED', path, `cannot open store.path ${path}: ${detail}. ${RECOVERY_HINT(path)}`, err);
}

/** LevelDB reports ENOSPC/EDQUOT as text inside a LEVEL_IO_ERROR, without an errno code. */
export function isDiskFullError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || /no space left on device|disk quota exceeded/i.test(e.message)) return true;
  }
  return false;
}

/**
 * A write refused without trying: an earlier batch write failed and the store waits to be
 * reopened (LevelDB refuses every write after a failed background write until then).
 */
export class OutboxUnwritableError extends Error {
  override readonly name = 'OutboxUnwritableError';
  readonly code = 'OUTBOX_UNWRITABLE';

  constructor(operation: string, since: number, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`store is not writable since ${new Date(since).toISOString()} (${detail}); ${operation} refused until it is reopened`, { cause });
  }
}
