/**
 * One MQTT network connection: framing, parsing and writing packets over a socket.
 * Knows nothing about sessions or retries; it reports what arrived and why it closed.
 */
import type { Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import type { ExplainedError } from '../transport/socket.js';
import { FrameSizeGuard } from './frame-guard.js';

export interface ConnectionEvents {
  onPacket(packet: Packet): void;
  /** Any bytes at all: a busy slow link is alive even before a whole packet arrives. */
  onBytes(): void;
  onClose(reason: string, cause: CloseCause): void;
}

/** Who ended the connection: the broker's side, bytes it should not have sent, or us. */
export type CloseCause = 'peer' | 'protocol' | 'local';

const PROTOCOL_VERSION = 4; // MQTT 3.1.1

// No shared pre-encoded number buffers: every packet we write owns all of its bytes.
mqttPacket.writeToStream.cacheNumbers = false;

export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

export class MqttConnection {
  private closed = false;
  private readonly parser = mqttPacket.parser({ protocolVersion: PROTOCOL_VERSION });
  private readonly guard: FrameSizeGuard;
  lastSentAt: number;
  lastReceivedAt: number;

  constructor(
    private readonly socket: Socket,
    maxIncomingPacketBytes: number,
    private readonly events: ConnectionEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.guard = new FrameSizeGuard(maxIncomingPacketBytes);
    this.lastSentAt = this.lastReceivedAt = now();
    this.parser.on('packet', (packet: Packet) => {
      if (this.closed) return;
      try {
        this.events.onPacket(packet);
      } catch (err) {
        if (err instanceof ProtocolViolation) this.close(`protocol violation: ${err.message}`, 'protocol');
        else this.close(`packet handler failed: ${String(err)}`);
      }
    });
    this.parser.on('error', (err: Error) => this.close(`unparseable bytes from broker: ${err.message}`, 'protocol'));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // `hint`: the transport's plain-words reading of the error (a TLS alert from the broker), if any.
    socket.on('error', (err: ExplainedError) =>
      this.close(`socket error: ${err.code ?? err.message}${err.hint === undefined ? '' : ` (${err.hint})`}`, 'peer'),
    );
    socket.on('close', () => this.close('connection closed by peer', 'peer'));
    socket.on('end', () => this.close('connection closed by peer', 'peer'));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReceivedAt = this.now();
    this.events.onBytes();
    const tooBig = this.guard.inspect(chunk);
    if (tooBig !== null) {
      this.close(tooBig, 'protocol');
      return;
    }
    this.parser.parse(chunk);
  }

  /**
   * Encodes and writes one packet. An invalid packet throws here, before anything reaches
   * the socket (mqtt-packet's stream writer would destroy the stream instead).
   */
  send(packet: Packet, onFlushed?: () => void): void {
    if (this.closed) throw new Error('connection is closed');
    const bytes = mqttPacket.generate(packet, { protocolVersion: PROTOCOL_VERSION });
    this.lastSentAt = this.now();
    this.socket.write(bytes, onFlushed === undefined ? undefined : () => onFlushed());
  }

  batch(writes: () => void): void {
    this.socket.cork();
    try {
      writes();
    } finally {
      this.socket.uncork();
    }
  }

  /** Writes a DISCONNECT (best effort) and half-closes, so the broker discards the will. */
  disconnect(): void {
    if (this.closed) return;
    try {
      this.send({ cmd: 'disconnect' });
    } finally {
      this.socket.end();
      this.close('disconnected by us');
    }
  }

  close(reason: string, cause: CloseCause = 'local'): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.removeAllListeners('packet');
    // A blackholed peer never acknowledges a FIN; destroy rather than end.
    if (!this.socket.writableEnded) this.socket.destroy();
    else setTimeout(() => this.socket.destroy(), 1000).unref();
    this.events.onClose(reason, cause);
  }
}
