/**
 * Open-time pass over the message space: exact counters without holding the backlog in
 * memory, the seq high-water mark, and quarantine of values this version cannot decode
 * (so the send path never meets them and the counters only count sendable messages).
 */
import { decodeMessage, decodeSeq } from './codec.js';
import { BAD, MSG, NEXT_SEQ_KEY, parseSeq, spaceRange } from './keys.js';
import type { BatchOp, Db } from './plan.js';

const SCAN_CHUNK = 1000;
const QUARANTINE_CHUNK = 256;

export interface ScanResult {
  messages: number;
  bytes: number;
  oldest: { seq: number; enqueuedAt: number } | null;
  /** The next seq to assign: above every message key and the persisted high-water mark. */
  nextSeq: number;
  quarantined: number;
}

export type CorruptReport = (key: string, reason: string) => void;

export async function scanStore(db: Db, sync: boolean, onCorrupt: CorruptReport): Promise<ScanResult> {
  const result: ScanResult = { messages: 0, bytes: 0, oldest: null, nextSeq: 1, quarantined: 0 };
  let maxSeq = 0;
  let pending: BatchOp[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    await db.batch(pending, { sync });
    pending = [];
  };

  const iterator = db.iterator(spaceRange(MSG));
  try {
    for (let chunk = await iterator.nextv(SCAN_CHUNK); chunk.length > 0; chunk = await iterator.nextv(SCAN_CHUNK)) {
      for (const [key, value] of chunk) {
        const seq = parseSeq(key, MSG);
        if (seq !== null) maxSeq = Math.max(maxSeq, seq);
        let enqueuedAt: number;
        try {
          if (seq === null) throw new Error('key is not a message seq');
          enqueuedAt = decodeMessage(value).enqueuedAt;
        } catch (err) {
          onCorrupt(key, err instanceof Error ? err.message : String(err));
          pending.push({ type: 'del', key }, { type: 'put', key: BAD + key.slice(MSG.length), value });
          result.quarantined++;
          // The iterator reads a snapshot, so writing behind it is safe.
          if (pending.length >= QUARANTINE_CHUNK * 2) await flush();
          continue;
        }
        result.messages++;
        result.bytes += value.length;
        result.oldest ??= { seq, enqueuedAt };
      }
    }
  } finally {
    await iterator.close();
  }
  await flush();

  const persisted = decodeSeq(await db.get(NEXT_SEQ_KEY)) ?? 1;
  result.nextSeq = Math.max(persisted, maxSeq + 1);
  return result;
}
