/**
 * Shared fixtures for integration tests: an agent config with test-friendly timings and a
 * way to read the agent's own structured log lines.
 */
import { join } from 'node:path';
import type { AfterHook } from '../support/cleanup.js';
import { runAgent, writeConfig } from '../support/cli.js';
import type { AgentProcess, LogLine } from '../support/cli.js';
import { makeTempDir } from '../support/temp.js';
import { readRetained, seqsFromPayload, topicMatches } from '../support/subscriber.js';
import type { ReceivedMessage, Subscriber } from '../support/subscriber.js';
import { sleep, TimeoutError } from '../support/wait.js';

export interface AgentFixture {
  dir: string;
  configPath: string;
  storePath: string;
  deviceId: string;
  dataTopic: string;
  statusTopic: string;
  /** `wrap`: run the agent under another command (see runAgent). */
  start(opts?: { wrap?: readonly string[] }): AgentProcess;
}

export interface FixtureOptions {
  url: string;
  qos?: 0 | 1 | 2;
  inflight?: number;
  count?: number;
  interval?: string;
  keepalive?: string;
  pingTimeout?: string;
  minDelay?: string;
  maxDelay?: string;
  sources?: unknown[];
  /** publish.batch, as written in the config file. */
  batch?: Record<string, unknown>;
  /** More mqtt.* keys (tls, username, passwordFile), merged into the mqtt section. */
  mqtt?: Record<string, unknown>;
  /** Merged into the `store` section (path defaults to `<dir>/store`). */
  store?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  t: AfterHook;
}

let fixtureCounter = 0;

export async function agentFixture(opts: FixtureOptions): Promise<AgentFixture> {
  const dir = await makeTempDir('sg-it-', opts.t);
  const deviceId = `gw-${process.pid}-${++fixtureCounter}`;
  const storePath = typeof opts.store?.path === 'string' ? opts.store.path : join(dir, 'store');
  const config = {
    device: { id: deviceId },
    mqtt: {
      url: opts.url,
      inflight: opts.inflight ?? 10,
      keepalive: opts.keepalive ?? '5s',
      ...(opts.pingTimeout === undefined ? {} : { pingTimeout: opts.pingTimeout }),
      connectTimeout: '3s',
      reconnect: { minDelay: opts.minDelay ?? '100ms', maxDelay: opts.maxDelay ?? '1s' },
      ...opts.mqtt,
    },
    store: { ...opts.store, path: storePath },
    publish: { qos: opts.qos ?? 1, ...(opts.batch === undefined ? {} : { batch: opts.batch }) },
    sources: opts.sources ?? [{ type: 'simulated', name: 'sim', interval: opts.interval ?? '0ms', ...(opts.count === undefined ? {} : { count: opts.count }) }],
    log: { level: 'debug' },
    ...opts.extra,
  };
  const configPath = await writeConfig(dir, config);
  return {
    dir,
    configPath,
    storePath,
    deviceId,
    dataTopic: `sensorgate/${deviceId}/sim`,
    statusTopic: `sensorgate/${deviceId}/status`,
    start: (startOpts = {}) => runAgent({ configPath, t: opts.t, wrap: startOpts.wrap }),
  };
}

/** Matches an agent log line by its `msg` field (substring). */
export function logMsg(substring: string): (entry: LogLine) => boolean {
  return (entry) => typeof entry.json?.msg === 'string' && entry.json.msg.includes(substring);
}

export function countLogs(agent: AgentProcess, substring: string): number {
  return agent.lines.filter(logMsg(substring)).length;
}

// ---------------------------------------------------------------------------------------------
// Helpers for the crash, broker-restart and keepalive tests (additive).

/** Polls the retained message on `topic` until it equals `expected`; throws with the last value seen. */
export async function waitForRetained(url: string, topic: string, expected: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null = null;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for retained ${topic} = ${JSON.stringify(expected)} (last seen: ${JSON.stringify(last)})`);
    last = (await readRetained(url, topic, Math.max(200, Math.min(1_000, remaining))))?.toString() ?? null;
    if (last === expected) return;
    await sleep(100);
  }
}

/**
 * Resolves once every seq in [1, n] has arrived on `topic` at least once. Incremental (each
 * message is looked at once), so it stays cheap for thousands of messages. The timeout error
 * says how many distinct seqs arrived and which are missing.
 */
export async function waitForAllSeqs(sub: Subscriber, topic: string, n: number, timeoutMs: number): Promise<void> {
  const seen = new Set<number>();
  let next = 0;
  const predicate = (messages: readonly ReceivedMessage[]): boolean => {
    for (; next < messages.length; next++) {
      const m = messages[next];
      if (m === undefined || !topicMatches(topic, m.topic)) continue;
      for (const s of seqsFromPayload(m.payload)) if (s >= 1 && s <= n) seen.add(s);
    }
    return seen.size >= n;
  };
  try {
    await sub.waitFor(predicate, timeoutMs, `all seqs 1..${n} on ${topic}`);
  } catch (err) {
    if (!(err instanceof TimeoutError)) throw err;
    const missing: number[] = [];
    for (let s = 1; s <= n && missing.length < 20; s++) if (!seen.has(s)) missing.push(s);
    throw new TimeoutError(`${err.message}\n${seen.size}/${n} distinct seqs arrived; first missing: ${missing.join(', ')}`);
  }
}

/** Resolves once no message has arrived for `quietMs` (bounded by timeoutMs). */
export async function waitForQuiet(sub: Subscriber, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = sub.messages.length;
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new TimeoutError(`subscriber did not go quiet for ${quietMs} ms within ${timeoutMs} ms (${sub.messages.length} messages)`);
    await sleep(Math.min(50, quietMs));
    if (sub.messages.length !== count) {
      count = sub.messages.length;
      since = Date.now();
    }
  }
}

/** The `connected to broker` log lines of one agent run, in order, with their sessionPresent flag. */
export function connectedLogs(agent: AgentProcess): Array<{ at: number; sessionPresent: unknown }> {
  return agent.lines.filter(logMsg('connected to broker')).map((l) => ({ at: l.at, sessionPresent: l.json?.sessionPresent }));
}


/**
 * Checks that distinct `seqs` are what a full store kept under `whenFull`, after a source
 * that stopped at `last` while the broker was away: drop-oldest, one contiguous run ending
 * at `last`; drop-newest, a run from seq 1, then at most one burst (64) that fitted into
 * the space left. Returns a description of what it saw, or throws with it.
 */
export function assertPolicyKept(seqs: Iterable<number>, whenFull: 'drop-oldest' | 'drop-newest', last: number): string {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const first = sorted[0] ?? 0;
  const highest = sorted[sorted.length - 1] ?? 0;
  const gap = sorted.findIndex((seq, i) => i > 0 && seq !== (sorted[i - 1] as number) + 1);
  const run = gap === -1 ? sorted.length : gap;
  const seen = `${sorted.length} seqs from ${first} to ${highest}, the first run ${run} long`;
  if (whenFull === 'drop-oldest') {
    if (run !== sorted.length || highest !== last || first <= 1) throw new Error(`drop-oldest should keep one run ending at ${last}, after dropping the oldest: ${seen}`);
  } else if (first !== 1 || sorted.length - run > 64 || highest >= last + 1) {
    throw new Error(`drop-newest should keep a run from seq 1, then at most one more burst: ${seen}`);
  }
  return seen;
}
