/**
 * Binary value formats. Every decoder treats its input as untrusted (a disk can return
 * anything) and throws CorruptValueError instead of returning a half-read value.
 *
 * Message v1: version(1) flags(1: bits 0-1 qos, bit 2 retain) enqueuedAt(6, uint48 BE ms)
 *             topicLength(2, uint16 BE) topic(UTF-8) payload(rest)
 * Flight v1:  version(1) packetId(2, uint16 BE) phase(1: 1 published, 2 released)
 */
import type { FlightState, OutgoingMessage, QoS } from '../mqtt/store.js';

const MESSAGE_V1 = 1;
const FLIGHT_V1 = 1;
const HEADER_BYTES = 10;
const RETAIN_BIT = 0b100;
const QOS_MASK = 0b011;
const MAX_TOPIC_BYTES = 0xffff;
const MAX_UINT48 = 2 ** 48 - 1;

export class CorruptValueError extends Error {
  override readonly name = 'CorruptValueError';
}

export interface DecodedMessage extends OutgoingMessage {
  enqueuedAt: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Throws TypeError/RangeError for a message no broker could accept; the caller's bug, not the disk's. */
export function encodeMessage(message: OutgoingMessage, enqueuedAt: number): Buffer {
  const { topic, payload, qos, retain } = message;
  if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('message topic must be a non-empty string');
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`message qos must be 0, 1 or 2 (got ${String(qos)})`);
  if (typeof retain !== 'boolean') throw new TypeError('message retain must be a boolean');
  if (!(payload instanceof Uint8Array)) throw new TypeError('message payload must be a Buffer');
  if (!Number.isSafeInteger(enqueuedAt) || enqueuedAt < 0 || enqueuedAt > MAX_UINT48) {
    throw new RangeError(`enqueuedAt out of range: ${enqueuedAt}`);
  }
  const topicBytes = Buffer.byteLength(topic, 'utf8');
  if (topicBytes > MAX_TOPIC_BYTES) throw new RangeError(`message topic is ${topicBytes} bytes; MQTT allows ${MAX_TOPIC_BYTES}`);

  const out = Buffer.allocUnsafe(HEADER_BYTES + topicBytes + payload.length);
  out[0] = MESSAGE_V1;
  out[1] = qos | (retain ? RETAIN_BIT : 0);
  out.writeUIntBE(enqueuedAt, 2, 6);
  out.writeUInt16BE(topicBytes, 8);
  out.write(topic, HEADER_BYTES, 'utf8');
  out.set(payload, HEADER_BYTES + topicBytes);
  return out;
}

function checkHeader(value: Uint8Array): Buffer {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
  if (buf.length < HEADER_BYTES) throw new CorruptValueError(`message value is ${buf.length} bytes, shorter than its header`);
  if (buf[0] !== MESSAGE_V1) throw new CorruptValueError(`unknown message format version ${String(buf[0])}`);
  const flags = buf[1] as number;
  if ((flags & ~(QOS_MASK | RETAIN_BIT)) !== 0 || (flags & QOS_MASK) === 3) {
    throw new CorruptValueError(`invalid message flags 0x${flags.toString(16)}`);
  }
  return buf;
}

/** The payload shares memory with `value`: a window of messages costs one copy, not two. */
/** The length encodeMessage gives `message`, without encoding it. */
export function encodedLength(message: OutgoingMessage): number {
  return HEADER_BYTES + Buffer.byteLength(message.topic, 'utf8') + message.payload.length;
}

export function decodeMessage(value: Uint8Array): DecodedMessage {
  const buf = checkHeader(value);
  const flags = buf[1] as number;
  const topicEnd = HEADER_BYTES + buf.readUInt16BE(8);
  if (topicEnd > buf.length) throw new CorruptValueError('message topic length runs past the value');
  let topic: string;
  try {
    topic = strictUtf8.decode(buf.subarray(HEADER_BYTES, topicEnd));
  } catch {
    throw new CorruptValueError('message topic is not valid UTF-8');
  }
  if (topic.length === 0) throw new CorruptValueError('message topic is empty');
  return {
    topic,
    payload: buf.subarray(topicEnd),
    qos: (flags & QOS_MASK) as QoS,
    retain: (flags & RETAIN_BIT) !== 0,
    enqueuedAt: buf.readUIntBE(2, 6),
  };
}

/** Cheap read of the enqueue time (for stats) without decoding the topic; null when corrupt. */
export function peekEnqueuedAt(value: Uint8Array): number | null {
  try {
    return checkHeader(value).readUIntBE(2, 6);
  } catch {
    return null;
  }
}

export function encodeFlight(state: FlightState): Buffer {
  const { packetId, phase } = state;
  if (!Number.isInteger(packetId) || packetId < 1 || packetId > 0xffff) throw new RangeError(`packet id out of range: ${packetId}`);
  const out = Buffer.allocUnsafe(4);
  out[0] = FLIGHT_V1;
  out.writeUInt16BE(packetId, 1);
  out[3] = phase === 'released' ? 2 : 1;
  return out;
}

export function decodeFlight(value: Uint8Array): FlightState {
  if (value.length !== 4 || value[0] !== FLIGHT_V1) throw new CorruptValueError('flight value has an unknown format');
  const packetId = ((value[1] as number) << 8) | (value[2] as number);
  const phaseByte = value[3];
  if (packetId === 0 || (phaseByte !== 1 && phaseByte !== 2)) throw new CorruptValueError('flight value is out of range');
  return { packetId, phase: phaseByte === 2 ? 'released' : 'published' };
}

/** Source state values are JSON so a number comes back as a number and a string as a string. */
export function encodeStateValue(value: string | number): Buffer {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`source state value must be finite (got ${value})`);
  if (typeof value !== 'number' && typeof value !== 'string') throw new TypeError('source state values must be strings or numbers');
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function decodeStateValue(value: Uint8Array): string | number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8'));
  } catch {
    throw new CorruptValueError('source state value is not JSON');
  }
  if (typeof parsed === 'string' || typeof parsed === 'number') return parsed;
  throw new CorruptValueError('source state value is neither a string nor a number');
}

export function encodeSeq(seq: number): Buffer {
  return Buffer.from(String(seq), 'utf8');
}

/** null when absent or unreadable: the caller falls back to the last message key. */
export function decodeSeq(value: Uint8Array | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8'));
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
