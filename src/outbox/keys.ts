/**
 * LevelDB key layout. Every key space is a prefix ending in `!`; a range over a space is
 * `gt: '<p>!'`, `lt: '<p>"'` because `"` is the byte after `!`.
 *
 * Seqs are 16 hex digits, zero padded, so byte order is numeric order for every safe integer.
 */

const SEQ_WIDTH = 16;

export const MSG = 'm!';
export const FLIGHT = 'f!';
export const STATE = 's!';
export const INCOMING = 'i!';
export const BAD = 'bad!';
export const NEXT_SEQ_KEY = 'meta!next-seq';

export interface KeyRange {
  gt: string;
  lt: string;
}

/** The whole key space under `prefix` (which must end in `!`). */
export function spaceRange(prefix: string): KeyRange {
  return { gt: prefix, lt: prefix.slice(0, -1) + '"' };
}

export function seqHex(seq: number): string {
  return seq.toString(16).padStart(SEQ_WIDTH, '0');
}

export function msgKey(seq: number): string {
  return MSG + seqHex(seq);
}

export function flightKey(seq: number): string {
  return FLIGHT + seqHex(seq);
}

export function badKey(seq: number): string {
  return BAD + seqHex(seq);
}

/** The seq in a `m!`/`f!` key, or null when the key was not written by this layout. */
export function parseSeq(key: string, prefix: string): number | null {
  if (!key.startsWith(prefix)) return null;
  const hex = key.slice(prefix.length);
  if (hex.length !== SEQ_WIDTH || !/^[0-9a-f]+$/.test(hex)) return null;
  const seq = parseInt(hex, 16);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}

export function incomingKey(packetId: number): string {
  return INCOMING + packetId.toString(16).padStart(4, '0');
}

/**
 * Source names are escaped so that a `!` inside a name cannot make one source's range
 * include another's (`a` vs `a!b`). State keys need no escaping: they are whatever follows.
 */
function escapeSource(source: string): string {
  return source.replace(/%/g, '%25').replace(/!/g, '%21');
}

export function sourcePrefix(source: string): string {
  return STATE + escapeSource(source) + '!';
}

export function stateKey(source: string, key: string): string {
  return sourcePrefix(source) + key;
}
