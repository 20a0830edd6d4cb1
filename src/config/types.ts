/**
 * The resolved configuration: every default applied, durations in milliseconds,
 * sizes in bytes, secrets loaded. Produced by `loadConfig`; consumed by the agent.
 */
import type { DrainOrder, QoS } from '../mqtt/store.js';
import type { WhenFull } from '../outbox/outbox.js';

export interface TlsConfig {
  /** Absolute file paths (relative ones resolved against the config file's directory); contents are read when connecting. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Verify the broker certificate. Default true. */
  rejectUnauthorized: boolean;
}

export interface MqttConfig {
  /** Normalised `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  protocol: 'mqtt' | 'mqtts';
  host: string;
  port: number;
  clientId: string;
  username?: string;
  /** From mqtt.password, mqtt.passwordFile or env SENSORGATE_MQTT_PASSWORD. */
  password?: string;
  /** Where `password` came from (shown by `sensorgate check`; the password never is). */
  passwordSource?: 'config' | 'passwordFile' | 'env';
  /** Absolute path of mqtt.passwordFile, when the password came from it. */
  passwordFile?: string;
  keepaliveMs: number;
  /** Default: half the keepalive, at most 30 s. */
  pingTimeoutMs: number;
  inflight: number;
  connectTimeoutMs: number;
  reconnect: { minDelayMs: number; maxDelayMs: number };
  /** Incoming packet size limit in bytes (default 1 MiB). */
  maxIncomingPacketBytes: number;
  tls: TlsConfig;
}

export interface StatusConfig {
  /** Template already expanded: {device} replaced. */
  topic: string;
  online: string;
  offline: string;
}

export interface StoreConfig {
  path: string;
  maxMessages: number; // 0 = unlimited
  maxBytes: number; // 0 = unlimited
  /** Bytes kept free on the store's filesystem (0 = guard off). */
  minFreeSpace: number;
  whenFull: WhenFull;
  sync: boolean;
  drain: DrainOrder;
}

export interface PublishConfig {
  qos: QoS;
  retain: boolean;
  /** Template: {device} and {source} (and later {field}) placeholders. */
  topic: string;
}

export interface SimulatedSourceConfig {
  type: 'simulated';
  name: string;
  intervalMs: number;
  /** Stop after this many readings (counted across restarts via seq). */
  count?: number;
}

export type SourceConfig = SimulatedSourceConfig;

export interface LogConfig {
  level: 'debug' | 'info' | 'warn' | 'error';
}

export interface AgentConfig {
  device: { id: string };
  mqtt: MqttConfig;
  status: StatusConfig;
  store: StoreConfig;
  publish: PublishConfig;
  sources: SourceConfig[];
  log: LogConfig;
}
