/**
 * Composition root: the only module that knows every layer. Owns start and stop order:
 * store first and last, sources after the client and stopped before it.
 */
import type { AgentConfig, SourceConfig } from './config/types.js';
import { MqttClient } from './mqtt/client.js';
import type { IncomingMessage } from './mqtt/session.js';
import type { Logger } from './observe/logger.js';
import { openOutbox } from './outbox/level-outbox.js';
import type { Outbox } from './outbox/outbox.js';
import { readingToMessages } from './pipeline/pipeline.js';
import type { PublishRule } from './pipeline/pipeline.js';
import type { Reading } from './pipeline/reading.js';
import { SimulatedSource } from './sources/simulated.js';
import type { Source, SourceStateValues } from './sources/source.js';
import { supervise } from './sources/supervisor.js';
import type { SupervisedSource } from './sources/supervisor.js';
import { openTransport } from './transport/socket.js';

/** How long a clean stop waits for the broker to acknowledge `offline`. */
export const OFFLINE_ACK_WAIT_MS = 3_000;

export interface Agent {
  readonly outbox: Outbox;
  readonly client: MqttClient;
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
  }
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
      connectTimeoutMs: mqtt.connectTimeoutMs,
      reconnect: mqtt.reconnect,
      maxIncomingPacketBytes: mqtt.maxIncomingPacketBytes,
      status: config.status,
      // Commands arrive here in a later release; until then an incoming message is only logged.
      onMessage: options.onMessage ?? ((m) => logger.debug('incoming message', { topic: m.topic, qos: m.qos, bytes: m.payload.length })),
    },
    outbox,
    { openTransport, logger: logger.child({ component: 'mqtt' }) },
  );
  client.start();

  const rule: PublishRule = { device: config.device.id, ...config.publish };
  const stopSources = new AbortController();
  const supervised: SupervisedSource[] = [];
  for (const sourceConfig of config.sources) {
    const source = createSource(sourceConfig);
    const sourceLogger = logger.child({ source: source.name });
    // What a restarted source resumes from: the state committed with its last reading.
    let committed: SourceStateValues = await outbox.readSourceState(source.name);
    const emit = async (readings: Reading | readonly Reading[], state?: SourceStateValues): Promise<void> => {
      const values = state === undefined ? undefined : { source: source.name, values: state };
      const list: readonly Reading[] = Array.isArray(readings) ? readings : [readings as Reading];
      const result = await outbox.commit(list.flatMap((r) => readingToMessages(r, rule)), values);
      if (state !== undefined) committed = { ...committed, ...state };
      if (result.rejected > 0) sourceLogger.debug('reading dropped: store full (store.whenFull: drop-newest)');
    };
    const context = {
      emit,
      get initialState(): SourceStateValues {
        return committed;
      },
      logger: sourceLogger,
      signal: stopSources.signal,
    };
    supervised.push(supervise(source, context));
  }
  const sourcesDone = Promise.all(supervised.map((s) => s.done)).then(() => undefined);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('stopping');
      stopSources.abort();
      // A reading already handed to the store is committed before the client goes.
      await sourcesDone;
      await client.stop(OFFLINE_ACK_WAIT_MS);
      // Counted after close: acknowledged deletes still in the commit queue are written by then.
      await outbox.close();
      const left = outbox.stats();
      logger.info('stopped', { queuedMessages: left.messages });
    })();
    return stopping;
  };

  return { outbox, client, stop, sourcesDone };
}
