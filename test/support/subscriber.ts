/**
 * The observer on the far side of the broker: an MQTT.js client that records every message,
 * plus the sequence analysis integration tests assert on.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { QoS } from 'mqtt-packet';
import { registerCleanup, type AfterHook } from './cleanup.js';
import { TimeoutError, withTimeout } from './wait.js';

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: QoS;
  dup: boolean;
  /** Date.now() at arrival. */
  receivedAt: number;
}

export interface SubscriberOptions {
  url: string;
  /** Topic filter(s), wildcards allowed. */
  topic: string | string[];
  /** Default 1. */
  qos?: QoS;
  /** Default: a unique test id. */
  clientId?: string;
  /** Default true. Use false with a fixed clientId to keep a session across close()/start. */
  clean?: boolean;
  /** Reconnect after the broker goes away; default true (every 250 ms). */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  t?: AfterHook;
}

export interface Subscriber {
  readonly client: MqttClient;
  /** Every message in arrival order. */
  readonly messages: readonly ReceivedMessage[];
  /** Whether the broker had a session for us at the first CONNACK. */
  readonly sessionPresent: boolean;
  /** Client errors after connect (recorded so an unhandled 'error' cannot crash the test run). */
  readonly errors: readonly Error[];
  /** Resolves with the messages once predicate(messages) holds; rejects with a dump on timeout. */
  waitFor(
    predicate: (messages: readonly ReceivedMessage[]) => boolean,
    timeoutMs: number,
    description: string,
  ): Promise<readonly ReceivedMessage[]>;
  /** Waits until at least `n` messages matching `topicFilter` (default: all) have arrived. */
  waitForCount(n: number, timeoutMs: number, topicFilter?: string): Promise<readonly ReceivedMessage[]>;
  /** `seq` of every JSON payload (see seqsFromPayload) in arrival order, duplicates kept. */
  seqsOf(topicFilter?: string): number[];
  close(): Promise<void>;
}

let idCounter = 0;

function uniqueClientId(prefix: string): string {
  idCounter++;
  return `${prefix}-${process.pid}-${idCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** MQTT filter matching with + and # (3.1.1 §4.7; $-topics are not matched by wildcards at the root). */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const part = f[i];
    if (part === '#') return true;
    if (i >= t.length) return false;
    if (part !== '+' && part !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * The `seq` numbers in one payload: `{seq}`, `{fields: {seq}}`, or an array of either
 * (batched messages). Non-JSON payloads yield none.
 */
export function seqsFromPayload(payload: Buffer): number[] {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return [];
  }
  const one = (v: unknown): number | undefined => {
    if (typeof v !== 'object' || v === null) return undefined;
    const rec = v as Record<string, unknown>;
    if (typeof rec.seq === 'number') return rec.seq;
    const fields = rec.fields;
    if (typeof fields === 'object' && fields !== null) {
      const seq = (fields as Record<string, unknown>).seq;
      if (typeof seq === 'number') return seq;
    }
    return undefined;
  };
  const items: unknown[] = Array.isArray(value)
    ? value
    : typeof value === 'object' && value !== null && Array.isArray((value as Record<string, unknown>).readings)
      ? ((value as Record<string, unknown>).readings as unknown[])
      : [value];
  return items.map(one).filter((s): s is number => s !== undefined);
}

export interface SeqAnalysis {
  /** Expected seqs never seen, ascending. */
  missing: number[];
  /** Arrivals of a seq already seen. */
  duplicates: number;
  /** First arrivals smaller than an earlier first arrival. */
  outOfOrder: number;
  /** Distinct seqs outside [expectedMin, expectedMax]. */
  unexpected: number[];
}

/** Order is judged on first arrivals only: a redelivered duplicate is not "out of order". */
export function analyzeSeqs(seqs: readonly number[], expectedMax: number, expectedMin = 1): SeqAnalysis {
  const seen = new Set<number>();
  let duplicates = 0;
  let outOfOrder = 0;
  let highest = -Infinity;
  for (const s of seqs) {
    if (seen.has(s)) {
      duplicates++;
      continue;
    }
    seen.add(s);
    if (s < highest) outOfOrder++;
    highest = Math.max(highest, s);
  }
  const missing: number[] = [];
  for (let i = expectedMin; i <= expectedMax; i++) if (!seen.has(i)) missing.push(i);
  const unexpected = [...seen].filter((s) => s < expectedMin || s > expectedMax).sort((a, b) => a - b);
  return { missing, duplicates, outOfOrder, unexpected };
}

function describeMessages(messages: readonly ReceivedMessage[], last = 10): string {
  const tail = messages.slice(-last).map((m) => {
    const text = m.payload.toString('utf8');
    const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
    return `  ${m.topic} qos=${m.qos} retain=${m.retain} dup=${m.dup}: ${shown}`;
  });
  return `received ${messages.length} message(s)${tail.length ? `; last ${tail.length}:\n${tail.join('\n')}` : ''}`;
}

class RecordingSubscriber implements Subscriber {
  readonly messages: ReceivedMessage[] = [];
  readonly errors: Error[] = [];
  sessionPresent = false;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(readonly client: MqttClient) {
    client.on('error', (err) => this.errors.push(err));
    client.on('message', (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload: Buffer.from(payload),
        retain: packet.retain,
        qos: packet.qos,
        dup: packet.dup,
        receivedAt: Date.now(),
      });
      for (const wake of [...this.waiters]) wake();
    });
  }

  async waitFor(
    predicate: (messages: readonly ReceivedMessage[]) => boolean,
    timeoutMs: number,
    description: string,
  ): Promise<readonly ReceivedMessage[]> {
    if (predicate(this.messages)) return this.messages;
    let wake: (() => void) | undefined;
    const satisfied = new Promise<void>((resolve) => {
      wake = () => {
        if (predicate(this.messages)) resolve();
      };
      this.waiters.add(wake);
    });
    try {
      await withTimeout(satisfied, timeoutMs, description);
      return this.messages;
    } catch (err) {
      if (err instanceof TimeoutError) {
        throw new TimeoutError(`${err.message}\n${describeMessages(this.messages)}`);
      }
      throw err;
    } finally {
      if (wake) this.waiters.delete(wake);
    }
  }

  waitForCount(n: number, timeoutMs: number, topicFilter?: string): Promise<readonly ReceivedMessage[]> {
    // Counted incrementally: re-filtering every message on every arrival is O(n²) at 20k messages.
    let scanned = 0;
    let matched = 0;
    const count = (ms: readonly ReceivedMessage[]): number => {
      for (; scanned < ms.length; scanned++) {
        const m = ms[scanned];
        if (m !== undefined && (topicFilter === undefined || topicMatches(topicFilter, m.topic))) matched++;
      }
      return matched;
    };
    return this.waitFor((ms) => count(ms) >= n, timeoutMs, `${n} message(s)${topicFilter ? ` on ${topicFilter}` : ''}`);
  }

  seqsOf(topicFilter?: string): number[] {
    return this.messages
      .filter((m) => topicFilter === undefined || topicMatches(topicFilter, m.topic))
      .flatMap((m) => seqsFromPayload(m.payload));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A graceful DISCONNECT keeps a clean:false session intact; force if the broker is gone.
    try {
      await withTimeout(this.client.endAsync(false), 3000, 'subscriber to disconnect');
    } catch {
      await this.client.endAsync(true);
    }
  }
}

function connectOptions(opts: {
  clientId?: string;
  clean?: boolean;
  reconnect?: boolean;
  connectTimeoutMs?: number;
}): IClientOptions {
  return {
    protocolVersion: 4,
    clientId: opts.clientId ?? uniqueClientId('sub'),
    clean: opts.clean ?? true,
    reconnectPeriod: opts.reconnect === false ? 0 : 250,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    keepalive: 30,
  };
}

export async function startSubscriber(opts: SubscriberOptions): Promise<Subscriber> {
  const client = mqtt.connect(opts.url, connectOptions(opts));
  // Record from the first packet: a persistent session's queued messages arrive right after CONNACK.
  const sub = new RecordingSubscriber(client);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  try {
    const connack = await withTimeout(
      new Promise<boolean>((resolve, reject) => {
        client.once('connect', (packet) => resolve(packet.sessionPresent));
        client.once('error', reject);
      }),
      timeoutMs,
      `subscriber connect to ${opts.url}`,
    );
    sub.sessionPresent = connack;
    const filters = Array.isArray(opts.topic) ? opts.topic : [opts.topic];
    const granted = await withTimeout(
      client.subscribeAsync(filters, { qos: opts.qos ?? 1 }),
      timeoutMs,
      `subscribe to ${filters.join(', ')}`,
    );
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length > 0) throw new Error(`broker refused subscription(s): ${refused.map((g) => g.topic).join(', ')}`);
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
  registerCleanup(opts.t, () => sub.close());
  return sub;
}

/**
 * The retained payload on `topic`, or null if none arrives within timeoutMs. Uses a fresh
 * clean session so nothing but the retained message can be delivered.
 */
export async function readRetained(url: string, topic: string, timeoutMs: number): Promise<Buffer | null> {
  const client = mqtt.connect(url, connectOptions({ reconnect: false, connectTimeoutMs: timeoutMs }));
  client.on('error', () => undefined);
  try {
    const retained = new Promise<Buffer>((resolve) => {
      client.on('message', (t, payload, packet) => {
        if (packet.retain && topicMatches(topic, t)) resolve(Buffer.from(payload));
      });
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      }),
      timeoutMs,
      `connect to ${url} to read retained ${topic}`,
    );
    await withTimeout(client.subscribeAsync(topic, { qos: 1 }), timeoutMs, `subscribe to ${topic}`);
    try {
      return await withTimeout(retained, timeoutMs, `retained message on ${topic}`);
    } catch (err) {
      if (err instanceof TimeoutError) return null;
      throw err;
    }
  } finally {
    await client.endAsync(true);
  }
}
