/**
 * A sensor on a serial port. Keeps the port open whatever happens to it: absent at start,
 * unplugged, erroring; it retries with backoff (1 s → 30 s, jittered) and resumes when the
 * port is back. Each line is framed, decoded, parsed and shaped; every line that does not
 * become a reading is counted by why, with a rate-limited sample in the log. Bad input never
 * ends the source.
 *
 * An unplug ends the session two ways: the read rejects (the tty hangs up), and, as a safety
 * net, the device path is checked every 2 s while open (device-watch.ts): gone, or naming a
 * different device, closes the port.
 *
 * Readings of one read are emitted together, and the next read waits for that emit: a slow
 * store slows the reading of the port (the OS buffer, or the device via RTS/CTS, holds the
 * rest), never grows our memory. A reading's ts is when its line end arrived.
 */
import { RateLimitedLog } from '../../observe/logger.js';
import type { Reading } from '../../pipeline/reading.js';
import { ParseError, shapeFields } from '../fields.js';
import { sleep } from '../sleep.js';
import type { Source, SourceContext } from '../source.js';
import { systemBinding } from './binding.js';
import type { SerialBinding, SerialLink } from './binding.js';
import { DEVICE_CHECK_INTERVAL_MS, watchDevicePath } from './device-watch.js';
import { decodeEscapes } from './escapes.js';
import { LineFramer } from './framer.js';
import type { FramedEvent } from './framer.js';
import { decodeLine } from './decode.js';
import { createParser } from './parsers/index.js';
import type { LineParser } from './parsers/index.js';
import type { SerialSourceSpec } from './spec.js';

export const SERIAL_RETRY_MIN_MS = 1_000;
export const SERIAL_RETRY_MAX_MS = 30_000;
/** Each kind of problem (parse error, noise, timeout, port absent) is logged at most this often. */
const PROBLEM_LOG_INTERVAL_MS = 60_000;
/** Bytes asked for per read; a read returns what has arrived, often much less. */
const READ_CHUNK_BYTES = 4_096;
/** Characters of a bad line shown in the log. */
const SAMPLE_CHARS = 120;
const SAMPLE_BYTES = 32;

/** Counters a metrics endpoint can read. Monotonic over the source's life. */
export type SerialStats = {
  opens: number;
  openFailures: number;
  /** The port failed or went away while open. */
  disconnects: number;
  bytesRead: number;
  readings: number;
  parseErrors: number;
  /** Well-formed lines that are not readings (e.g. NMEA sentences other than GGA/RMC). */
  ignoredLines: number;
  /** Line tails dropped after open, and partial input dropped before a poll command. */
  partialLines: number;
  oversizeLines: number;
  invalidUtf8Lines: number;
  /** Lines with NUL or other control bytes. */
  binaryLines: number;
  /** Poll mode: lines that arrived while no command was waiting for a reply. */
  unsolicitedLines: number;
  polls: number;
  pollTimeouts: number;
  /** Commands written to the device on request (`serial-write`). */
  writes: number;
  /** 1 while the port is open, else 0. */
  portOpen: number;
};

/** Most bytes one write() takes: a command for a sensor, not a firmware upload. */
export const MAX_SERIAL_WRITE_BYTES = 4_096;

export interface SerialSourceOptions extends SerialSourceSpec {
  /** Default: node-serialport's native binding. */
  binding?: SerialBinding;
  /** Reopen backoff; default 1 s → 30 s. */
  retry?: { minMs: number; maxMs: number };
  random?: () => number;
  /** How often the device path is checked while the port is open; default 2 s; 0: never (fake bindings on made-up paths). */
  deviceCheckMs?: number;
}

/** A poll command waiting for its reply line. */
interface PendingReply {
  answer(): void;
}

type LineOutcome = Reading | undefined;

export class SerialSource implements Source {
  readonly name: string;
  private readonly parse: LineParser;
  private readonly command: Buffer | undefined;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;
  private readonly deviceCheckMs: number;
  private readonly counters: SerialStats = {
    opens: 0,
    openFailures: 0,
    disconnects: 0,
    bytesRead: 0,
    readings: 0,
    parseErrors: 0,
    ignoredLines: 0,
    partialLines: 0,
    oversizeLines: 0,
    invalidUtf8Lines: 0,
    binaryLines: 0,
    unsolicitedLines: 0,
    polls: 0,
    pollTimeouts: 0,
    writes: 0,
    portOpen: 0,
  };
  private readonly problemLog = new RateLimitedLog(PROBLEM_LOG_INTERVAL_MS);
  private pending: PendingReply | undefined;
  /** The open port, for write(); undefined while closed. */
  private link: SerialLink | undefined;

  constructor(private readonly options: SerialSourceOptions) {
    this.name = options.name;
    // Both were validated with the config; a failure here is a caller's bug, so it throws.
    this.parse = createParser(options.parser);
    if (options.poll !== undefined) {
      const command = decodeEscapes(options.poll.command);
      if (typeof command === 'string') throw new RangeError(`poll.command: ${command}`);
      this.command = command;
    }
    this.retryMinMs = options.retry?.minMs ?? SERIAL_RETRY_MIN_MS;
    this.retryMaxMs = options.retry?.maxMs ?? SERIAL_RETRY_MAX_MS;
    this.random = options.random ?? Math.random;
    this.deviceCheckMs = options.deviceCheckMs ?? DEVICE_CHECK_INTERVAL_MS;
  }

  stats(): Readonly<SerialStats> {
    return { ...this.counters, portOpen: this.link === undefined ? 0 : 1 };
  }

  /**
   * Writes bytes to the device (a command for a sensor that takes them). Rejects when the port
   * is not open. In poll mode the bytes may land between a poll command and its reply; a reply
   * they provoke while no poll is waiting is dropped as unsolicited.
   */
  async write(data: Buffer): Promise<void> {
    const link = this.link;
    if (link === undefined) throw new Error(`serial port ${this.options.path} is not open`);
    if (data.length === 0 || data.length > MAX_SERIAL_WRITE_BYTES) throw new RangeError(`a serial write takes 1 to ${MAX_SERIAL_WRITE_BYTES} bytes (got ${data.length})`);
    await link.write(data);
    this.counters.writes++;
  }

  async run(context: SourceContext): Promise<void> {
    const binding = this.options.binding ?? (await systemBinding());
    const { path } = this.options;
    let delay = this.retryMinMs;
    // A fresh limiter per outage: the first "not found" after a good session is always logged.
    let openLog = new RateLimitedLog(PROBLEM_LOG_INTERVAL_MS);
    while (!context.signal.aborted) {
      let link: SerialLink;
      try {
        link = await binding.open(this.openOptions());
      } catch (err) {
        if (context.signal.aborted) return;
        this.counters.openFailures++;
        const retryInMs = this.jitter(delay);
        const problem = openProblem(err);
        openLog.maybe(problem.kind, (suppressed) => {
          if (problem.kind === 'absent') context.logger.warn('serial port not found, retrying', { path, retryInMs, suppressed });
          else context.logger.warn('serial port could not be opened, retrying', { path, err, hint: problem.hint, retryInMs, suppressed });
        });
        if (!(await sleep(retryInMs, context.signal))) return;
        delay = Math.min(this.retryMaxMs, delay * 2);
        continue;
      }
      if (context.signal.aborted) {
        await link.close().catch(() => undefined);
        return;
      }
      this.counters.opens++;
      delay = this.retryMinMs;
      openLog = new RateLimitedLog(PROBLEM_LOG_INTERVAL_MS);
      context.logger.info('serial port opened', { path, baudRate: this.options.baudRate, poll: this.command !== undefined });
      const reason = await this.session(link, context);
      if (context.signal.aborted) return;
      this.counters.disconnects++;
      const retryInMs = this.jitter(delay);
      context.logger.warn('serial port closed/unplugged, reopening', { path, err: reason ?? 'closed', retryInMs });
      if (!(await sleep(retryInMs, context.signal))) return;
    }
  }

  private openOptions(): Parameters<SerialBinding['open']>[0] {
    const { path, baudRate, dataBits, parity, stopBits, rtscts } = this.options;
    return { path, baudRate, dataBits, parity, stopBits, rtscts };
  }

  private jitter(ms: number): number {
    return Math.round(ms * (0.5 + this.random() / 2));
  }

  /**
   * One open port, until it fails or the source stops. Resolves with why the port went away
   * (undefined when we closed it); rejects only when emit does (the supervisor restarts us).
   */
  private async session(link: SerialLink, context: SourceContext): Promise<unknown> {
    const framer = new LineFramer({ maxLineLength: this.options.maxLineLength });
    const ended = new AbortController();
    const stop = (): void => ended.abort();
    context.signal.addEventListener('abort', stop, { once: true });
    // Closing cancels a pending read (and write): that is how both loops learn the session is over.
    const closed = new Promise<void>((resolve) => {
      ended.signal.addEventListener('abort', () => void link.close().then(resolve, () => resolve()), { once: true });
    });
    this.link = link;
    ended.signal.addEventListener(
      'abort',
      () => {
        this.link = undefined;
      },
      { once: true },
    );
    // The path check closes the port the same way, so a read that never rejects still ends.
    let pathLost: Error | undefined;
    const stopWatch =
      this.deviceCheckMs > 0
        ? watchDevicePath(this.options.path, this.deviceCheckMs, (reason) => {
            pathLost = reason;
            stop();
          })
        : () => undefined;
    const loops = [this.readLoop(link, framer, context, ended.signal)];
    if (this.command !== undefined) loops.push(this.pollLoop(link, this.command, framer, context, ended.signal));
    const results = await Promise.allSettled(loops.map((loop) => loop.finally(stop)));
    stopWatch();
    context.signal.removeEventListener('abort', stop);
    this.pending = undefined;
    await closed;
    for (const result of results) if (result.status === 'rejected') throw result.reason;
    const failed = results.map((result) => (result.status === 'fulfilled' ? result.value : undefined)).find((reason) => reason !== undefined);
    return failed ?? pathLost;
  }

  private async readLoop(link: SerialLink, framer: LineFramer, context: SourceContext, ended: AbortSignal): Promise<unknown> {
    const buffer = Buffer.alloc(READ_CHUNK_BYTES);
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await link.read(buffer, 0, buffer.length));
      } catch (err) {
        return ended.aborted ? undefined : err;
      }
      const ts = Date.now();
      this.counters.bytesRead += bytesRead;
      const readings: Reading[] = [];
      for (const event of framer.push(buffer.subarray(0, bytesRead))) {
        const reading = this.onFramed(event, ts, context);
        if (reading !== undefined) readings.push(reading);
      }
      if (readings.length === 0) continue;
      this.counters.readings += readings.length;
      await context.emit(readings.length === 1 ? (readings[0] as Reading) : readings);
    }
  }

  /** Request/response: one command at a time, each waiting for its reply line or its timeout. */
  private async pollLoop(link: SerialLink, command: Buffer, framer: LineFramer, context: SourceContext, ended: AbortSignal): Promise<unknown> {
    const poll = this.options.poll;
    if (poll === undefined) return undefined;
    let next = Date.now();
    while (!ended.aborted) {
      try {
        await link.write(command);
      } catch (err) {
        return ended.aborted ? undefined : err;
      }
      this.counters.polls++;
      // Whatever is on the line before the command went out is not its reply. The write resolves
      // when the OS has the bytes, before they are even on the wire, so no reply can precede it.
      if (framer.restart() > 0) this.counters.partialLines++;
      const answered = await this.expectReply(poll.timeoutMs, ended);
      this.pending = undefined;
      if (ended.aborted) return undefined;
      if (!answered) {
        this.counters.pollTimeouts++;
        this.problemLog.maybe('poll-timeout', (suppressed) =>
          context.logger.warn('serial poll got no reply', { path: this.options.path, timeoutMs: poll.timeoutMs, timeouts: this.counters.pollTimeouts, suppressed }),
        );
      }
      // No burst to catch up after a slow reply: the next command goes one interval later at the earliest.
      next = Math.max(next + poll.everyMs, Date.now());
      if (!(await sleep(next - Date.now(), ended))) return undefined;
    }
    return undefined;
  }

  /** Resolves true when a line arrives (see onFramed), false after timeoutMs or when the session ends. */
  private expectReply(timeoutMs: number, ended: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const settle = (answered: boolean): void => {
        clearTimeout(timer);
        ended.removeEventListener('abort', onEnd);
        resolve(answered);
      };
      const onEnd = (): void => settle(false);
      const timer = setTimeout(() => settle(false), timeoutMs);
      ended.addEventListener('abort', onEnd, { once: true });
      this.pending = { answer: () => settle(true) };
    });
  }

  private onFramed(event: FramedEvent, ts: number, context: SourceContext): LineOutcome {
    switch (event.kind) {
      case 'partial':
        this.counters.partialLines++;
        return undefined;
      case 'oversize':
        this.counters.oversizeLines++;
        this.problemLog.maybe('oversize', (suppressed) =>
          context.logger.warn('serial line longer than maxLineLength discarded', {
            path: this.options.path,
            bytes: event.bytes,
            maxLineLength: this.options.maxLineLength,
            suppressed,
          }),
        );
        return undefined;
      case 'line':
        return this.onLine(event.bytes, ts, context);
    }
  }

  private onLine(bytes: Buffer, ts: number, context: SourceContext): LineOutcome {
    const decoded = decodeLine(bytes);
    if ('noise' in decoded) {
      if (decoded.noise === 'binary') this.counters.binaryLines++;
      else this.counters.invalidUtf8Lines++;
      this.problemLog.maybe(decoded.noise, (suppressed) =>
        context.logger.warn(decoded.noise === 'binary' ? 'serial line with binary noise discarded' : 'serial line with invalid UTF-8 discarded', {
          path: this.options.path,
          sampleHex: bytes.subarray(0, SAMPLE_BYTES).toString('hex'),
          bytes: bytes.length,
          suppressed,
        }),
      );
      return undefined;
    }
    if (this.command !== undefined) {
      const pending = this.pending;
      if (pending === undefined) {
        this.counters.unsolicitedLines++;
        this.problemLog.maybe('unsolicited', (suppressed) =>
          context.logger.debug('serial line without a poll command waiting for it discarded', { path: this.options.path, sample: sample(decoded.text), suppressed }),
        );
        return undefined;
      }
      this.pending = undefined;
      pending.answer();
    }
    const parsed = this.parse(decoded.text);
    if (parsed === null) {
      this.counters.ignoredLines++;
      return undefined;
    }
    const fields = parsed instanceof ParseError ? parsed : shapeFields(parsed, this.options.fields);
    if (fields instanceof ParseError) {
      this.counters.parseErrors++;
      this.problemLog.maybe('parse', (suppressed) =>
        context.logger.warn('serial line not parsed', {
          path: this.options.path,
          parser: this.options.parser.type,
          reason: fields.reason,
          sample: sample(decoded.text),
          parseErrors: this.counters.parseErrors,
          suppressed,
        }),
      );
      return undefined;
    }
    return { source: this.name, ts, fields };
  }
}

function sample(text: string): string {
  return text.length > SAMPLE_CHARS ? `${text.slice(0, SAMPLE_CHARS)}…` : text;
}

type OpenProblem = { kind: 'absent' } | { kind: 'failed'; hint: string | undefined };

/** node-serialport's open errors carry only a message (strerror text), sometimes a code. */
function openProblem(err: unknown): OpenProblem {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ENOENT' || /No such file or directory/i.test(message)) return { kind: 'absent' };
  if (code === 'EACCES' || /Permission denied/i.test(message)) {
    return { kind: 'failed', hint: 'the user running sensorgate needs read/write access: add it to the dialout group' };
  }
  if (code === 'EBUSY' || /busy|temporarily unavailable/i.test(message)) return { kind: 'failed', hint: 'another program has the port open' };
  return { kind: 'failed', hint: undefined };
}
