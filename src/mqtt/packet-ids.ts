/** Packet identifiers 1..65535, never handed out twice while in use. */
export const MAX_PACKET_ID = 65535;

export class PacketIdAllocator {
  private readonly inUse = new Set<number>();
  private nextId = 1;

  /** Returns a free id, or null when all 65535 are in flight. */
  allocate(): number | null {
    if (this.inUse.size >= MAX_PACKET_ID) return null;
    while (this.inUse.has(this.nextId)) this.advance();
    const id = this.nextId;
    this.inUse.add(id);
    this.advance();
    return id;
  }

  /** Claims a specific id (restored from the store); false when it is already taken. */
  reserve(id: number): boolean {
    if (id < 1 || id > MAX_PACKET_ID || this.inUse.has(id)) return false;
    this.inUse.add(id);
    return true;
  }

  release(id: number): void {
    this.inUse.delete(id);
  }

  isInUse(id: number): boolean {
    return this.inUse.has(id);
  }

  clear(): void {
    this.inUse.clear();
  }

  get size(): number {
    return this.inUse.size;
  }

  private advance(): void {
    this.nextId = this.nextId >= MAX_PACKET_ID ? 1 : this.nextId + 1;
  }
}
