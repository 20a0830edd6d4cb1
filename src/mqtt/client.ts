/**
 * The MQTT client: one dial loop that connects, hands the connection to the session,
 * watches it with keepalive and, when it dies, waits a jittered backoff and dials again.
 */
import type { Socket } from 'node:net';
import type { IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet';
import type { Logger } from '../observe/logger.js';
import type { TransportOptions } from '../transport/socket.js';
import { Backoff } from './backoff.js';
import { describeRefusal } from './connack.js';
import { MqttConnection, ProtocolViolation } from './connection.js';
import type { CloseCause } from './connection.js';
import { KeepaliveMonitor } from './keepalive.js';
import { PublishRateLimiter } from './publish-rate.js';
import type { IncomingMessage, Subscription } from './session.js';
import { Session, SUBACK_FAILURE } from './session.js';
import type { DrainOrder, OutgoingMessage, SessionStore } from './store.js';

export interface StatusMessages {
  topic: string;
  online: string;
  offline: string;
}

export interface ClientOptions {
  transport: TransportOptions;
  clientId: string;
  username?: string;
  password?: string;
  keepaliveMs: number;
  pingTimeoutMs: number;
  inflight: number;
  /** Order in which the backlog enters the window (default oldest-first). */
  drain?: DrainOrder;
  /** PUBLISH packets per second at most; 0 or absent = unlimited. */
  maxPublishRate?: number;
  connectTimeoutMs: number;
  reconnect: { minDelayMs: number; maxDelayMs: number };
  maxIncomingPacketBytes: number;
  status: StatusMessages;
  onMessage?: (message: IncomingMessage) => void;
  /**
   * Subscribed after every CONNACK, whether or not the broker kept our session: a kept session
   * has the subscriptions of the last run's config, which may have changed since, and a
   * SUBSCRIBE for a filter the session already has just replaces it.
   */
  subscriptions?: readonly Subscription[];
  /** Called after each CONNACK once delivery has resumed, so publishControl works (discovery configs). */
  onConnect?: (info: { sessionPresent: boolean }) => void;
}

export interface ClientDeps {
  openTransport: (options: TransportOptions) => Promise<Socket>;
  logger: Logger;
  random?: () => number;
  now?: () => number;
}

interface ConnectionEnd {
  reason: string;
  cause: CloseCause;
}

/** A connection that stayed up this long resets the backoff. */
export const STABLE_CONNECTION_MS = 30_000;
/** Drops this soon after CONNACK, several in a row, look like a client id clash. */
const QUICK_DROP_MS = 5_000;
const QUICK_DROPS_BEFORE_WARNING = 3;
/**
 * Packets held between CONNACK and the session resuming (a disk read). A kept session's queued
 * messages follow CONNACK at once, often in the same read; the broker's window bounds them.
 */
const MAX_EARLY_PACKETS = 256;

export interface ClientCounters {
  connects: number;
  reconnects: number;
  refusals: number;
  protocolErrors: number;
}

export class MqttClient {
  private readonly session: Session;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private connection: MqttConnection | null = null;
  private connected = false;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wakeSleep: (() => void) | null = null;
  private quickDrops = 0;
  private connectedAt: number | null = null;
  readonly counters: ClientCounters = { connects: 0, reconnects: 0, refusals: 0, protocolErrors: 0 };

  constructor(
    private readonly options: ClientOptions,
    store: SessionStore,
    private readonly deps: ClientDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.backoff = new Backoff(options.reconnect.minDelayMs, options.reconnect.maxDelayMs, deps.random);
    this.session = new Session(store, {
      inflight: options.inflight,
      drain: options.drain,
      ...(options.maxPublishRate !== undefined && options.maxPublishRate > 0 && { publishRate: new PublishRateLimiter(options.maxPublishRate) }),
      logger: deps.logger,
      onMessage: options.onMessage,
      onResync: () => this.resync(),
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  get inflight(): number {
    return this.session.inflight;
  }

  get sessionCounters(): Session['counters'] {
    return this.session.counters;
  }

  /** Epoch ms of the CONNACK of the current connection; null while disconnected. */
  get connectedSince(): number | null {
    return this.connected ? this.connectedAt : null;
  }

  /** Epoch ms when the broker last took a stored message; null before the first (this run). */
  get lastDeliveryAt(): number | null {
    return this.session.lastDeliveryAt;
  }

  /**
   * A message that is not stored (discovery configs, command results): sent ahead of stored
   * messages within the inflight limit, at QoS 1 or 2. Resolves true once acknowledged, false
   * when the connection goes first or there is none; it is never resent.
   */
  publishControl(message: OutgoingMessage): Promise<boolean> {
    if (!this.connected || this.stopping) return Promise.resolve(false);
    return this.session.publishControl(message);
  }

  start(): void {
    if (this.loop !== null) return;
    this.loop = this.dialLoop();
  }

  /**
   * Clean stop: say `offline` ourselves (a DISCONNECT suppresses the will), wait up to
   * `waitMs` for its ack, then disconnect. Unacked messages stay in the store.
   */
  async stop(waitMs: number): Promise<void> {
    this.stopping = true;
    this.session.pause();
    const connection = this.connection;
    if (connection !== null && this.connected) {
      const { topic, offline } = this.options.status;
      const acked = await withTimeout(
        this.session.publishControl({ topic, payload: Buffer.from(offline), qos: 1, retain: true }),
        waitMs,
        false,
      );
      if (!acked) this.deps.logger.warn('offline status not acknowledged before shutdown; the broker will publish the will', { waitMs });
      connection.disconnect();
    } else {
      connection?.close('agent stopping');
    }
    this.wakeSleep?.();
    await this.loop;
    this.session.close();
  }

  /** The store is writable again after failed writes: a new connection replays from disk. */
  private resync(): void {
    const connection = this.connection;
    if (connection === null || !this.connected || this.stopping) return;
    this.deps.logger.info('store writable again: reconnecting to resend what could not be settled meanwhile');
    // DISCONNECT, not a drop: the broker keeps our session and does not publish the will.
    connection.disconnect();
  }

  private async dialLoop(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      if (attempt++ > 0) this.counters.reconnects++;
      const delay = await this.connectOnce();
      if (this.stopping) break;
      this.deps.logger.info('reconnecting', { inMs: delay });
      await this.sleep(delay);
    }
  }

  /** One connection's life. Returns how long to wait before the next dial. */
  private async connectOnce(): Promise<number> {
    const { logger } = this.deps;
    const target = `${this.options.transport.host}:${this.options.transport.port}`;
    let socket: Socket;
    try {
      socket = await this.deps.openTransport(this.options.transport);
    } catch (err) {
      logger.warn('cannot reach broker', { broker: target, err });
      return this.backoff.next();
    }
    if (this.stopping) {
      socket.destroy();
      return 0;
    }

    let connackResolve: (packet: IConnackPacket | null) => void = () => undefined;
    const connack = new Promise<IConnackPacket | null>((resolve) => (connackResolve = resolve));
    let closeResolve: (end: ConnectionEnd) => void = () => undefined;
    const closed = new Promise<ConnectionEnd>((resolve) => (closeResolve = resolve));
    let accepted = false;
    // Packets after CONNACK until the session is attached; null once they went to the session.
    let early: Packet[] | null = [];

    const keepalive = new KeepaliveMonitor(
      { keepaliveMs: this.options.keepaliveMs, pingTimeoutMs: this.options.pingTimeoutMs, now: this.now },
      {
        get lastSentAt() {
          return connection.lastSentAt;
        },
        get lastReceivedAt() {
          return connection.lastReceivedAt;
        },
        sendPing: (onFlushed) => {
          if (connection.isOpen) connection.send({ cmd: 'pingreq' }, onFlushed);
        },
        dead: (reason) => connection.close(`link dead: ${reason}`),
      },
    );

    const connection: MqttConnection = new MqttConnection(
      socket,
      this.options.maxIncomingPacketBytes,
      {
        onBytes: () => keepalive.received(),
        onPacket: (packet: Packet) => {
          if (!accepted) {
            if (packet.cmd !== 'connack') throw new ProtocolViolation(`${packet.cmd.toUpperCase()} before CONNACK`);
            accepted = true;
            connackResolve(packet);
            return;
          }
          if (early !== null) {
            if (early.length >= MAX_EARLY_PACKETS) throw new ProtocolViolation(`more than ${MAX_EARLY_PACKETS} packets before delivery resumed`);
            early.push(packet);
            return;
          }
          this.session.handle(packet);
        },
        onClose: (reason, cause) => {
          keepalive.stop();
          connackResolve(null);
          closeResolve({ reason, cause });
        },
      },
      this.now,
    );
    this.connection = connection;

    try {
      connection.send(this.connectPacket());
    } catch (err) {
      // Only a config the validator let through but the encoder rejects can get here.
      logger.error('cannot encode CONNECT packet; check mqtt.clientId, username and status topic', { err });
      connection.close('invalid CONNECT');
      return this.backoff.max();
    }
    const timer = setTimeout(() => connection.close(`no CONNACK within ${this.options.connectTimeoutMs} ms`), this.options.connectTimeoutMs);
    const ack = await connack;
    clearTimeout(timer);

    if (ack === null) {
      const end = await closed;
      if (end.cause === 'protocol') this.counters.protocolErrors++;
      logger.warn('connection lost before CONNACK', { broker: target, reason: end.reason });
      this.connection = null;
      return this.backoff.next();
    }
    if (ack.returnCode !== 0) {
      const refusal = describeRefusal(ack.returnCode ?? -1);
      this.counters.refusals++;
      logger.error(`broker refused connection: ${refusal.reason}`, { broker: target, returnCode: refusal.code, hint: refusal.hint });
      connection.close('connection refused');
      this.connection = null;
      return refusal.persistent ? this.backoff.max() : this.backoff.next();
    }

    this.connected = true;
    this.counters.connects++;
    const connectedAt = this.now();
    this.connectedAt = Date.now();
    // Closed in the same read as the CONNACK (bytes it should not have sent): no pings on a dead socket.
    if (connection.isOpen) keepalive.start();
    logger.info('connected to broker', { broker: target, sessionPresent: ack.sessionPresent });
    const { topic, online } = this.options.status;
    this.session
      .attach(connection, ack.sessionPresent, [{ topic, payload: Buffer.from(online), qos: 1, retain: true }])
      .then(() => {
        // attach returns early, without a link, when the connection died meanwhile.
        if (this.connection !== connection || !connection.isOpen) return;
        const held = early ?? [];
        early = null;
        try {
          for (const packet of held) this.session.handle(packet);
        } catch (err) {
          if (err instanceof ProtocolViolation) connection.close(`protocol violation: ${err.message}`, 'protocol');
          else connection.close(`packet handler failed: ${String(err)}`);
          return;
        }
        void this.subscribe(target);
        this.notifyConnect(ack.sessionPresent);
      })
      .catch((err: unknown) => {
        logger.error('cannot resume delivery from the store; reconnecting', { err });
        connection.close('store read failed');
      });

    const end = await closed;
    this.connected = false;
    this.connection = null;
    this.session.detach();
    const upFor = this.now() - connectedAt;
    if (end.cause === 'protocol') this.counters.protocolErrors++;
    if (!this.stopping) logger.warn('connection lost', { broker: target, reason: end.reason, upForMs: upFor });
    if (upFor >= STABLE_CONNECTION_MS) this.backoff.reset();
    this.noteQuickDrop(upFor, end.cause);
    return this.backoff.next();
  }

  private async subscribe(broker: string): Promise<void> {
    const subscriptions = this.options.subscriptions ?? [];
    if (subscriptions.length === 0) return;
    const granted = await this.session.subscribe(subscriptions);
    if (granted === null) return; // the connection went first; the next CONNACK subscribes again
    granted.forEach((code, i) => {
      const topic = subscriptions[i]?.topic;
      if (code === SUBACK_FAILURE) this.deps.logger.error('broker refused subscription; check the broker ACL for this client', { broker, topic });
      else this.deps.logger.debug('subscribed', { topic, qos: code });
    });
  }

  private notifyConnect(sessionPresent: boolean): void {
    try {
      this.options.onConnect?.({ sessionPresent });
    } catch (err) {
      this.deps.logger.error('connect handler failed', { err });
    }
  }

  private noteQuickDrop(upForMs: number, cause: CloseCause): void {
    // Only closes the broker made count (FIN or RST), not ones we made (dead link, bad bytes).
    if (this.stopping || upForMs >= QUICK_DROP_MS || cause !== 'peer') {
      this.quickDrops = 0;
      return;
    }
    this.quickDrops++;
    if (this.quickDrops >= QUICK_DROPS_BEFORE_WARNING) {
      this.deps.logger.warn(
        `the broker closed the connection shortly after accepting it ${this.quickDrops} times in a row: another client is probably using the same client id`,
        { clientId: this.options.clientId },
      );
    }
  }

  private connectPacket(): IConnectPacket {
    const { status } = this.options;
    return {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: this.options.clientId,
      keepalive: Math.min(65535, Math.ceil(this.options.keepaliveMs / 1000)),
      username: this.options.username,
      password: this.options.password === undefined ? undefined : Buffer.from(this.options.password),
      will: { topic: status.topic, payload: Buffer.from(status.offline), qos: 1, retain: true },
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = () => {
        this.wakeSleep = null;
        done();
      };
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

export type { OutgoingMessage };
