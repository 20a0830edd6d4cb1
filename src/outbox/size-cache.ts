/**
 * Encoded sizes of stored messages the session holds (read from disk, or handed over right
 * after their commit), so a settle can be accounted without reading the message back: on a
 * caught-up link that read was one disk round trip per acknowledged message.
 *
 * Why an entry can be trusted: only the outbox's single write loop deletes messages, and it
 * forgets every seq it deletes once the batch is durable. A read that raced a delete would
 * bring back a seq that is already gone, so sizes from a read are kept only for seqs no batch
 * removed while that read ran.
 *
 * Bounded: beyond `capacity` entries nothing more is kept, and the planner reads those from
 * disk as before. Settles remove entries, so in steady state it holds about one window.
 */
export const SIZE_CACHE_CAPACITY = 8_192;

export class SizeCache {
  private readonly sizes = new Map<number, number>();
  /** One set per read in progress: the seqs deleted while it ran. */
  private readonly reads = new Set<Set<number>>();

  constructor(private readonly capacity = SIZE_CACHE_CAPACITY) {}

  get(seq: number): number | undefined {
    return this.sizes.get(seq);
  }

  get size(): number {
    return this.sizes.size;
  }

  /** Sizes of messages a batch just stored. */
  rememberAppended(entries: Iterable<{ seq: number; size: number }>): void {
    for (const { seq, size } of entries) this.keep(seq, size);
  }

  /** Wraps a read: `sizesOf` turns its result into (seq, size) pairs, kept unless deleted meanwhile. */
  async track<T>(read: () => Promise<T>, sizesOf: (result: T) => Iterable<{ seq: number; size: number }>): Promise<T> {
    const deletedMeanwhile = new Set<number>();
    this.reads.add(deletedMeanwhile);
    try {
      const result = await read();
      for (const { seq, size } of sizesOf(result)) if (!deletedMeanwhile.has(seq)) this.keep(seq, size);
      return result;
    } finally {
      this.reads.delete(deletedMeanwhile);
    }
  }

  /** A durable batch removed these seqs. */
  forget(seqs: Iterable<number>): void {
    for (const seq of seqs) {
      this.sizes.delete(seq);
      for (const read of this.reads) read.add(seq);
    }
  }

  clear(): void {
    this.sizes.clear();
  }

  private keep(seq: number, size: number): void {
    if (this.sizes.size < this.capacity || this.sizes.has(seq)) this.sizes.set(seq, size);
  }
}
