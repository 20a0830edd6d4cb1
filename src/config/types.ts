/**
 * The resolved configuration: every default applied, durations in milliseconds,
 * sizes in bytes, secrets loaded. Produced by `loadConfig`; consumed by the agent.
 */
import type { DrainOrder, QoS } from '../mqtt/store.js';
import type { WhenFull } from '../outbox/outbox.js';
import type { PublishMode } from '../pipeline/pipeline.js';
import type { GpioSourceConfig } from './sources/gpio.js';
import type { OneWireSourceConfig } from './sources/onewire.js';
import type { SourcePublishConfig } from './sources/publish.js';
import type { SerialSourceConfig } from './sources/serial.js';
import type { CommandsConfig, HomeAssistantConfig, MetricsConfig } from './services.js';

export type { CommandsConfig, GpioSourceConfig, HomeAssistantConfig, MetricsConfig, OneWireSourceConfig, SerialSourceConfig, SourcePublishConfig };

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
  /** PUBLISH packets per second at most; 0 = unlimited. */
  maxPublishRate: number;
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

/** publish.batch: several readings of one source per message, as a JSON array. */
export interface BatchConfig {
  /** A batch closes when it holds this many readings. */
  maxReadings: number;
  /** ...or this long after its first reading. */
  maxDelayMs: number;
  /** ...or before the next reading would push its payload over this many bytes. */
  maxBytes: number;
}

export interface PublishConfig {
  qos: QoS;
  retain: boolean;
  /** Template: {device} and {source} placeholders, and {field} in field mode. */
  topic: string;
  /** `reading`: one JSON message per reading; `field`: one plain-value message per field. A source's publish.mode overrides it. */
  mode: PublishMode;
  /** Absent: one message per reading. */
  batch?: BatchConfig;
}

export interface SimulatedSourceConfig {
  type: 'simulated';
  name: string;
  intervalMs: number;
  /** Stop after this many readings (counted across restarts via seq). */
  count?: number;
  publish?: SourcePublishConfig;
}

export type SourceConfig = SimulatedSourceConfig | SerialSourceConfig | GpioSourceConfig | OneWireSourceConfig;

export interface LogConfig {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** `auto`: human-readable text when stdout is a terminal, JSON lines otherwise. */
  format: 'auto' | 'json' | 'text';
}

export interface AgentConfig {
  device: { id: string };
  mqtt: MqttConfig;
  status: StatusConfig;
  store: StoreConfig;
  publish: PublishConfig;
  metrics: MetricsConfig;
  homeassistant: HomeAssistantConfig;
  commands: CommandsConfig;
  sources: SourceConfig[];
  log: LogConfig;
}
