/**
 * Reads LevelDB's MANIFEST far enough to know which table files it references, and checks
 * write-ahead logs record by record. LevelDB deletes every table file its MANIFEST does not
 * name when it opens, and drops unreadable log records without a word; the preflight uses
 * this to keep such files instead (see preflight.ts). Anything unexpected (bad checksum,
 * unknown tag, truncated record) makes the MANIFEST answer null: "unknown", never a guess.
 *
 * Format (LevelDB doc/log_format.md, version_edit.cc): 32 KiB blocks of records, each
 * checksum(4, masked CRC32C of type + data) length(2) type(1: full, 2: first, 3: middle,
 * 4: last) data; a record's data is a VersionEdit: varint tags with their fields.
 */

const BLOCK = 32 * 1024;
const HEADER = 7;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function unmask(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

class Reader {
  offset = 0;
  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.offset >= this.data.length;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.offset >= this.data.length || shift > 63) throw new Error('truncated varint');
      const byte = this.data[this.offset++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  }

  bytes(): void {
    const length = this.varint();
    if (this.offset + length > this.data.length) throw new Error('truncated field');
    this.offset += length;
  }
}

/** Why a log-format file (a write-ahead log) cannot be read completely, or null when it can. */
export function logProblem(file: Buffer): string | null {
  try {
    records(file);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The records of a LevelDB log-format file; throws on anything malformed. */
function records(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pending: Buffer[] | null = null;
  for (let block = 0; block < file.length; block += BLOCK) {
    const end = Math.min(block + BLOCK, file.length);
    let at = block;
    while (end - at >= HEADER) {
      const length = file.readUInt16LE(at + 4);
      const type = file[at + 6] as number;
      if (type === 0 && length === 0) break; // zero padding written by a preallocating filesystem
      if (at + HEADER + length > end) throw new Error('record crosses its block');
      const body = file.subarray(at + HEADER, at + HEADER + length);
      if (unmask(file.readUInt32LE(at)) !== crc32c(file.subarray(at + 6, at + HEADER + length))) throw new Error('checksum mismatch');
      at += HEADER + length;
      if (type === FULL && pending === null) out.push(body);
      else if (type === FIRST && pending === null) pending = [body];
      else if (type === MIDDLE && pending !== null) pending.push(body);
      else if (type === LAST && pending !== null) {
        out.push(Buffer.concat([...pending, body]));
        pending = null;
      } else throw new Error(`unexpected record type ${type}`);
    }
  }
  if (pending !== null) throw new Error('truncated record');
  return out;
}

/** Table file numbers live after applying every VersionEdit in the MANIFEST, or null if unreadable. */
export function liveTables(manifest: Buffer): Set<number> | null {
  const live = new Set<number>();
  try {
    for (const record of records(manifest)) {
      const r = new Reader(record);
      while (!r.done) {
        const tag = r.varint();
        switch (tag) {
          case 1: // comparator
            r.bytes();
            break;
          case 2: // log number
          case 3: // next file number
          case 4: // last sequence
          case 9: // previous log number
            r.varint();
            break;
          case 5: // compact pointer: level, internal key
            r.varint();
            r.bytes();
            break;
          case 6: // deleted file: level, number
            r.varint();
            live.delete(r.varint());
            break;
          case 7: // new file: level, number, size, smallest, largest
            r.varint();
            live.add(r.varint());
            r.varint();
            r.bytes();
            r.bytes();
            break;
          default:
            throw new Error(`unknown tag ${tag}`);
        }
      }
    }
  } catch {
    return null;
  }
  return live;
}
