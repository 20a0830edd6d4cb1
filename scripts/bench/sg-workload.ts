/** sensorgate in a bench child: LevelDB outbox + own MQTT client, wired as in the agent. */
import { MqttClient } from '../../src/mqtt/client.js';
import type { Logger, LogFields } from '../../src/observe/logger.js';
import { openOutbox } from '../../src/outbox/level-outbox.js';
import type { LevelOutbox } from '../../src/outbox/level-outbox.js';
import { packJsonArray } from '../../src/pipeline/batch.js';
import { openTransport } from '../../src/transport/socket.js';
import { BENCH_TOPIC, STATUS_TOPIC, readingPayload } from './payload.js';
import { ioDelta, pollUntil, readIo, rssMb } from './probe.js';
import type { ChildContext } from './child-context.js';
import type { ChildResult, Scenario } from './types.js';

/** Commits are awaited in groups this large, so a 200k backlog never has 200k promises alive. */
export const COMMIT_GROUP = 1000;

/** Drops everything but remembers when the client last reached CONNACK. */
class ConnectWatch implements Logger {
  connectedAt: number | undefined;
  errors = 0;
  lastError = '';
  debug(): void {}
  info(msg: string): void {
    if (msg === 'connected to broker') this.connectedAt = performance.now();
  }
  warn(): void {}
  error(msg: string, fields?: LogFields): void {
    this.errors++;
    this.lastError = `${msg} ${JSON.stringify(fields ?? {})}`;
  }
  child(): Logger {
    return this;
  }
}

function message(seq: number): { topic: string; payload: Buffer; qos: 1; retain: false } {
  return { topic: BENCH_TOPIC, payload: readingPayload(seq), qos: 1, retain: false };
}

/** `batch` readings per message, packed as publish.batch packs them (a JSON array). */
function batchedMessage(firstSeq: number, batch: number, n: number): ReturnType<typeof message> {
  const items: Buffer[] = [];
  for (let seq = firstSeq; seq < firstSeq + batch && seq <= n; seq++) items.push(readingPayload(seq));
  return { ...message(firstSeq), payload: packJsonArray(items) };
}

async function commitInGroups(outbox: LevelOutbox, n: number, batch = 1): Promise<void> {
  for (let start = 0; start < n; start += COMMIT_GROUP * batch) {
    const group: Array<Promise<unknown>> = [];
    for (let i = start; i < Math.min(n, start + COMMIT_GROUP * batch); i += batch) {
      group.push(outbox.commit([batch === 1 ? message(i + 1) : batchedMessage(i + 1, batch, n)]));
    }
    await Promise.all(group);
  }
}

export async function runSensorgate(s: Scenario, ctx: ChildContext): Promise<ChildResult> {
  const { sampler } = ctx;
  const io0 = readIo();
  const cpu0 = process.cpuUsage();
  const watch = new ConnectWatch();
  const outbox = await openOutbox({ path: s.dir, whenFull: 'drop-oldest', sync: false }, watch);
  const client = new MqttClient(
    {
      transport: { protocol: 'mqtt', host: '127.0.0.1', port: s.port, connectTimeoutMs: 3000 },
      clientId: s.clientId,
      keepaliveMs: 60_000,
      pingTimeoutMs: 30_000,
      inflight: s.inflight,
      connectTimeoutMs: 3000,
      reconnect: { minDelayMs: 100, maxDelayMs: 1000 },
      maxIncomingPacketBytes: 1 << 20,
      status: { topic: STATUS_TOPIC, online: 'online', offline: 'offline' },
    },
    outbox,
    { openTransport, logger: watch },
  );
  const rssBaseMb = rssMb();
  const detail = (): string =>
    `outbox ${outbox.stats().messages} left, acked ${client.sessionCounters.acked}, connected ${client.isConnected}, errors ${watch.errors} ${watch.lastError}`;
  const waitConnected = (timeoutMs: number): Promise<void> =>
    pollUntil(() => watch.connectedAt !== undefined, timeoutMs, 'CONNACK', detail);
  const waitEmpty = (): Promise<void> => pollUntil(() => outbox.stats().messages === 0, s.timeoutMs, 'the outbox to drain', detail);

  let fillMs: number | undefined;
  let t0: number;
  try {
    if (s.workload === 'bulk') {
      sampler.enter('fill');
      const f0 = performance.now();
      await commitInGroups(outbox, s.n, s.batch);
      fillMs = performance.now() - f0;
      sampler.enter('drain');
      client.start();
      await waitConnected(10_000);
      t0 = watch.connectedAt ?? performance.now();
    } else if (s.workload === 'live') {
      client.start();
      await waitConnected(10_000);
      sampler.enter('drain');
      t0 = performance.now();
      for (let i = 0; i < s.n; i++) await outbox.commit([message(i + 1)]);
      fillMs = performance.now() - t0;
    } else {
      // Backlog: the broker is down; the dial loop keeps failing while the outbox fills.
      client.start();
      sampler.enter('fill');
      const f0 = performance.now();
      await commitInGroups(outbox, s.n);
      fillMs = performance.now() - f0;
      if (watch.connectedAt !== undefined) throw new Error('connected while the broker should be down');
      ctx.filled();
      await waitConnected(30_000);
      sampler.enter('drain');
      t0 = watch.connectedAt ?? performance.now();
    }
    await waitEmpty();
  } catch (err) {
    await client.stop(500).catch(() => undefined);
    await outbox.close().catch(() => undefined);
    throw err;
  }
  const deliverMs = performance.now() - t0;
  const stats = outbox.stats();
  sampler.enter('stop');
  await client.stop(1000);
  await outbox.close();
  const cpu = process.cpuUsage(cpu0);
  const notes: string[] = [];
  if (stats.dropped > 0) notes.push(`outbox dropped ${stats.dropped}`);
  if (watch.errors > 0) notes.push(`${watch.errors} errors logged: ${watch.lastError}`);
  if (client.sessionCounters.resent > 0) notes.push(`${client.sessionCounters.resent} resent`);
  return {
    client: s.client,
    workload: s.workload,
    n: s.n,
    acked: s.n - stats.messages - stats.dropped,
    deliverMs,
    rate: (s.n * 1000) / deliverMs,
    fillMs,
    fillRate: fillMs === undefined ? undefined : (s.n * 1000) / fillMs,
    rssPeakMb: sampler.peakMb(),
    rssFillPeakMb: sampler.peakMb('fill'),
    rssDrainPeakMb: sampler.peakMb('drain'),
    rssBaseMb,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    io: ioDelta(io0, readIo()),
    notes,
  };
}
