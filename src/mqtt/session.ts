/**
 * The MQTT session: which messages are in flight under which packet ids, what to resend
 * after a reconnect, and the QoS 1/2 handshakes. Messages come only from the store; a
 * message leaves the store only when the broker has acknowledged it (invariant 2).
 */
import type { IPublishPacket, ISubackPacket, Packet } from 'mqtt-packet';
import type { Logger } from '../observe/logger.js';
import { RateLimitedLog } from '../observe/logger.js';
import { ProtocolViolation } from './connection.js';
import { createDrainCursor } from './drain-cursor.js';
import type { DrainCursor } from './drain-cursor.js';
import { PacketIdAllocator } from './packet-ids.js';
import type { PublishRateLimiter } from './publish-rate.js';
import type { DrainOrder, FlightPhase, OutgoingMessage, QoS, SessionStore, StoredMessage } from './store.js';

/** Where the session writes packets: the live connection. */
export interface PacketLink {
  readonly isOpen: boolean;
  send(packet: Packet, onFlushed?: () => void): void;
  /** Runs `writes` as one socket write (fewer syscalls per window). */
  batch(writes: () => void): void;
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
}

export interface Subscription {
  /** Topic filter; wildcards allowed. */
  topic: string;
  qos: QoS;
}

/** SUBACK return code for a refused subscription. */
export const SUBACK_FAILURE = 0x80;

export interface SessionOptions {
  /** Maximum unacknowledged QoS 1/2 publishes on the wire. */
  inflight: number;
  /** Which stored messages enter the window first (default oldest-first). */
  drain?: DrainOrder;
  /** Paces every PUBLISH (`mqtt.maxPublishRate`); absent = unlimited. */
  publishRate?: PublishRateLimiter;
  logger: Logger;
  onMessage?: (message: IncomingMessage) => void;
  /**
   * Store writes failed on this connection and the store takes writes again: what is on
   * disk (unsettled acks, send state) is now ahead of what this connection did. The client
   * reconnects, and the replay from disk resends exactly what is still stored.
   */
  onResync?: () => void;
}

export interface SessionCounters {
  published: number;
  resent: number;
  acked: number;
  qos0Written: number;
  /** Stored messages that could not be encoded as a valid packet (logged and removed). */
  rejectedOutgoing: number;
  received: number;
}

interface WindowEntry {
  packetId: number;
  qos: 1 | 2;
  phase: FlightPhase;
  /** null for a control publish (the status message), which is not in the store. */
  seq: number | null;
  onDone?: (acked: boolean) => void;
}

interface ControlPublish {
  message: OutgoingMessage;
  onDone: (acked: boolean) => void;
}

interface PendingSubscribe {
  count: number;
  resolve: (granted: number[] | null) => void;
}

/** How far ahead of the window we read from disk: bounded, so memory is flat (invariant 6). */
const MIN_READ_AHEAD = 64;
/** A full disk fails a store write per ack: one log line per kind per interval. */
const STORE_ERROR_LOG_MS = 10_000;

export class Session {
  private link: PacketLink | null = null;
  /** Bumped on every attach/detach so work started for an old connection drops its results. */
  private generation = 0;
  private sessionPresent = false;
  private readonly ids = new PacketIdAllocator();
  private readonly window = new Map<number, WindowEntry>();
  private readonly cursor: DrainCursor;
  private readonly settling = new Set<number>();
  private readonly controls: ControlPublish[] = [];
  private readonly subscribing = new Map<number, PendingSubscribe>();
  private lastDelivery: number | null = null;
  private pumping = false;
  private pumpAgain = false;
  private paused = false;
  private paceTimer: NodeJS.Timeout | undefined;
  private incomingChain: Promise<void> = Promise.resolve();
  /** A store write failed on this connection: see SessionOptions.onResync. */
  private storeFailed = false;
  private readonly storeErrors = new RateLimitedLog(STORE_ERROR_LOG_MS);
  private readonly unsubscribeAppend: () => void;
  private readonly unsubscribeWritable: () => void;
  readonly counters: SessionCounters = { published: 0, resent: 0, acked: 0, qos0Written: 0, rejectedOutgoing: 0, received: 0 };

  constructor(
    private readonly store: SessionStore,
    private readonly options: SessionOptions,
  ) {
    this.cursor = createDrainCursor(options.drain ?? 'oldest-first', {
      store,
      readAhead: Math.max(options.inflight, MIN_READ_AHEAD),
      admissible: (message) => this.admissible(message),
    });
    this.unsubscribeAppend = store.onAppend((appended) => {
      this.cursor.offer(appended);
      this.kick();
    });
    this.unsubscribeWritable = store.onWritable(() => this.onStoreWritable());
  }

  get inflight(): number {
    return this.window.size;
  }

  /** Packet ids taken: in flight, or held until a QoS 2 message's delete is durable. */
  get packetIdsInUse(): number {
    return this.ids.size;
  }

  /** Epoch ms when the broker last took a stored message (PUBACK, PUBCOMP, or a QoS 0 written); null before the first. */
  get lastDeliveryAt(): number | null {
    return this.lastDelivery;
  }

  /**
   * Starts delivering over a connection whose CONNACK was accepted. `first` control
   * publishes (the online status) go out before any stored message.
   */
  async attach(link: PacketLink, sessionPresent: boolean, first: readonly OutgoingMessage[] = []): Promise<void> {
    this.reset();
    const gen = this.generation;
    this.sessionPresent = sessionPresent;
    // Without a session the broker resends none of our incoming QoS 2 messages either; an id
    // kept from then would swallow the next message that happens to use it. Queued ahead of
    // any incoming packet of this connection (they are chained behind it).
    if (!sessionPresent) this.clearIncoming();
    // The link stays invisible to the pump until the replay window is known: an append
    // during the awaits below must not send anything ahead of the status or the replay.
    // The first read comes before any id is handed out, so restored ids are reserved first
    // (without a session they are dropped as the messages are read: see admissible).
    await this.cursor.begin();
    if (gen !== this.generation) return;
    if (!sessionPresent) {
      // The broker kept nothing: old packet ids mean nothing and every unacked message goes again as new.
      await this.store.clearFlight();
      if (gen !== this.generation) return;
    }
    this.link = link;
    for (const message of first) void this.publishControl(message);
    this.kick();
  }

  /** The connection is gone: in-memory flight state is rebuilt from the store on the next attach. */
  detach(): void {
    this.reset();
  }

  /** Stop taking stored messages into the window (shutdown); control publishes still go. */
  pause(): void {
    this.paused = true;
  }

  close(): void {
    this.reset();
    this.unsubscribeAppend();
    this.unsubscribeWritable();
  }

  /** Resolves true once the broker acknowledged it, false if the connection went first. */
  publishControl(message: OutgoingMessage): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      this.controls.push({ message, onDone: resolve });
      this.kick();
    });
  }

  /**
   * Sends one SUBSCRIBE for `subscriptions` (under a packet id no publish is using) and resolves
   * with the broker's return code for each (0-2: granted QoS, 0x80: refused), or null when the
   * connection went first. Not counted in the inflight window: it is not a PUBLISH.
   */
  subscribe(subscriptions: readonly Subscription[]): Promise<number[] | null> {
    const link = this.link;
    if (link === null || !link.isOpen || subscriptions.length === 0) return Promise.resolve(null);
    const packetId = this.ids.allocate();
    if (packetId === null) return Promise.resolve(null);
    return new Promise<number[] | null>((resolve) => {
      this.subscribing.set(packetId, { count: subscriptions.length, resolve });
      try {
        link.send({ cmd: 'subscribe', messageId: packetId, subscriptions: subscriptions.map(({ topic, qos }) => ({ topic, qos })) });
      } catch (err) {
        this.subscribing.delete(packetId);
        this.ids.release(packetId);
        this.options.logger.error('cannot encode SUBSCRIBE', { err });
        resolve(null);
      }
    });
  }

  /** Everything that arrives after CONNACK. Throws ProtocolViolation for what the broker must not send. */
  handle(packet: Packet): void {
    switch (packet.cmd) {
      case 'puback':
        return this.onPuback(this.requireId(packet.messageId, 'PUBACK'));
      case 'pubrec':
        return this.onPubrec(this.requireId(packet.messageId, 'PUBREC'));
      case 'pubcomp':
        return this.onPubcomp(this.requireId(packet.messageId, 'PUBCOMP'));
      case 'publish':
        return this.onIncomingPublish(packet);
      case 'pubrel':
        return this.onIncomingPubrel(this.requireId(packet.messageId, 'PUBREL'));
      case 'suback':
        return this.onSuback(packet);
      case 'pingresp':
        return;
      default:
        throw new ProtocolViolation(`unexpected ${packet.cmd.toUpperCase()} from broker`);
    }
  }

  private reset(): void {
    this.generation++;
    this.link = null;
    for (const entry of this.window.values()) entry.onDone?.(false);
    for (const control of this.controls.splice(0)) control.onDone(false);
    for (const pending of this.subscribing.values()) pending.resolve(null);
    this.subscribing.clear();
    this.window.clear();
    this.ids.clear();
    this.cursor.reset();
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    this.paused = false;
    this.storeFailed = false;
  }

  /** Logs a failed store write (rate limited per kind) and remembers to resync once it works again. */
  private storeWriteFailed(kind: string, message: string, fields: Record<string, unknown>): void {
    this.storeFailed = true;
    this.storeErrors.maybe(kind, (suppressed) => this.options.logger.error(message, { ...fields, suppressed }));
  }

  private onStoreWritable(): void {
    if (!this.storeFailed || this.link === null) return;
    this.storeFailed = false;
    this.options.onResync?.();
  }

  private requireId(id: number | undefined, what: string): number {
    if (id === undefined || id < 1 || id > 65535) throw new ProtocolViolation(`${what} without a valid packet id`);
    return id;
  }

  private kick(): void {
    if (this.link === null) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.pump()
      .catch((err: unknown) => this.storeWriteFailed('pump', 'delivery stalled: store read/write failed; will retry on reconnect', { err }))
      .finally(() => {
        this.pumping = false;
      });
  }

  private async pump(): Promise<void> {
    do {
      this.pumpAgain = false;
      await this.fillWindow();
    } while (this.pumpAgain && this.link !== null);
  }

  /** Called for every message read from disk, before it can enter the window. */
  private admissible(message: StoredMessage): boolean {
    if (this.settling.has(message.seq)) return false; // acked; its delete is still in the commit queue
    if (message.flight !== undefined && !(this.sessionPresent && this.ids.reserve(message.flight.packetId))) {
      // Without the broker's session (or with a clashing id) the old id means nothing.
      message.flight = undefined;
    }
    return true;
  }

  private hasSlot(): boolean {
    return this.window.size < this.options.inflight;
  }

  private async fillWindow(): Promise<void> {
    const gen = this.generation;
    const link = this.link;
    while (link !== null && link.isOpen && gen === this.generation) {
      let budget = this.publishBudget();
      budget -= this.sendControls(link, budget);
      if (this.paused) return;
      if (this.cursor.peek() === undefined) {
        if (!(await this.cursor.refill())) return;
        continue;
      }
      const group: Array<{ message: StoredMessage; entry: WindowEntry | null }> = [];
      const flights: Array<{ seq: number; packetId: number; phase: FlightPhase }> = [];
      let newQos2 = false;
      let publishes = 0;
      for (let message = this.cursor.peek(); message !== undefined; message = this.cursor.peek()) {
        if (message.qos !== 0 && !this.hasSlot()) break;
        // A restored release is resent as PUBREL, which the rate limit does not count.
        const publish = message.flight?.phase === 'released' ? 0 : 1;
        if (publishes + publish > budget) {
          this.resumeWhenPaced();
          break;
        }
        publishes += publish;
        if (message.qos === 0) {
          group.push({ message, entry: null });
          this.cursor.shift();
          continue;
        }
        const entry = this.admit(message);
        if (entry === null) break; // all 65535 ids busy (only with a huge inflight setting)
        this.cursor.shift();
        if (message.flight === undefined) {
          flights.push({ seq: message.seq, packetId: entry.packetId, phase: entry.phase });
          newQos2 ||= message.qos === 2;
        }
        group.push({ message, entry });
      }
      if (group.length === 0) return;
      if (flights.length > 0) {
        const recorded = this.store.recordFlight(flights);
        if (newQos2) {
          // QoS 2 ids must be durable before the packets leave: resent after a crash under
          // another id, the broker would deliver the message twice.
          await recorded;
          if (gen !== this.generation || !link.isOpen) return;
        } else {
          // QoS 1 may be delivered twice anyway; the record rides the next group commit
          // instead of costing a disk round trip per window refill.
          recorded.catch((err: unknown) =>
            this.storeWriteFailed('record', 'could not record packet ids; a crash now may resend without DUP', { err }),
          );
        }
      }
      link.batch(() => {
        for (const item of group) this.write(link, item.message, item.entry);
      });
      // Counted when written, not when the budget was taken: the QoS 2 await above may lie between.
      this.options.publishRate?.record(publishes);
    }
  }

  /** PUBLISH packets the rate limit allows right now. */
  private publishBudget(): number {
    return this.options.publishRate?.available() ?? Infinity;
  }

  /** The rate limit stopped the pump with work left: kick it again once a send is allowed. */
  private resumeWhenPaced(): void {
    const rate = this.options.publishRate;
    if (rate === undefined || this.paceTimer !== undefined) return;
    this.paceTimer = setTimeout(() => {
      this.paceTimer = undefined;
      this.kick();
    }, rate.waitMs());
  }

  private admit(message: StoredMessage): WindowEntry | null {
    const restored = message.flight;
    const packetId = restored?.packetId ?? this.ids.allocate();
    if (packetId === null) return null;
    const entry: WindowEntry = { packetId, qos: message.qos as 1 | 2, phase: restored?.phase ?? 'published', seq: message.seq };
    this.window.set(packetId, entry);
    return entry;
  }

  /** Sends queued control publishes, at most `budget`; returns how many went. */
  private sendControls(link: PacketLink, budget: number): number {
    let sent = 0;
    while (this.controls.length > 0 && this.hasSlot()) {
      if (sent >= budget) {
        this.resumeWhenPaced();
        break;
      }
      const control = this.controls.shift() as ControlPublish;
      const packetId = this.ids.allocate();
      if (packetId === null) {
        this.controls.unshift(control);
        break;
      }
      const { message } = control;
      const qos = message.qos === 0 ? 1 : message.qos;
      this.window.set(packetId, { packetId, qos, phase: 'published', seq: null, onDone: control.onDone });
      try {
        link.send({ cmd: 'publish', topic: message.topic, payload: message.payload, qos, retain: message.retain, dup: false, messageId: packetId });
      } catch (err) {
        // Not a valid packet (a caller's bug): its slot and id must not stay taken.
        this.forget(packetId);
        control.onDone(false);
        this.options.logger.error('control message cannot be sent as a valid MQTT packet; dropped', { topic: message.topic, err });
        continue;
      }
      sent++;
    }
    this.options.publishRate?.record(sent);
    return sent;
  }

  private write(link: PacketLink, message: StoredMessage, entry: WindowEntry | null): void {
    const resend = message.flight !== undefined;
    try {
      if (entry === null) {
        link.send({ cmd: 'publish', topic: message.topic, payload: message.payload, qos: 0, retain: message.retain, dup: false }, () => {
          this.lastDelivery = Date.now();
          this.settle(message.seq);
        });
        this.counters.qos0Written++;
        return;
      }
      if (entry.phase === 'released') {
        link.send({ cmd: 'pubrel', messageId: entry.packetId });
      } else {
        link.send({
          cmd: 'publish',
          topic: message.topic,
          payload: message.payload,
          qos: entry.qos,
          retain: message.retain,
          dup: resend,
          messageId: entry.packetId,
        });
      }
      if (resend) this.counters.resent++;
      else this.counters.published++;
    } catch (err) {
      // Only a stored message that cannot form a valid packet gets here; retrying would wedge the queue.
      this.counters.rejectedOutgoing++;
      this.options.logger.error('stored message cannot be sent as a valid MQTT packet; removing it', {
        seq: message.seq,
        topic: message.topic,
        err,
      });
      if (entry !== null) this.forget(entry.packetId);
      this.settle(message.seq);
    }
  }

  private forget(packetId: number): WindowEntry | undefined {
    const entry = this.window.get(packetId);
    this.window.delete(packetId);
    this.ids.release(packetId);
    return entry;
  }

  /** `heldId`: a packet id kept reserved until the delete is durable (QoS 2, see finish). */
  private settle(seq: number, heldId?: number): void {
    this.settling.add(seq);
    const gen = this.generation;
    this.store.settle([seq]).then(
      () => {
        this.settling.delete(seq);
        if (heldId !== undefined && gen === this.generation) this.ids.release(heldId);
      },
      (err: unknown) => {
        this.settling.delete(seq);
        this.storeWriteFailed('settle', 'could not delete an acknowledged message; it will be sent again', { seq, err });
      },
    );
  }

  private finish(packetId: number): void {
    const entry = this.window.get(packetId);
    if (entry === undefined) return;
    this.window.delete(packetId);
    if (entry.seq !== null && entry.qos === 2) {
      // Until the delete is on disk, the disk says "released under this id": if the id went
      // to another message now and the delete failed, the replay after a reconnect would send
      // PUBREL for it, and the broker would release the other message under it.
      this.counters.acked++;
      this.lastDelivery = Date.now();
      this.settle(entry.seq, packetId);
    } else {
      this.ids.release(packetId);
      if (entry.seq !== null) {
        this.counters.acked++;
        this.lastDelivery = Date.now();
        this.settle(entry.seq);
      }
    }
    entry.onDone?.(true);
    this.kick();
  }

  private onPuback(packetId: number): void {
    const entry = this.window.get(packetId);
    if (entry?.qos !== 1) throw new ProtocolViolation(`PUBACK for packet id ${packetId}, which has no QoS 1 publish in flight`);
    this.finish(packetId);
  }

  private onPubrec(packetId: number): void {
    const entry = this.window.get(packetId);
    if (entry?.qos !== 2) throw new ProtocolViolation(`PUBREC for packet id ${packetId}, which has no QoS 2 publish in flight`);
    const link = this.link;
    if (link === null) return;
    if (entry.phase === 'released' || entry.seq === null) {
      entry.phase = 'released';
      link.send({ cmd: 'pubrel', messageId: packetId });
      return;
    }
    entry.phase = 'released';
    const gen = this.generation;
    // Persist the release before PUBREL: after a crash we must resend PUBREL, not the PUBLISH.
    this.store.recordFlight([{ seq: entry.seq, packetId, phase: 'released' }]).then(
      () => {
        if (gen === this.generation && link.isOpen) link.send({ cmd: 'pubrel', messageId: packetId });
      },
      (err: unknown) => this.storeWriteFailed('pubrec', 'could not record PUBREC; PUBREL deferred to next connection', { packetId, err }),
    );
  }

  private onPubcomp(packetId: number): void {
    const entry = this.window.get(packetId);
    if (entry?.qos !== 2 || entry.phase !== 'released') {
      throw new ProtocolViolation(`PUBCOMP for packet id ${packetId}, which has no released QoS 2 publish`);
    }
    this.finish(packetId);
  }

  private onSuback(packet: ISubackPacket): void {
    const packetId = this.requireId(packet.messageId, 'SUBACK');
    const pending = this.subscribing.get(packetId);
    if (pending === undefined) throw new ProtocolViolation(`SUBACK for packet id ${packetId}, which has no SUBSCRIBE pending`);
    const granted = packet.granted.map((code) => (typeof code === 'number' ? code : SUBACK_FAILURE));
    if (granted.length !== pending.count) throw new ProtocolViolation(`SUBACK with ${granted.length} return codes for ${pending.count} subscriptions`);
    this.subscribing.delete(packetId);
    this.ids.release(packetId);
    pending.resolve(granted);
  }

  private clearIncoming(): void {
    this.incomingChain = this.incomingChain
      .then(() => this.store.incomingQos2.clear())
      .catch((err: unknown) => this.options.logger.error('could not clear incoming QoS 2 ids after the broker lost our session', { err }));
  }

  private onIncomingPublish(packet: IPublishPacket): void {
    const topic = packet.topic;
    // mqtt-packet decodes invalid UTF-8 into U+FFFD instead of failing; MQTT requires closing.
    if (typeof topic !== 'string' || topic.length === 0 || topic.includes('\uFFFD') || topic.includes('\u0000') || /[+#]/.test(topic)) {
      throw new ProtocolViolation('PUBLISH with an invalid topic name');
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const message: IncomingMessage = { topic, payload, qos: packet.qos, retain: packet.retain };
    const link = this.link;
    if (packet.qos === 0) return this.deliver(message);
    const packetId = this.requireId(packet.messageId, 'PUBLISH');
    if (packet.qos === 1) {
      this.deliver(message);
      link?.send({ cmd: 'puback', messageId: packetId });
      return;
    }
    const gen = this.generation;
    // QoS 2 receipts are persisted so a command runs once even across a restart.
    this.incomingChain = this.incomingChain.then(async () => {
      const seen = await this.store.incomingQos2.has(packetId);
      if (!seen) {
        await this.store.incomingQos2.add(packetId);
        this.deliver(message);
      }
      if (gen === this.generation && link?.isOpen === true) link.send({ cmd: 'pubrec', messageId: packetId });
    }).catch((err: unknown) => this.options.logger.error('could not record incoming QoS 2 message; broker will resend', { packetId, err }));
  }

  private onIncomingPubrel(packetId: number): void {
    const link = this.link;
    const gen = this.generation;
    // Unknown ids are answered too: we may have completed it before a crash and the broker resends.
    this.incomingChain = this.incomingChain.then(async () => {
      await this.store.incomingQos2.remove(packetId);
      if (gen === this.generation && link?.isOpen === true) link.send({ cmd: 'pubcomp', messageId: packetId });
    }).catch((err: unknown) => this.options.logger.error('could not clear incoming QoS 2 state', { packetId, err }));
  }

  private deliver(message: IncomingMessage): void {
    this.counters.received++;
    try {
      this.options.onMessage?.(message);
    } catch (err) {
      this.options.logger.error('incoming message handler failed', { topic: message.topic, err });
    }
  }
}
