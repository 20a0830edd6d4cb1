/** Shapes shared by the bench orchestrator (run.ts) and its child processes (child.ts). */

/** Which client a child runs. */
export type ClientKind = 'sensorgate' | 'mqttjs-level' | 'mqttjs-memory';

/**
 * - bulk: everything is handed to the client at once (sensorgate: committed to the outbox
 *   first, then the client drains; MQTT.js: N publish() calls), timed first publish → last ack.
 * - live: one message at a time, each awaited until durable (sensorgate: commit; MQTT.js:
 *   cbStorePut / publish callback for memory) while the client delivers.
 * - backlog: filled while the broker is down, drained when it comes back.
 */
export type Workload = 'bulk' | 'live' | 'backlog';

export interface Scenario {
  client: ClientKind;
  workload: Workload;
  n: number;
  port: number;
  /** sensorgate inflight window. */
  inflight: number;
  /** Working directory for LevelDB; the child removes nothing, the parent does. */
  dir: string;
  clientId: string;
  /** Per-child time limit, ms (the parent also kills on overrun). */
  timeoutMs: number;
  /** sensorgate only: pack this many readings per message, as publish.batch.maxReadings does. */
  batch?: number;
}

export interface IoCounters {
  /** Bytes handed to write()-like syscalls. */
  wchar: number;
  /** write() syscalls. */
  syscw: number;
  /** Bytes this process caused to be sent to the block layer (dirtied page cache). */
  writeBytes: number;
}

export interface ChildResult {
  client: ClientKind;
  workload: Workload;
  n: number;
  /** Delivered (acked) messages, N on success. */
  acked: number;
  /** First PUBLISH (or CONNACK) → last ack (or outbox empty), ms. */
  deliverMs: number;
  /** deliverMs as msg/s. */
  rate: number;
  /** sensorgate bulk/backlog: committing N into the outbox (broker not involved). MQTT.js backlog: offline publish() until stored. */
  fillMs?: number;
  fillRate?: number;
  /** Peak RSS (MB) over the whole run and per phase. */
  rssPeakMb: number;
  rssFillPeakMb?: number;
  rssDrainPeakMb?: number;
  /** RSS right after the store was opened/the client created (baseline). */
  rssBaseMb: number;
  /** Peak V8 heap committed (heapTotal) and peak `external` (Buffers, native) over the run. */
  heapTotalPeakMb?: number;
  externalPeakMb?: number;
  /** heapUsed after a forced full GC once delivery finished (children run with --expose-gc). */
  liveHeapAtStopMb?: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** /proc/self/io deltas from before the store was opened until after it was closed. */
  io: IoCounters | null;
  /** Extra remarks (e.g. errors tolerated). */
  notes: string[];
}

/** Child → parent IPC (results go to stdout as one JSON line). */
export type ChildMessage = { type: 'filled' };
