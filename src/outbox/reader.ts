/**
 * Reads straight from disk in bounded windows: nothing here caches, so memory does not
 * follow the backlog. Undecodable values are reported and skipped, never thrown.
 */
import type { FlightState, StoredMessage } from '../mqtt/store.js';
import { decodeFlight, decodeMessage, decodeStateValue } from './codec.js';
import { FLIGHT, MSG, flightKey, msgKey, parseSeq, sourcePrefix, spaceRange } from './keys.js';
import type { Db } from './plan.js';

/** `seq` is set for an undecodable message, so the caller can quarantine it. */
export type CorruptHandler = (key: string, reason: string, seq: number | null) => void;

interface MessageRange {
  gt: string;
  lt: string;
  reverse?: boolean;
}

const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class StoreReader {
  constructor(
    private readonly db: Db,
    private readonly onCorrupt: CorruptHandler,
  ) {}

  /** `flightsUpTo`: no f! record exists above this seq, so a window past it skips that read. */
  async window(afterSeq: number, limit: number, flightsUpTo = Number.MAX_SAFE_INTEGER): Promise<StoredMessage[]> {
    const out = await this.messages({ gt: msgKey(afterSeq), lt: spaceRange(MSG).lt }, limit);
    const last = out[out.length - 1];
    if (last !== undefined && afterSeq < flightsUpTo) await this.attachFlights(out, afterSeq + 1, Math.min(last.seq, flightsUpTo));
    return out;
  }

  /** Up to `limit` messages with seq < `beforeSeq`, newest first. */
  async windowBefore(beforeSeq: number, limit: number, flightsUpTo = Number.MAX_SAFE_INTEGER): Promise<StoredMessage[]> {
    const out = await this.messages({ gt: spaceRange(MSG).gt, lt: msgKey(beforeSeq), reverse: true }, limit);
    const lowest = out[out.length - 1];
    const highest = out[0];
    if (lowest !== undefined && highest !== undefined && lowest.seq <= flightsUpTo) {
      await this.attachFlights(out, lowest.seq, Math.min(highest.seq, flightsUpTo));
    }
    return out;
  }

  /**
   * Every message that has an f! record, oldest first, with its flight state. f! records
   * exist only for messages that entered the window, so this is bounded by the inflight
   * limit, not by the backlog. Records whose message is gone are skipped.
   */
  async inFlight(): Promise<StoredMessage[]> {
    const flights: Array<{ seq: number; flight: FlightState }> = [];
    for await (const [key, value] of this.db.iterator(spaceRange(FLIGHT))) {
      const seq = parseSeq(key, FLIGHT);
      if (seq === null) continue;
      try {
        flights.push({ seq, flight: decodeFlight(value) });
      } catch (err) {
        // Without a usable record the message counts as never sent: the backlog sends it under a new id.
        this.onCorrupt(key, reason(err), null);
      }
    }
    if (flights.length === 0) return [];
    const values = await this.db.getMany(flights.map((f) => msgKey(f.seq)));
    const out: StoredMessage[] = [];
    flights.forEach(({ seq, flight }, i) => {
      const value = values[i];
      if (value === undefined) return; // settled or dropped; its record is stale
      const message = this.decode(msgKey(seq), value);
      if (message !== null) out.push({ ...message, flight });
    });
    return out;
  }

  /** Highest seq with an f! record on disk (0 when none). */
  async highestFlight(): Promise<number> {
    const [entry] = await this.db.keys({ ...spaceRange(FLIGHT), reverse: true, limit: 1 }).all();
    return entry === undefined ? 0 : (parseSeq(entry, FLIGHT) ?? Number.MAX_SAFE_INTEGER);
  }

  async sourceState(source: string): Promise<Record<string, string | number>> {
    const prefix = sourcePrefix(source);
    const state: Record<string, string | number> = {};
    for await (const [key, value] of this.db.iterator(spaceRange(prefix))) {
      try {
        state[key.slice(prefix.length)] = decodeStateValue(value);
      } catch (err) {
        this.onCorrupt(key, reason(err), null);
      }
    }
    return state;
  }

  private decode(key: string, value: Buffer): StoredMessage | null {
    const seq = parseSeq(key, MSG);
    try {
      if (seq === null) throw new Error('key is not a message seq');
      return { ...decodeMessage(value), seq };
    } catch (err) {
      this.onCorrupt(key, reason(err), seq);
      return null;
    }
  }

  /** Reads up to `limit` decodable messages in `range`, skipping (and reporting) corrupt ones. */
  private async messages(range: MessageRange, limit: number): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    const iterator = this.db.iterator(range);
    try {
      // No iterator limit: corrupt entries are skipped, and a window must still fill up.
      while (out.length < limit) {
        const chunk = await iterator.nextv(limit - out.length);
        if (chunk.length === 0) break;
        for (const [key, value] of chunk) {
          const message = this.decode(key, value);
          if (message !== null) out.push(message);
        }
      }
    } finally {
      await iterator.close();
    }
    return out;
  }

  /** f! records are sparse (only messages in flight), so one range read beats a lookup per message. */
  private async attachFlights(window: StoredMessage[], fromSeq: number, toSeq: number): Promise<void> {
    const bySeq = new Map(window.map((m) => [m.seq, m]));
    for await (const [key, value] of this.db.iterator({ gte: flightKey(fromSeq), lte: flightKey(toSeq) })) {
      const seq = parseSeq(key, FLIGHT);
      const message = seq === null ? undefined : bySeq.get(seq);
      if (message === undefined) continue;
      try {
        message.flight = decodeFlight(value);
      } catch (err) {
        // Without a usable record the session treats the message as never sent: a new id.
        this.onCorrupt(key, reason(err), null);
      }
    }
  }
}
