/**
 * The store seen from outside the agent (`sensorgate queue`): what is queued, the oldest
 * messages, and a purge for the operator who means it. LevelDB has no read-only mode: opening
 * takes the directory's LOCK, so this works only while no agent runs on the store, and says so
 * (OUTBOX_LOCKED) when one does. Opening never creates a store and never rewrites one: no
 * quarantine pass, no migration, nothing but what the operator asks for.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { decodeFlight, decodeMessage, decodeSeq, encodeSeq } from './codec.js';
import { OutboxOpenError, toOpenError } from './errors.js';
import { BAD, FLIGHT, INCOMING, MSG, NEXT_SEQ_KEY, flightKey, parseSeq, spaceRange } from './keys.js';
import type { BatchOp, Db } from './plan.js';

export interface QueueSummary {
  messages: number;
  /** Encoded message bytes, as the agent counts them for store.maxBytes. */
  bytes: number;
  /** Messages that entered the inflight window (have send state). */
  inFlight: number;
  oldest: { seq: number; enqueuedAt: number } | null;
  newest: { seq: number; enqueuedAt: number } | null;
  /** Message values this version cannot decode (the agent moves them aside at its next start). */
  undecodable: number;
  /** Messages already moved aside (`bad!<seq>`). */
  quarantined: number;
  /** Incoming QoS 2 ids awaiting PUBREL. */
  incomingQos2: number;
}

export interface PeekedMessage {
  seq: number;
  /** Absent for a value that does not decode. */
  topic?: string;
  qos?: number;
  retain?: boolean;
  enqueuedAt?: number;
  /** Encoded size. */
  size: number;
  payload?: Buffer;
  flight?: { packetId: number; phase: string };
  problem?: string;
}

export interface PurgeResult {
  /** Messages deleted. */
  deleted: number;
  /** Messages kept because they are in flight: their QoS 2 handshake may still be open at the broker. */
  keptInFlight: number;
}

export interface StoreInspection {
  summary(): Promise<QueueSummary>;
  /** The `n` oldest messages. */
  peek(n: number): Promise<PeekedMessage[]>;
  /**
   * Deletes every queued message that has no send state. Messages in flight stay: the broker
   * may hold a QoS 2 handshake for their packet ids, and a new message reusing such an id
   * would be taken for a duplicate and lost. They go out (or finish) at the next start.
   */
  purge(): Promise<PurgeResult>;
  close(): Promise<void>;
}

const CHUNK = 1_000;

async function countKeys(db: Db, prefix: string): Promise<number> {
  let n = 0;
  const iterator = db.keys(spaceRange(prefix));
  try {
    for (let chunk = await iterator.nextv(CHUNK); chunk.length > 0; chunk = await iterator.nextv(CHUNK)) n += chunk.length;
  } finally {
    await iterator.close();
  }
  return n;
}

async function flightSeqs(db: Db): Promise<Map<number, { packetId: number; phase: string } | null>> {
  const flights = new Map<number, { packetId: number; phase: string } | null>();
  for await (const [key, value] of db.iterator(spaceRange(FLIGHT))) {
    const seq = parseSeq(key, FLIGHT);
    if (seq === null) continue;
    try {
      flights.set(seq, decodeFlight(value));
    } catch {
      flights.set(seq, null);
    }
  }
  return flights;
}

class Inspection implements StoreInspection {
  constructor(private readonly db: Db) {}

  async summary(): Promise<QueueSummary> {
    const flights = await flightSeqs(this.db);
    const result: QueueSummary = { messages: 0, bytes: 0, inFlight: 0, oldest: null, newest: null, undecodable: 0, quarantined: 0, incomingQos2: 0 };
    const iterator = this.db.iterator(spaceRange(MSG));
    try {
      for (let chunk = await iterator.nextv(CHUNK); chunk.length > 0; chunk = await iterator.nextv(CHUNK)) {
        for (const [key, value] of chunk) {
          const seq = parseSeq(key, MSG);
          let enqueuedAt: number;
          try {
            if (seq === null) throw new Error('not a message key');
            enqueuedAt = decodeMessage(value).enqueuedAt;
          } catch {
            result.undecodable++;
            continue;
          }
          result.messages++;
          result.bytes += value.length;
          if (flights.has(seq)) result.inFlight++;
          result.oldest ??= { seq, enqueuedAt };
          result.newest = { seq, enqueuedAt };
        }
      }
    } finally {
      await iterator.close();
    }
    result.quarantined = await countKeys(this.db, BAD);
    result.incomingQos2 = await countKeys(this.db, INCOMING);
    return result;
  }

  async peek(n: number): Promise<PeekedMessage[]> {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`peek count must be a positive integer (got ${n})`);
    const out: PeekedMessage[] = [];
    for await (const [key, value] of this.db.iterator({ ...spaceRange(MSG), limit: n })) {
      const seq = parseSeq(key, MSG) ?? 0;
      const flightValue = await this.db.get(flightKey(seq));
      let flight: PeekedMessage['flight'];
      try {
        flight = flightValue === undefined ? undefined : decodeFlight(flightValue);
      } catch {
        flight = undefined;
      }
      try {
        const m = decodeMessage(value);
        out.push({ seq, topic: m.topic, qos: m.qos, retain: m.retain, enqueuedAt: m.enqueuedAt, size: value.length, payload: Buffer.from(m.payload), ...(flight !== undefined && { flight }) });
      } catch (err) {
        out.push({ seq, size: value.length, problem: err instanceof Error ? err.message : String(err) });
      }
    }
    return out;
  }

  async purge(): Promise<PurgeResult> {
    const flights = await flightSeqs(this.db);
    let deleted = 0;
    let keptInFlight = 0;
    let maxSeq = 0;
    const iterator = this.db.keys(spaceRange(MSG));
    try {
      for (let chunk = await iterator.nextv(CHUNK); chunk.length > 0; chunk = await iterator.nextv(CHUNK)) {
        const ops: BatchOp[] = [];
        for (const key of chunk) {
          const seq = parseSeq(key, MSG);
          if (seq !== null) maxSeq = Math.max(maxSeq, seq);
          if (seq !== null && flights.has(seq)) {
            keptInFlight++;
            continue;
          }
          ops.push({ type: 'del', key });
        }
        // The iterator reads a snapshot, so deleting behind it is safe.
        if (ops.length > 0) await this.db.batch(ops, { sync: true });
        deleted += ops.length;
      }
    } finally {
      await iterator.close();
    }
    // Seqs are never reused: keep the high-water mark above every purged message.
    const persisted = decodeSeq(await this.db.get(NEXT_SEQ_KEY)) ?? 1;
    if (maxSeq + 1 > persisted) await this.db.put(NEXT_SEQ_KEY, encodeSeq(maxSeq + 1), { sync: true });
    return { deleted, keptInFlight };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** Whether `path` holds a LevelDB store (its CURRENT file), without opening or creating anything. */
export async function storeExists(path: string): Promise<boolean> {
  try {
    return (await stat(join(path, 'CURRENT'))).isFile();
  } catch {
    return false;
  }
}

/**
 * Opens an existing store for inspection. Throws OutboxOpenError: OUTBOX_LOCKED while an agent
 * holds it, OUTBOX_OPEN_FAILED when it does not exist or cannot be read.
 */
export async function inspectStore(path: string): Promise<StoreInspection> {
  // Checked first: LevelDB makes the directory even with createIfMissing false.
  if (!(await storeExists(path))) throw new OutboxOpenError('OUTBOX_OPEN_FAILED', path, `no store at ${path}`, undefined);
  const db: Db = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer', createIfMissing: false });
  try {
    await db.open();
  } catch (err) {
    throw toOpenError(path, err);
  }
  return new Inspection(db);
}
