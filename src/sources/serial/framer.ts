/**
 * Serial bytes → lines. Lines end at LF, CR or CRLF; empty lines are skipped. What cannot be
 * trusted is reported, never passed on: the bytes before the first line end after a (re)open
 * (the tail of a line the device was already sending), and lines longer than `maxLineLength`
 * (discarded up to the next line end, so memory stays bounded whatever arrives).
 */

const LF = 0x0a;
const CR = 0x0d;

export interface LineFramerOptions {
  /** Longest line kept, in bytes without the line end. */
  maxLineLength: number;
}

export type FramedEvent =
  | { kind: 'line'; bytes: Buffer }
  /** A line over maxLineLength was discarded; `bytes` counts what was seen of it (at least maxLineLength + 1). */
  | { kind: 'oversize'; bytes: number }
  /** The bytes before the first line end after open (or after `restart`) were dropped. */
  | { kind: 'partial'; bytes: number };

export class LineFramer {
  private readonly maxLineLength: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of the current line seen so far, kept or not. */
  private lineBytes = 0;
  /** Until the first line end, bytes belong to a line that started before we were listening. */
  private syncing = true;

  constructor(options: LineFramerOptions) {
    if (!Number.isSafeInteger(options.maxLineLength) || options.maxLineLength < 1) {
      throw new RangeError(`maxLineLength must be a positive integer, got ${String(options.maxLineLength)}`);
    }
    this.maxLineLength = options.maxLineLength;
  }

  /** Frames one chunk; the events come in byte order. The chunk may be reused by the caller afterwards. */
  push(chunk: Buffer): FramedEvent[] {
    const events: FramedEvent[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== LF && byte !== CR) continue;
      this.append(chunk, start, i);
      const event = this.endLine();
      if (event !== undefined) events.push(event);
      start = i + 1;
    }
    this.append(chunk, start, chunk.length);
    return events;
  }

  /**
   * Drops the partial line, if any, and treats the next byte as the start of a line: a poll
   * reply starts after its command, whatever was on the line before.
   * Returns the number of bytes dropped.
   */
  restart(): number {
    const dropped = this.lineBytes;
    this.reset();
    this.syncing = false;
    return dropped;
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const length = to - from;
    if (length === 0) return;
    this.lineBytes += length;
    // Keep nothing of a line that is being dropped (before the first line end) or is already too long.
    if (this.syncing || this.lineBytes > this.maxLineLength) {
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    // A copy: the caller reuses its read buffer.
    this.pending.push(Buffer.from(chunk.subarray(from, to)));
    this.pendingBytes += length;
  }

  private endLine(): FramedEvent | undefined {
    const seen = this.lineBytes;
    const wasSyncing = this.syncing;
    const bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.reset();
    this.syncing = false;
    if (seen === 0) return undefined; // empty line, or the LF of a CRLF
    if (wasSyncing) return { kind: 'partial', bytes: seen };
    if (seen > this.maxLineLength) return { kind: 'oversize', bytes: seen };
    return { kind: 'line', bytes: bytes ?? Buffer.alloc(0) };
  }

  private reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.lineBytes = 0;
  }
}
