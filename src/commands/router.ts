/**
 * Remote commands: a message on `<commands.topic>/<name>` runs the handler `name` and its result
 * goes to `<commands.topic>/<name>/result` as JSON, `{"ok": true, ...}` or `{"ok": false, "error":
 * "..."}`, with the request's `id` echoed when it had one.
 *
 * Commands run one at a time, in arrival order, with a bounded queue: a flood of commands gets
 * "busy" answers, not memory growth. Retained messages are ignored: the broker hands a retained
 * command to every new subscription, so it would run again on every reconnect.
 *
 * Exactly once for QoS 2 is the session's part (incoming ids persisted until PUBREL); this
 * module runs whatever the session delivers.
 */
import type { IncomingMessage } from '../mqtt/session.js';
import type { OutgoingMessage } from '../mqtt/store.js';
import { RateLimitedLog } from '../observe/logger.js';
import type { Logger } from '../observe/logger.js';

/** A request the caller got wrong: its message goes back in the result as it is. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

export type CommandArgs = Readonly<Record<string, unknown>>;
/** Resolves with the result's fields (besides ok, command, id); throws CommandError for a bad request. */
export type CommandHandler = (args: CommandArgs) => Promise<Record<string, unknown>> | Record<string, unknown>;

export interface CommandRouterOptions {
  /** commands.topic, expanded. */
  topic: string;
  handlers: Readonly<Record<string, CommandHandler>>;
  /** Sends a result (a control publish: not stored, QoS 1). Resolves false when it could not be sent. */
  publish: (message: OutgoingMessage) => Promise<boolean>;
  logger: Logger;
}

export interface CommandCount {
  command: string;
  ok: number;
  failed: number;
}

/** Largest command payload read; commands are small JSON objects. */
export const MAX_COMMAND_PAYLOAD_BYTES = 4_096;
/** Commands taken (the running one and those waiting), at most; more are answered "busy". */
export const MAX_QUEUED_COMMANDS = 16;
const MAX_ID_LENGTH = 128;
/** Longer names are no command of ours; they are not answered (the result topic could grow past MQTT's limit). */
const MAX_NAME_LENGTH = 64;
const LOG_INTERVAL_MS = 60_000;
/** Label for command names that are not handlers: metrics must not take any name from outside. */
const OTHER = 'other';

interface Request {
  name: string;
  args: CommandArgs;
  id?: string | number;
}

export class CommandRouter {
  private readonly prefix: string;
  private readonly counts = new Map<string, CommandCount>();
  private readonly log = new RateLimitedLog(LOG_INTERVAL_MS);
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(private readonly options: CommandRouterOptions) {
    this.prefix = `${options.topic}/`;
    // Every series exists from the start, so rate() sees the first command.
    for (const command of [...Object.keys(options.handlers), OTHER]) this.counts.set(command, { command, ok: 0, failed: 0 });
  }

  /** The subscription that brings commands: one level, so our own `/result` messages do not come back. */
  get subscription(): string {
    return `${this.options.topic}/+`;
  }

  matches(topic: string): boolean {
    return topic.startsWith(this.prefix) && !topic.slice(this.prefix.length).includes('/');
  }

  stats(): CommandCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  /** Resolves once every command taken so far has run and its result was handed to publish. */
  idle(): Promise<void> {
    return this.chain;
  }

  handle(message: IncomingMessage): void {
    const name = message.topic.slice(this.prefix.length);
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
      this.log.maybe('bad-name', (suppressed) => this.options.logger.warn('command with an empty or over-long name ignored', { bytes: name.length, suppressed }));
      return;
    }
    if (message.retain) {
      this.log.maybe('retained', (suppressed) =>
        this.options.logger.warn('retained command ignored (it would run again on every reconnect); clear it by publishing an empty retained message', { topic: message.topic, suppressed }),
      );
      return;
    }
    if (this.queued >= MAX_QUEUED_COMMANDS) {
      void this.answer(name, undefined, { ok: false, error: `busy: ${MAX_QUEUED_COMMANDS} commands are waiting` });
      return;
    }
    this.queued++;
    this.chain = this.chain
      .then(() => this.run(name, message.payload))
      .catch((err: unknown) => this.options.logger.error('command failed unexpectedly', { command: name, err }))
      .finally(() => {
        this.queued--;
      });
  }

  private async run(name: string, payload: Buffer): Promise<void> {
    const request = parseRequest(name, payload);
    if (typeof request === 'string') return this.answer(name, undefined, { ok: false, error: request });
    const handler = Object.hasOwn(this.options.handlers, name) ? this.options.handlers[name] : undefined;
    if (handler === undefined) {
      const known = Object.keys(this.options.handlers).join(', ');
      return this.answer(name, request.id, { ok: false, error: `unknown command "${name}" (known: ${known})` });
    }
    let result: Record<string, unknown>;
    try {
      result = await handler(request.args);
    } catch (err) {
      if (!(err instanceof CommandError)) this.options.logger.warn('command failed', { command: name, err });
      return this.answer(name, request.id, { ok: false, error: err instanceof Error ? err.message : String(err) });
    }
    return this.answer(name, request.id, { ...result, ok: true });
  }

  private async answer(name: string, id: string | number | undefined, result: { ok: boolean; error?: string } & Record<string, unknown>): Promise<void> {
    this.count(name, result.ok);
    this.options.logger.info(result.ok ? 'command done' : 'command refused', { command: name, ...(result.error !== undefined && { error: result.error }) });
    const { ok, ...rest } = result;
    const body = { ok, command: name, ...(id !== undefined && { id }), ...rest };
    const sent = await this.options.publish({ topic: `${this.prefix}${name}/result`, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false });
    if (!sent) {
      this.log.maybe('result-lost', (suppressed) =>
        this.options.logger.warn('command result not delivered (the connection went); send the command again to get it', { command: name, suppressed }),
      );
    }
  }

  private count(name: string, ok: boolean): void {
    const label = Object.hasOwn(this.options.handlers, name) ? name : OTHER;
    const entry = this.counts.get(label) ?? { command: label, ok: 0, failed: 0 };
    if (ok) entry.ok++;
    else entry.failed++;
    this.counts.set(label, entry);
  }
}

/** An empty payload is no arguments; otherwise a JSON object. A string is what is wrong. */
export function parseRequest(name: string, payload: Buffer): Request | string {
  if (payload.length > MAX_COMMAND_PAYLOAD_BYTES) return `payload is ${payload.length} bytes; at most ${MAX_COMMAND_PAYLOAD_BYTES}`;
  if (payload.length === 0) return { name, args: {} };
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'payload must be a JSON object (or empty)';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'payload must be a JSON object (or empty)';
  const args = value as Record<string, unknown>;
  const id = args.id;
  if (id !== undefined && !((typeof id === 'string' && id.length <= MAX_ID_LENGTH) || (typeof id === 'number' && Number.isFinite(id)))) {
    return `id must be a string of at most ${MAX_ID_LENGTH} characters or a number`;
  }
  return { name, args, ...(id !== undefined && { id }) };
}
