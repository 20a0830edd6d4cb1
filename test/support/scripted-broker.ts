/**
 * A fake MQTT 3.1.1 broker whose every reply is written by the test: CONNACK codes, held
 * acks, hostile bytes. It parses what the client sends and never answers on its own unless
 * the handler (e.g. `autoResponder`) does.
 */
import { createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { registerCleanup, type AfterHook } from './cleanup.js';
import { TimeoutError, waitUntil, withTimeout } from './wait.js';
import { listenOnLoopback } from './ports.js';

export interface ReceivedPacket {
  packet: Packet;
  /** Date.now() at parse time. */
  at: number;
}

export type ConnectionHandler = (conn: ScriptedConnection) => void | Promise<void>;

export interface ScriptedBrokerOptions {
  /** What to do with bytes that do not parse: 'close' (default, like a broker) or 'ignore'. */
  onParseError?: 'close' | 'ignore';
  t?: AfterHook;
}

export interface ScriptedBroker {
  readonly port: number;
  readonly url: string;
  /** Every accepted connection, in order. */
  readonly connections: readonly ScriptedConnection[];
  /** Errors thrown or rejected by the handler; a test should normally expect none. */
  readonly handlerErrors: readonly unknown[];
  /** Resolves with connection number n (1-based) once it has been accepted. */
  waitForConnection(n: number, timeoutMs: number): Promise<ScriptedConnection>;
  close(): Promise<void>;
}

export class ScriptedConnection {
  /** Every packet parsed from the client, in order. */
  readonly packets: ReceivedPacket[] = [];
  readonly parseErrors: Error[] = [];
  closedAt: number | undefined;
  private readonly wakers = new Set<() => void>();
  private readonly listeners = new Set<(packet: Packet) => void>();
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });

  constructor(
    /** 0-based accept order. */
    readonly index: number,
    readonly socket: Socket,
    /** Date.now() at accept: reconnect-backoff tests diff these. */
    readonly acceptedAt: number,
    onParseError: 'close' | 'ignore',
  ) {
    this.parser.on('packet', (packet: Packet) => {
      this.packets.push({ packet, at: Date.now() });
      for (const listener of [...this.listeners]) listener(packet);
      this.wake();
    });
    this.parser.on('error', (err: unknown) => {
      this.parseErrors.push(err instanceof Error ? err : new Error(String(err)));
      if (onParseError === 'close') socket.destroy();
      this.wake();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.parse(chunk);
      } catch (err) {
        this.parseErrors.push(err instanceof Error ? err : new Error(String(err)));
        if (onParseError === 'close') socket.destroy();
      }
    });
    // The client resetting us is a legitimate test outcome, not a crash.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.wake();
    });
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Calls `listener` for each packet parsed from now on; returns an unsubscribe function. */
  onPacket(listener: (packet: Packet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(packet: Packet): void {
    this.sendRaw(mqttPacket.generate(packet, { protocolVersion: 4 }));
  }

  sendRaw(bytes: Buffer | Uint8Array | readonly number[]): void {
    if (this.socket.destroyed) return;
    this.socket.write(Buffer.from(bytes as Uint8Array));
  }

  /** FIN, then wait for the socket to close (bounded). */
  async close(timeoutMs = 2000): Promise<void> {
    if (!this.socket.destroyed) this.socket.end();
    try {
      await this.waitForClose(timeoutMs);
    } catch {
      this.socket.destroy();
    }
  }

  /** RST, as a crashed broker host would. */
  destroy(): void {
    if (this.socket.destroyed) return;
    try {
      this.socket.resetAndDestroy();
    } catch {
      this.socket.destroy();
    }
  }

  async waitForClose(timeoutMs: number): Promise<void> {
    await waitUntil(() => this.closed, timeoutMs, `scripted connection #${this.index} to close`, {
      detail: () => this.describe(),
    });
  }

  /**
   * First received packet (already received ones included, from index `since`) matching
   * `predicate`. Rejects on timeout, or early if the connection closes without one.
   */
  async waitForPacket<P extends Packet = Packet>(
    predicate: (packet: Packet) => boolean,
    timeoutMs: number,
    opts: { since?: number; description?: string } = {},
  ): Promise<P> {
    const description = opts.description ?? 'matching packet';
    let from = opts.since ?? 0;
    const find = (): P | undefined => {
      for (; from < this.packets.length; from++) {
        const entry = this.packets[from];
        if (entry && predicate(entry.packet)) return entry.packet as P;
      }
      return undefined;
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = find();
      if (hit) return hit;
      if (this.closed) throw new Error(`connection #${this.index} closed before ${description}\n${this.describe()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${description}\n${this.describe()}`);
      await this.nextEvent(remaining);
    }
  }

  /** Packets from the first one on; ends when the connection closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Packet, void, undefined> {
    let i = 0;
    for (;;) {
      const entry = this.packets[i];
      if (entry) {
        i++;
        yield entry.packet;
        continue;
      }
      if (this.closed) return;
      await this.nextEvent(Infinity);
    }
  }

  describe(): string {
    const cmds = this.packets.map((p) => p.packet.cmd).join(' ');
    const errs = this.parseErrors.map((e) => e.message).join('; ');
    return `connection #${this.index}: ${this.packets.length} packet(s) [${cmds}]${errs ? `, parse errors: ${errs}` : ''}${this.closed ? ', closed' : ''}`;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  private nextEvent(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      if (Number.isFinite(timeoutMs)) timer = setTimeout(done, timeoutMs);
      this.wakers.add(done);
    });
  }
}

export async function startScriptedBroker(
  handler: ConnectionHandler = () => undefined,
  opts: ScriptedBrokerOptions = {},
): Promise<ScriptedBroker> {
  const broker = new FakeBroker(handler, opts);
  await broker.listen();
  registerCleanup(opts.t, () => broker.close());
  return broker;
}

class FakeBroker implements ScriptedBroker {
  readonly connections: ScriptedConnection[] = [];
  readonly handlerErrors: unknown[] = [];
  private readonly server: Server;
  private portValue = 0;

  constructor(
    private readonly handler: ConnectionHandler,
    private readonly opts: ScriptedBrokerOptions,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  get port(): number {
    return this.portValue;
  }
  get url(): string {
    return `mqtt://127.0.0.1:${this.portValue}`;
  }

  async listen(): Promise<void> {
    this.portValue = await listenOnLoopback(this.server);
  }

  waitForConnection(n: number, timeoutMs: number): Promise<ScriptedConnection> {
    return waitUntil(() => this.connections[n - 1], timeoutMs, `scripted broker connection #${n}`, {
      detail: () => `accepted so far: ${this.connections.length}`,
    });
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.socket.destroy();
    if (!this.server.listening) return;
    await withTimeout(
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      5000,
      'scripted broker to close',
    );
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const conn = new ScriptedConnection(
      this.connections.length,
      socket,
      Date.now(),
      this.opts.onParseError ?? 'close',
    );
    this.connections.push(conn);
    try {
      const result = this.handler(conn);
      if (result instanceof Promise) result.catch((err: unknown) => this.handlerErrors.push(err));
    } catch (err) {
      this.handlerErrors.push(err);
    }
  }
}

export interface AutoResponderOptions {
  /** CONNACK return code (0 accepted, 1..5 refused; refused connections are then closed). Default 0. */
  returnCode?: number | ((conn: ScriptedConnection) => number);
  sessionPresent?: boolean | ((conn: ScriptedConnection) => boolean);
  /** PUBACK QoS 1 publishes (default true). */
  puback?: boolean;
  /** Run the QoS 2 flow: PUBREC on PUBLISH, PUBCOMP on PUBREL (default true). */
  qos2?: boolean;
  /** Grant every SUBSCRIBE at the requested QoS (default true). */
  suback?: boolean;
  /** Answer PINGREQ (default true). */
  pingresp?: boolean;
}

/** A well-behaved broker to start from; tests override the parts they script. */
export function autoResponder(opts: AutoResponderOptions = {}): (conn: ScriptedConnection) => void {
  return (conn) => {
    conn.onPacket((packet) => {
      switch (packet.cmd) {
        case 'connect': {
          const returnCode = typeof opts.returnCode === 'function' ? opts.returnCode(conn) : (opts.returnCode ?? 0);
          const sessionPresent =
            typeof opts.sessionPresent === 'function' ? opts.sessionPresent(conn) : (opts.sessionPresent ?? false);
          conn.send({ cmd: 'connack', returnCode, sessionPresent: returnCode === 0 && sessionPresent });
          if (returnCode !== 0) void conn.close();
          break;
        }
        case 'publish':
          if (packet.qos === 1 && (opts.puback ?? true)) conn.send({ cmd: 'puback', messageId: packet.messageId });
          if (packet.qos === 2 && (opts.qos2 ?? true)) conn.send({ cmd: 'pubrec', messageId: packet.messageId });
          break;
        case 'pubrel':
          if (opts.qos2 ?? true) conn.send({ cmd: 'pubcomp', messageId: packet.messageId });
          break;
        case 'subscribe':
          if (opts.suback ?? true) {
            conn.send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map((s) => s.qos) });
          }
          break;
        case 'pingreq':
          if (opts.pingresp ?? true) conn.send({ cmd: 'pingresp' });
          break;
        case 'disconnect':
          void conn.close();
          break;
        default:
          break;
      }
    });
  };
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

/** Byte sequences no well-formed broker sends; each must be rejected without a crash. */
export const hostile = {
  /** A PUBLISH whose remaining length has 5 continuation bytes (max is 4). */
  badRemainingLength: (): Buffer => Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]),
  /** Fixed header claiming `length` bytes (default 256 MiB − 1, the protocol max) that never follow. */
  hugeRemainingLength: (length = 268_435_455): Buffer => {
    const bytes = [0x30];
    let x = length;
    do {
      let b = x % 128;
      x = Math.floor(x / 128);
      if (x > 0) b |= 0x80;
      bytes.push(b);
    } while (x > 0);
    return Buffer.from(bytes);
  },
  /** Packet type 0 (reserved). */
  reservedType0: (): Buffer => Buffer.from([0x00, 0x00]),
  /** Packet type 15 (reserved in 3.1.1; AUTH in v5). */
  reservedType15: (): Buffer => Buffer.from([0xf0, 0x00]),
  /** QoS 0 PUBLISH whose topic is not valid UTF-8 (0xC3 0x28). */
  publishInvalidUtf8Topic: (payload: Buffer = Buffer.from('x')): Buffer => {
    const topic = [0x74, 0xc3, 0x28];
    const remaining = 2 + topic.length + payload.length;
    return Buffer.concat([Buffer.from([0x30, remaining, ...u16(topic.length), ...topic]), payload]);
  },
  /** PUBLISH with both QoS bits set (QoS 3). */
  publishQos3: (): Buffer => Buffer.from([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01]),
  puback: (messageId: number): Buffer => Buffer.from([0x40, 0x02, ...u16(messageId)]),
  pubrec: (messageId: number): Buffer => Buffer.from([0x50, 0x02, ...u16(messageId)]),
  pubrel: (messageId: number): Buffer => Buffer.from([0x62, 0x02, ...u16(messageId)]),
  pubcomp: (messageId: number): Buffer => Buffer.from([0x70, 0x02, ...u16(messageId)]),
  connack: (returnCode: number, sessionPresent = false): Buffer =>
    Buffer.from([0x20, 0x02, sessionPresent ? 1 : 0, returnCode]),
};
