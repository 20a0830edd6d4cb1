/**
 * Batched payloads: several JSON reading objects packed into one JSON array. Pure functions
 * plus the small accumulator they fill; the timers live in batcher.ts.
 *
 * Only JSON reading messages (`{"ts":..., ...fields}`) can be batched: an array of them is still
 * JSON a subscriber can parse. A plain-value message (the planned per-field mode) has no array
 * form, so it is never put in a batch.
 */
import type { Message, QoS } from '../outbox/outbox.js';

/** The limits of one batch (config publish.batch). */
export interface BatchLimits {
  maxReadings: number;
  maxDelayMs: number;
  /** Payload bytes of the packed array. */
  maxBytes: number;
}

/**
 * Messages that may share a batch: same topic, QoS and retain flag. Per-source topics and QoS
 * (planned) fall out of this key; the batcher also keeps each source's readings apart.
 */
export function batchKey(message: Pick<Message, 'topic' | 'qos' | 'retain'>): string {
  return `${message.qos}|${message.retain ? 'r' : '-'}|${message.topic}`;
}

/** Byte length of `[a,b,...]` for `count` items whose lengths sum to `itemBytes`. */
export function jsonArrayBytes(itemBytes: number, count: number): number {
  return 2 + itemBytes + Math.max(0, count - 1);
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/** `[a,b,...]` from JSON-encoded items (each already valid JSON). */
export function packJsonArray(items: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [OPEN];
  items.forEach((item, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(item);
  });
  parts.push(CLOSE);
  return Buffer.concat(parts, jsonArrayBytes(items.reduce((n, item) => n + item.length, 0), items.length));
}

/** The readings of one batch so far: all with one key, packed into one message when it closes. */
export class OpenBatch {
  readonly key: string;
  private readonly topic: string;
  private readonly qos: QoS;
  private readonly retain: boolean;
  private readonly items: Buffer[] = [];
  private itemBytes = 0;

  constructor(first: Message) {
    this.key = batchKey(first);
    this.topic = first.topic;
    this.qos = first.qos;
    this.retain = first.retain;
  }

  get count(): number {
    return this.items.length;
  }

  /** Payload bytes if it closed now. */
  get bytes(): number {
    return jsonArrayBytes(this.itemBytes, this.items.length);
  }

  /** Payload bytes with `payload` added. */
  bytesWith(payload: Buffer): number {
    return jsonArrayBytes(this.itemBytes + payload.length, this.items.length + 1);
  }

  add(payload: Buffer): void {
    this.items.push(payload);
    this.itemBytes += payload.length;
  }

  toMessage(): Message {
    return { topic: this.topic, payload: packJsonArray(this.items), qos: this.qos, retain: this.retain };
  }
}
