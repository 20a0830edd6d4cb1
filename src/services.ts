/**
 * The optional services around the delivery core, each off unless configured: the HTTP listener
 * (metrics.listen: /metrics, /healthz, /status.json), Home Assistant discovery and remote
 * commands. The agent builds them before the client, since the client needs their
 * subscriptions and handlers, and hands in the parts they read as functions.
 */
import { builtInHandlers } from './commands/handlers.js';
import type { SerialWriter } from './commands/handlers.js';
import { CommandRouter } from './commands/router.js';
import type { AgentConfig, SourceConfig } from './config/types.js';
import { DiscoveryAnnouncer } from './homeassistant/announcer.js';
import type { SourceTopics } from './homeassistant/discovery.js';
import { sourceFields } from './homeassistant/fields.js';
import type { MqttClient } from './mqtt/client.js';
import type { IncomingMessage, Subscription } from './mqtt/session.js';
import type { OutgoingMessage } from './mqtt/store.js';
import { metricFamilies } from './observe/families.js';
import { judgeHealth } from './observe/health.js';
import type { Health } from './observe/health.js';
import { startObserveServer } from './observe/http.js';
import type { ObserveServer } from './observe/http.js';
import type { Logger } from './observe/logger.js';
import { formatMetrics } from './observe/metrics.js';
import { ReadingLedger } from './observe/readings.js';
import type { AgentSnapshot, SourceSnapshot } from './observe/snapshot.js';
import type { LevelOutboxStats } from './outbox/level-outbox.js';
import type { Reading } from './pipeline/reading.js';
import type { Source } from './sources/source.js';
import type { SupervisedSource } from './sources/supervisor.js';
import { packageVersion } from './version.js';

export interface RunningSource {
  config: SourceConfig;
  source: Source;
  supervised: SupervisedSource;
}

export interface ServiceDeps {
  config: AgentConfig;
  logger: Logger;
  outbox: { stats(): LevelOutboxStats };
  /** The client, once built (services are built first: the client needs their subscriptions). */
  client: () => MqttClient;
  sources: () => readonly RunningSource[];
  /** A source's effective publish rule, for discovery's state topics. */
  topics: (source: SourceConfig) => SourceTopics;
}

export interface Services {
  readonly subscriptions: readonly Subscription[];
  /** After each CONNACK: discovery configs. */
  onConnect(): void;
  /** An incoming message: Home Assistant's status, or a command. */
  onMessage(message: IncomingMessage): void;
  /** Readings a source handed over (committed, or in an open batch). */
  noteReadings(source: string, readings: Reading | readonly Reading[]): void;
  snapshot(): AgentSnapshot;
  health(): Health;
  /** The listener's bound address, once started; null when off or not bound. */
  readonly listening: { host: string; port: number } | null;
  start(): Promise<void>;
  /** Marks the agent stopping, closes the listener, waits for a running command. */
  stop(): Promise<void>;
}

/** Stats counters that count input a source could not turn into readings (serial: see SerialStats; 1-Wire: parseErrors). */
const PARSE_ERROR_KEYS = ['parseErrors', 'invalidUtf8Lines', 'binaryLines', 'oversizeLines'] as const;

const ageSeconds = (now: number, at: number | null): number | null => (at === null ? null : Math.max(0, Math.round((now - at) / 100) / 10));

function isSerialWriter(source: Source): source is Source & SerialWriter {
  return typeof (source as Partial<SerialWriter>).write === 'function';
}

export function createServices(deps: ServiceDeps): Services {
  const { config, logger } = deps;
  const startedAt = Date.now();
  const version = packageVersion();
  const readings = new ReadingLedger();
  let stopping = false;
  let server: ObserveServer | null = null;

  const publish = (message: OutgoingMessage): Promise<boolean> => deps.client().publishControl(message);

  const snapshot = (): AgentSnapshot => {
    const client = deps.client();
    const stats = deps.outbox.stats();
    const session = client.sessionCounters;
    const now = Date.now();
    return {
      device: config.device.id,
      version,
      now,
      startedAt,
      stopping,
      broker: config.mqtt.url,
      connected: client.isConnected,
      connectedSince: client.connectedSince,
      reconnects: client.counters.reconnects,
      published: session.published + session.qos0Written,
      resent: session.resent,
      acked: session.acked,
      dropped: stats.dropped,
      corrupt: stats.corrupt,
      received: session.received,
      queue: { messages: stats.messages, bytes: stats.bytes, oldestEnqueuedAt: stats.oldestEnqueuedAt },
      inflight: client.inflight,
      lastDeliveryAt: client.lastDeliveryAt,
      commands: router?.stats() ?? [],
      sources: deps.sources().map((running): SourceSnapshot => {
        const counted = readings.get(running.source.name);
        const sourceStats = running.source.stats?.() ?? {};
        const parseErrors = PARSE_ERROR_KEYS.reduce((sum, key) => sum + (sourceStats[key] ?? 0), 0);
        return {
          name: running.source.name,
          type: running.config.type,
          state: running.supervised.state,
          readings: counted.count,
          lastReadingAt: counted.lastAt,
          parseErrors,
          failures: running.supervised.failures,
          ...(running.supervised.lastError !== undefined && { lastError: running.supervised.lastError }),
          ...(sourceStats.portOpen !== undefined && { portOpen: sourceStats.portOpen === 1 }),
        };
      }),
    };
  };

  const health = (): Health => judgeHealth(snapshot(), config.metrics.healthWindowMs);
  /** /status.json, and the `status` command's answer. */
  const statusDocument = (): Record<string, unknown> => {
    const s = snapshot();
    return { ...s, health: judgeHealth(s, config.metrics.healthWindowMs), healthWindowMs: config.metrics.healthWindowMs };
  };

  // --- remote commands
  const router = config.commands.enabled
    ? new CommandRouter({
        topic: config.commands.topic,
        handlers: builtInHandlers({
          status: statusDocument,
          get serial() {
            const writers = new Map<string, SerialWriter>();
            for (const { config: sourceConfig, source } of deps.sources()) if (sourceConfig.type === 'serial' && isSerialWriter(source)) writers.set(source.name, source);
            return writers;
          },
        }),
        publish,
        logger: logger.child({ component: 'commands' }),
      })
    : undefined;

  // --- Home Assistant discovery
  const ha = config.homeassistant;
  const haStatusTopic = `${ha.prefix}/status`;
  const announcer = ha.discovery
    ? new DiscoveryAnnouncer(
        { id: config.device.id, version, prefix: ha.prefix, status: config.status },
        config.sources.map((source) => ({ topics: deps.topics(source), fields: sourceFields(source) })),
      )
    : undefined;
  const haLogger = logger.child({ component: 'homeassistant' });
  const announce = (messages: readonly OutgoingMessage[], why: string): void => {
    if (messages.length === 0) return;
    void Promise.all(messages.map(publish)).then((acked) => {
      const sent = acked.filter(Boolean).length;
      if (sent === messages.length) haLogger.info('discovery configs published', { configs: sent, why });
      else haLogger.warn('discovery configs not all acknowledged (the connection went); they go again on the next connect', { configs: messages.length, acknowledged: sent, why });
    });
  };

  const subscriptions: Subscription[] = [];
  if (announcer !== undefined) subscriptions.push({ topic: haStatusTopic, qos: 1 });
  if (router !== undefined) subscriptions.push({ topic: router.subscription, qos: 2 });

  return {
    subscriptions,
    onConnect() {
      if (announcer !== undefined) announce(announcer.all(), 'connected');
    },
    onMessage(message) {
      if (announcer !== undefined && message.topic === haStatusTopic) {
        // A retained `online` comes with every SUBSCRIBE; the connect already published everything.
        if (!message.retain && message.payload.toString('utf8').trim() === 'online') announce(announcer.all(), 'Home Assistant came online');
        return;
      }
      if (router?.matches(message.topic) === true) {
        router.handle(message);
      }
    },
    noteReadings(source, emitted) {
      const list: readonly Reading[] = Array.isArray(emitted) ? (emitted as readonly Reading[]) : [emitted as Reading];
      if (list.length === 0) return;
      readings.note(source, list.length);
      if (announcer === undefined || !announcer.watches(source)) return;
      for (const reading of list) {
        const seen = announcer.observe(source, Object.keys(reading.fields));
        if (seen.limitReached) haLogger.warn('too many distinct fields for discovery; later new fields are not announced', { source });
        if (seen.messages.length > 0 && deps.client().isConnected) announce(seen.messages, 'new field');
      }
    },
    snapshot,
    health,
    get listening() {
      return server?.address ?? null;
    },
    async start() {
      const listen = config.metrics.listen;
      if (listen === undefined) return;
      server = await startObserveServer(
        listen,
        {
          metrics: () => {
            const s = snapshot();
            return formatMetrics(metricFamilies(s, judgeHealth(s, config.metrics.healthWindowMs)));
          },
          health: () => {
            const s = snapshot();
            const judged = judgeHealth(s, config.metrics.healthWindowMs);
            return {
              healthy: judged.healthy,
              body: {
                status: judged.healthy ? 'ok' : 'unhealthy',
                ...(judged.reason !== undefined && { reason: judged.reason }),
                connected: s.connected,
                queueMessages: s.queue.messages,
                oldestAgeSeconds: ageSeconds(s.now, s.queue.oldestEnqueuedAt),
                lastDeliveryAgeSeconds: ageSeconds(s.now, s.lastDeliveryAt),
                healthWindowSeconds: config.metrics.healthWindowMs / 1000,
              },
            };
          },
          status: statusDocument,
        },
        logger.child({ component: 'metrics' }),
      );
    },
    async stop() {
      stopping = true;
      await server?.close();
      await router?.idle();
    },
  };
}
