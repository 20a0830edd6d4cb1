/**
 * Composition root: the only module that knows every layer. Owns start and stop order:
 * store first and last, sources after the client; on stop, sources first, then the pipeline's
 * open batches are committed, then the client goes, then the store closes.
 */
import type { AgentConfig, SourceConfig } from './config/types.js';
import { MqttClient } from './mqtt/client.js';
import type { IncomingMessage } from './mqtt/session.js';
import type { Logger } from './observe/logger.js';
import { openOutbox } from './outbox/level-outbox.js';
import type { Outbox } from './outbox/outbox.js';
import { createPublisher } from './pipeline/publisher.js';
import type { SourceRule } from './pipeline/publisher.js';
import { GpioSource } from './sources/gpio/gpio-source.js';
import { OneWireSource } from './sources/onewire/onewire-source.js';
import { SerialSource } from './sources/serial/source.js';
import { SimulatedSource } from './sources/simulated.js';
import type { Source, SourceContext } from './sources/source.js';
import { supervise } from './sources/supervisor.js';
import type { SupervisedSource } from './sources/supervisor.js';
import { openTransport } from './transport/socket.js';
import { createServices } from './services.js';
import type { RunningSource, Services } from './services.js';

/** How long a clean stop waits for the broker to acknowledge `offline`. */
export const OFFLINE_ACK_WAIT_MS = 3_000;

export interface Agent {
  readonly outbox: Outbox;
  readonly client: MqttClient;
  /** Metrics listener, Home Assistant discovery, remote commands (each off unless configured). */
  readonly services: Services;
  /** Clean stop; resolves when the store is closed. Safe to call more than once. */
  stop(): Promise<void>;
  /** Settles when every source has finished (stopped or ran out of readings). */
  readonly sourcesDone: Promise<void>;
}

export interface AgentOptions {
  logger: Logger;
  onMessage?: (message: IncomingMessage) => void;
}

function createSource(config: SourceConfig): Source {
  switch (config.type) {
    case 'simulated':
      return new SimulatedSource({ name: config.name, intervalMs: config.intervalMs, count: config.count });
    case 'serial':
      return new SerialSource(config);
    case 'gpio':
      return new GpioSource(config);
    case 'onewire':
      return new OneWireSource(config);
  }
}

/** A source's publish section over the global one. */
function sourceRule(config: AgentConfig, source: SourceConfig): SourceRule {
  const own = source.publish ?? {};
  const deadband = own.deadband === undefined ? undefined : { ...own.deadband, ...(own.maxIntervalMs !== undefined && { maxIntervalMs: own.maxIntervalMs }) };
  return {
    device: config.device.id,
    topic: own.topic ?? config.publish.topic,
    qos: own.qos ?? config.publish.qos,
    retain: own.retain ?? config.publish.retain,
    mode: own.mode ?? config.publish.mode,
    ...(deadband !== undefined && { deadband }),
  };
}

export async function startAgent(config: AgentConfig, options: AgentOptions): Promise<Agent> {
  const { logger } = options;
  const outbox = await openOutbox(
    {
      path: config.store.path,
      maxMessages: config.store.maxMessages,
      maxBytes: config.store.maxBytes,
      minFreeSpace: config.store.minFreeSpace,
      whenFull: config.store.whenFull,
      sync: config.store.sync,
    },
    logger.child({ component: 'outbox' }),
  );
  const backlog = outbox.stats();
  logger.info('store opened', { path: config.store.path, messages: backlog.messages, bytes: backlog.bytes });

  const running: RunningSource[] = [];
  const services = createServices({
    config,
    logger,
    outbox,
    // Called only once the client below exists (on connect, messages and requests).
    client: () => client,
    sources: () => running,
    topics: (source) => {
      const rule = sourceRule(config, source);
      return { source: source.name, topic: rule.topic, mode: rule.mode ?? 'reading', qos: rule.qos, batched: config.publish.batch !== undefined && (rule.mode ?? 'reading') === 'reading' };
    },
  });

  const { mqtt } = config;
  const client = new MqttClient(
    {
      transport: { protocol: mqtt.protocol, host: mqtt.host, port: mqtt.port, connectTimeoutMs: mqtt.connectTimeoutMs, tls: mqtt.tls },
      clientId: mqtt.clientId,
      username: mqtt.username,
      password: mqtt.password,
      keepaliveMs: mqtt.keepaliveMs,
      pingTimeoutMs: mqtt.pingTimeoutMs,
      inflight: mqtt.inflight,
      drain: config.store.drain,
      maxPublishRate: mqtt.maxPublishRate,
      connectTimeoutMs: mqtt.connectTimeoutMs,
      reconnect: mqtt.reconnect,
      maxIncomingPacketBytes: mqtt.maxIncomingPacketBytes,
      status: config.status,
      onMessage: (m) => {
        logger.debug('incoming message', { topic: m.topic, qos: m.qos, bytes: m.payload.length });
        services.onMessage(m);
        options.onMessage?.(m);
      },
      subscriptions: services.subscriptions,
      onConnect: () => services.onConnect(),
    },
    outbox,
    { openTransport, logger: logger.child({ component: 'mqtt' }) },
  );
  client.start();

  const { batch, ...publish } = config.publish;
  const publisher = createPublisher({
    rule: { device: config.device.id, ...publish },
    ...(batch !== undefined && { batch }),
    commit: (messages, state) => outbox.commit(messages, state),
    logger: logger.child({ component: 'pipeline' }),
  });
  const stopSources = new AbortController();
  const supervised: SupervisedSource[] = [];
  for (const sourceConfig of config.sources) {
    const source = createSource(sourceConfig);
    // A restarted source resumes from the state it last handed over (committed, or in an open batch).
    const sink = publisher.source(source.name, await outbox.readSourceState(source.name), sourceRule(config, sourceConfig));
    const context: SourceContext = {
      emit: async (readings, state) => {
        await sink.emit(readings, state);
        services.noteReadings(source.name, readings);
      },
      get initialState() {
        return sink.resumeState;
      },
      logger: logger.child({ source: source.name }),
      signal: stopSources.signal,
    };
    const handle = supervise(source, context);
    supervised.push(handle);
    running.push({ config: sourceConfig, source, supervised: handle });
  }
  const sourcesDone = Promise.all(supervised.map((s) => s.done)).then(() => undefined);
  await services.start();

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('stopping');
      await services.stop();
      stopSources.abort();
      // A reading already handed over is committed before the client goes: sources finish
      // their emits, then the open batches are written.
      await sourcesDone;
      await publisher.close();
      await client.stop(OFFLINE_ACK_WAIT_MS);
      // Counted after close: acknowledged deletes still in the commit queue are written by then.
      await outbox.close();
      const left = outbox.stats();
      logger.info('stopped', { queuedMessages: left.messages });
    })();
    return stopping;
  };

  return { outbox, client, services, stop, sourcesDone };
}
