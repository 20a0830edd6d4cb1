/**
 * Keeps track of which fields are announced to Home Assistant: the ones the config declares,
 * plus, for sources whose fields show up only in the data, those seen so far (bounded per
 * source, so a device sending ever new keys cannot grow memory or flood the broker).
 */
import type { OutgoingMessage } from '../mqtt/store.js';
import { discoveryMessage } from './discovery.js';
import type { DiscoveryDevice, SourceTopics } from './discovery.js';
import type { AnnouncedField, SourceFields } from './fields.js';

/** Fields announced from the data per source, at most. */
export const MAX_SEEN_FIELDS_PER_SOURCE = 64;

interface SourceEntry {
  topics: SourceTopics;
  fields: Map<string, AnnouncedField>;
  dynamic: SourceFields['dynamic'];
  seen: number;
  /** Set once the limit was hit, so the caller logs it once. */
  full: boolean;
}

export interface ObserveResult {
  /** Discovery configs for fields seen for the first time. */
  messages: OutgoingMessage[];
  /** True the first time a field had to be left out because the source reached the limit. */
  limitReached: boolean;
}

export class DiscoveryAnnouncer {
  private readonly sources = new Map<string, SourceEntry>();

  constructor(
    private readonly device: DiscoveryDevice,
    sources: ReadonlyArray<{ topics: SourceTopics; fields: SourceFields }>,
  ) {
    for (const { topics, fields } of sources) {
      this.sources.set(topics.source, {
        topics,
        fields: new Map(fields.fields.map((f) => [f.name, f])),
        dynamic: fields.dynamic,
        seen: 0,
        full: false,
      });
    }
  }

  /** Every config: what a connect, or Home Assistant coming online, republishes. */
  all(): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    for (const entry of this.sources.values()) for (const field of entry.fields.values()) out.push(discoveryMessage(this.device, entry.topics, field));
    return out;
  }

  /** Whether readings of `source` can bring new fields (the caller skips observe() otherwise). */
  watches(source: string): boolean {
    const entry = this.sources.get(source);
    return entry?.dynamic !== undefined && !entry.full;
  }

  /** The field names of a reading: configs for those not announced yet. */
  observe(source: string, names: Iterable<string>): ObserveResult {
    const entry = this.sources.get(source);
    const result: ObserveResult = { messages: [], limitReached: false };
    if (entry?.dynamic === undefined) return result;
    for (const name of names) {
      if (entry.fields.has(name)) continue;
      if (entry.seen >= MAX_SEEN_FIELDS_PER_SOURCE) {
        if (!entry.full) result.limitReached = true;
        entry.full = true;
        break;
      }
      const field = entry.dynamic(name);
      entry.fields.set(name, field);
      entry.seen++;
      result.messages.push(discoveryMessage(this.device, entry.topics, field));
    }
    return result;
  }
}
