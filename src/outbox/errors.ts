/** The store could not be opened; `message` is written for the operator, not the developer. */
export class OutboxOpenError extends Error {
  override readonly name = 'OutboxOpenError';
  readonly code: 'OUTBOX_LOCKED' | 'OUTBOX_OPEN_FAILED';
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

export function toOpenError(path: string, err: unknown): OutboxOpenError {
  const code = causeCode(err);
  if (code === 'LEVEL_LOCKED') {
    return new OutboxOpenError('OUTBOX_LOCKED', path, `store.path ${path} is locked by another process (is another sensorgate running?)`, err);
  }
  const detail = err instanceof Error ? ((err as { cause?: unknown }).cause instanceof Error ? (err.cause as Error).message : err.message) : String(err);
  return new OutboxOpenError(
    'OUTBOX_OPEN_FAILED',
    path,
    `cannot open store.path ${path}: ${detail}. If the store is corrupt, stop sensorgate, move the directory aside ` +
      `(e.g. mv ${path} ${path}.broken) and start again; queued messages stay in the moved copy.`,
    err,
  );
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
