/**
 * MQTT-aware bookkeeping for the fault proxy: what the client put on the wire and what it
 * still has unacknowledged. It only observes; forwarding never depends on it.
 *
 * Timing model: client→broker bytes are parsed when they reach the proxy, broker→client
 * bytes when the proxy hands them to the client. The inflight count is therefore exactly
 * what the client is allowed to believe is unacknowledged — latency on the ack path cannot
 * hide a client that overruns its window. Assumes MQTT 3.1.1 on the wire (v5 properties
 * would be misparsed and show up in parseErrors).
 */
import mqttPacket from 'mqtt-packet';
import type { IConnectPacket, Packet, QoS } from 'mqtt-packet';

export interface SeenPublish {
  connIndex: number;
  topic: string;
  qos: QoS;
  dup: boolean;
  retain: boolean;
  messageId: number | undefined;
  payload: Buffer;
  /** Date.now() when the proxy saw it. */
  at: number;
}

export interface SeenConnect {
  connIndex: number;
  packet: IConnectPacket;
  at: number;
}

export interface SeenConnack {
  connIndex: number;
  returnCode: number | undefined;
  sessionPresent: boolean;
  at: number;
}

export interface AccountingOptions {
  /** How many client PUBLISH packets to keep (oldest dropped); counts are never dropped. Default 10 000. */
  keepPublishes?: number;
  onClientPacket?: (packet: Packet, connIndex: number) => void;
  onBrokerPacket?: (packet: Packet, connIndex: number) => void;
}

export type Direction = 'client' | 'broker';

/** Totals across every connection through one proxy. */
export class MqttAccounting {
  connectCount = 0;
  readonly connects: SeenConnect[] = [];
  readonly connacks: SeenConnack[] = [];
  /** Client PUBLISH packets of any QoS, including resends. */
  clientPublishCount = 0;
  /** Client PUBLISH packets with DUP=1. */
  dupCount = 0;
  /** Client PUBREL packets (QoS 2 release phase, including resends). */
  pubrelCount = 0;
  /** Client DISCONNECT packets. */
  disconnectCount = 0;
  /** Largest number of QoS 1/2 ids outstanding at once on any single connection. */
  maxInflightObserved = 0;
  /** Bytes the accounting parser could not make sense of (forwarding is unaffected). */
  readonly parseErrors: Array<{ connIndex: number; direction: Direction; message: string }> = [];
  /** Errors thrown by onClientPacket/onBrokerPacket. */
  readonly callbackErrors: unknown[] = [];
  /** Packet counts by command, per direction (client = sent by the client). */
  readonly counts: Record<Direction, Partial<Record<Packet['cmd'], number>>> = { client: {}, broker: {} };
  private readonly publishes: SeenPublish[] = [];
  private readonly perConnection: ConnectionAccounting[] = [];

  constructor(private readonly opts: AccountingOptions = {}) {}

  /** The kept client PUBLISH packets (last `keepPublishes`), oldest first. */
  get clientPublishes(): readonly SeenPublish[] {
    return this.publishes;
  }

  /** Packet ids currently outstanding on connection `connIndex` (0-based, in accept order). */
  inflightOf(connIndex: number): number[] {
    return [...(this.perConnection[connIndex]?.inflight.keys() ?? [])];
  }

  /** Max outstanding ids observed on one connection. */
  maxInflightOf(connIndex: number): number {
    return this.perConnection[connIndex]?.maxInflight ?? 0;
  }

  /** Called by the proxy for each accepted connection, in order. */
  openConnection(connIndex: number): ConnectionAccounting {
    const conn = new ConnectionAccounting(connIndex, this);
    this.perConnection[connIndex] = conn;
    return conn;
  }

  /** @internal */
  record(direction: Direction, connIndex: number, packet: Packet, conn: ConnectionAccounting): void {
    const counts = this.counts[direction];
    counts[packet.cmd] = (counts[packet.cmd] ?? 0) + 1;
    if (direction === 'client') this.recordClient(connIndex, packet, conn);
    else this.recordBroker(connIndex, packet, conn);
  }

  private recordClient(connIndex: number, packet: Packet, conn: ConnectionAccounting): void {
    const at = Date.now();
    switch (packet.cmd) {
      case 'connect':
        this.connectCount++;
        this.connects.push({ connIndex, packet, at });
        break;
      case 'publish': {
        this.clientPublishCount++;
        if (packet.dup) this.dupCount++;
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
        this.publishes.push({
          connIndex,
          topic: packet.topic,
          qos: packet.qos,
          dup: packet.dup,
          retain: packet.retain,
          messageId: packet.messageId,
          payload,
          at,
        });
        const keep = this.opts.keepPublishes ?? 10_000;
        if (this.publishes.length > keep) this.publishes.splice(0, this.publishes.length - keep);
        if (packet.qos !== 0 && packet.messageId !== undefined) this.addInflight(conn, packet.messageId, packet.qos);
        break;
      }
      case 'pubrel':
        this.pubrelCount++;
        // A PUBREL resent after reconnect puts the message back on this connection's wire.
        if (packet.messageId !== undefined) this.addInflight(conn, packet.messageId, 2);
        break;
      case 'disconnect':
        this.disconnectCount++;
        break;
      default:
        break;
    }
    this.opts.onClientPacket?.(packet, connIndex);
  }

  private recordBroker(connIndex: number, packet: Packet, conn: ConnectionAccounting): void {
    switch (packet.cmd) {
      case 'connack':
        this.connacks.push({ connIndex, returnCode: packet.returnCode, sessionPresent: packet.sessionPresent, at: Date.now() });
        break;
      case 'puback':
        if (packet.messageId !== undefined && conn.inflight.get(packet.messageId) === 1) {
          conn.inflight.delete(packet.messageId);
        }
        break;
      case 'pubcomp':
        if (packet.messageId !== undefined && conn.inflight.get(packet.messageId) === 2) {
          conn.inflight.delete(packet.messageId);
        }
        break;
      default:
        break;
    }
    this.opts.onBrokerPacket?.(packet, connIndex);
  }

  private addInflight(conn: ConnectionAccounting, id: number, qos: 1 | 2): void {
    conn.inflight.set(id, qos);
    conn.maxInflight = Math.max(conn.maxInflight, conn.inflight.size);
    this.maxInflightObserved = Math.max(this.maxInflightObserved, conn.inflight.size);
  }
}

/** Two independent parsers for one proxied connection. */
export class ConnectionAccounting {
  /** Outstanding packet id → QoS. */
  readonly inflight = new Map<number, 1 | 2>();
  maxInflight = 0;
  private readonly parsers: Record<Direction, ReturnType<typeof mqttPacket.parser> | undefined>;

  constructor(
    private readonly connIndex: number,
    private readonly totals: MqttAccounting,
  ) {
    this.parsers = { client: this.makeParser('client'), broker: this.makeParser('broker') };
  }

  /** Bytes the client sent (at arrival). */
  fromClient(chunk: Buffer): void {
    this.feed('client', chunk);
  }

  /** Bytes delivered to the client (at delivery). */
  toClient(chunk: Buffer): void {
    this.feed('broker', chunk);
  }

  private makeParser(direction: Direction): ReturnType<typeof mqttPacket.parser> {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      try {
        this.totals.record(direction, this.connIndex, packet, this);
      } catch (err) {
        // A throwing test callback must not take the proxy down; record it and keep parsing.
        this.totals.callbackErrors.push(err);
      }
    });
    parser.on('error', (err: unknown) => this.fail(direction, err instanceof Error ? err.message : String(err)));
    return parser;
  }

  private feed(direction: Direction, chunk: Buffer): void {
    const parser = this.parsers[direction];
    if (parser === undefined) return;
    try {
      parser.parse(chunk);
    } catch (err) {
      this.fail(direction, err instanceof Error ? err.message : String(err));
    }
  }

  private fail(direction: Direction, message: string): void {
    // After a framing error the parser's position in the stream is unknown; stop rather
    // than report garbage packets.
    const parser = this.parsers[direction];
    parser?.removeAllListeners();
    parser?.on('error', () => undefined);
    this.parsers[direction] = undefined;
    this.totals.parseErrors.push({ connIndex: this.connIndex, direction, message });
  }
}
