/**
 * Follows packet boundaries in the incoming byte stream so an oversized packet is refused
 * from its fixed header alone, before the parser buffers any of its body.
 */
export class FrameSizeGuard {
  private header: number[] = [];
  private bodyLeft = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Returns a reason when the chunk starts a packet over the limit (or a malformed length). */
  inspect(chunk: Buffer): string | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const skip = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= skip;
        i += skip;
        continue;
      }
      const byte = chunk[i++] as number;
      this.header.push(byte);
      if (this.header.length === 1) continue; // the type/flags byte
      const continues = (byte & 0x80) !== 0;
      if (continues) {
        if (this.header.length === 5) return 'malformed remaining length (more than 4 bytes)';
        continue;
      }
      let length = 0;
      for (let k = this.header.length - 1; k >= 1; k--) length = length * 128 + ((this.header[k] as number) & 0x7f);
      const total = length + this.header.length;
      this.header = [];
      if (total > this.maxPacketBytes) {
        return `incoming packet of ${total} bytes exceeds the ${this.maxPacketBytes}-byte limit (mqtt.maxPacketSize)`;
      }
      this.bodyLeft = length;
    }
    return null;
  }
}
