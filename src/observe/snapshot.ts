/**
 * What the agent reports about itself at one moment: the single input of /metrics, /healthz,
 * /status.json and the `status` remote command. Plain data (JSON as it is), so the CLI reads
 * back exactly what the agent wrote.
 */
import type { SourceRunState } from '../sources/supervisor.js';

export interface SourceSnapshot {
  name: string;
  type: string;
  state: SourceRunState;
  /** Readings the source handed to the pipeline since the agent started. */
  readings: number;
  /** Epoch ms of the last of them; null before the first. */
  lastReadingAt: number | null;
  /** Input that could not become a reading (see families.ts for which counters count). */
  parseErrors: number;
  /** Times the source failed and was restarted. */
  failures: number;
  lastError?: string;
  /** Serial sources: whether the port is open now. */
  portOpen?: boolean;
}

export interface AgentSnapshot {
  device: string;
  version: string;
  /** Epoch ms when this snapshot was taken. */
  now: number;
  startedAt: number;
  /** The agent is stopping: /healthz says so. */
  stopping: boolean;
  broker: string;
  connected: boolean;
  connectedSince: number | null;
  reconnects: number;
  /** Stored messages written to the broker for the first time (QoS 0 included). */
  published: number;
  /** Stored messages written again (DUP=1, PUBREL) after a reconnect. */
  resent: number;
  /** Stored QoS 1/2 messages the broker acknowledged (PUBACK, PUBCOMP). */
  acked: number;
  /** Dropped by the store.whenFull policy since the agent started. */
  dropped: number;
  /** Undecodable stored messages moved aside since the agent started. */
  corrupt: number;
  /** Messages received from the broker (commands, Home Assistant's status). */
  received: number;
  queue: { messages: number; bytes: number; oldestEnqueuedAt: number | null };
  /** QoS 1/2 publishes unacknowledged on the wire now. */
  inflight: number;
  /** Epoch ms when the broker last took a stored message; null before the first since start. */
  lastDeliveryAt: number | null;
  /** Remote commands by name (`other` for unknown names) and outcome. */
  commands: Array<{ command: string; ok: number; failed: number }>;
  sources: SourceSnapshot[];
}
