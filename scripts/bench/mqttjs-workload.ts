/** MQTT.js (v5) in a bench child, with mqtt-level-store (durable) or its in-memory store. */
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import levelStore from 'mqtt-level-store';
import { BENCH_TOPIC, readingPayload } from './payload.js';
import { ioDelta, pollUntil, readIo, rssMb } from './probe.js';
import type { ChildContext } from './child-context.js';
import type { ChildResult, Scenario } from './types.js';

const GROUP = 1000;

interface Tracker {
  acked: number;
  errors: number;
  lastError: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, detail: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what} (${detail()})`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Publishes one reading; `stored` resolves when the outgoing store has it, `acked` on PUBACK. */
function publish(client: MqttClient, seq: number, tracker: Tracker): { stored: Promise<void>; acked: Promise<void> } {
  let storedResolve: () => void = () => undefined;
  const stored = new Promise<void>((resolve) => (storedResolve = resolve));
  const acked = new Promise<void>((resolve) => {
    client.publish(BENCH_TOPIC, readingPayload(seq), { qos: 1, cbStorePut: () => storedResolve() }, (err) => {
      if (err) {
        tracker.errors++;
        tracker.lastError = err.message;
      } else {
        tracker.acked++;
      }
      storedResolve();
      resolve();
    });
  });
  return { stored, acked };
}

function closeManager(manager: ReturnType<typeof levelStore> | undefined): Promise<void> {
  if (manager === undefined) return Promise.resolve();
  return new Promise<void>((resolve, reject) => manager.close((err) => (err ? reject(err) : resolve())));
}

export async function runMqttJs(s: Scenario, ctx: ChildContext): Promise<ChildResult> {
  const { sampler } = ctx;
  const io0 = readIo();
  const cpu0 = process.cpuUsage();
  const manager = s.client === 'mqttjs-level' ? levelStore(s.dir) : undefined;
  const options: IClientOptions = {
    clientId: s.clientId,
    clean: false,
    protocolVersion: 4,
    keepalive: 60,
    connectTimeout: 3000,
    ...(manager ? { incomingStore: manager.incoming, outgoingStore: manager.outgoing } : {}),
  };
  const client = mqtt.connect(`mqtt://127.0.0.1:${s.port}`, options);
  const tracker: Tracker = { acked: 0, errors: 0, lastError: '' };
  const notes: string[] = [];
  // MQTT.js emits 'connect' only after it has replayed its outgoing store, so the drain
  // clock starts at the CONNACK itself.
  let connectedAt: number | undefined;
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'connack' && connectedAt === undefined) connectedAt = performance.now();
  });
  const connected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const connackSeen = (): Promise<void> => pollUntil(() => connectedAt !== undefined, 30_000, 'CONNACK', () => `connected ${client.connected}`);
  client.on('error', (err) => {
    // While the broker is down (backlog) every dial fails; count, do not abort.
    if (s.workload !== 'backlog' || connectedAt !== undefined) notes.push(`client error: ${err.message}`);
  });
  const rssBaseMb = rssMb();
  const detail = (): string => `acked ${tracker.acked}/${s.n}, errors ${tracker.errors} ${tracker.lastError}, connected ${client.connected}`;

  let fillMs: number | undefined;
  let t0: number;
  const acks: Array<Promise<void>> = [];
  try {
    if (s.workload === 'bulk') {
      await withTimeout(connected, 10_000, 'CONNACK', detail);
      sampler.enter('drain');
      t0 = performance.now();
      for (let i = 0; i < s.n; i++) acks.push(publish(client, i + 1, tracker).acked);
    } else if (s.workload === 'live') {
      await withTimeout(connected, 10_000, 'CONNACK', detail);
      sampler.enter('drain');
      t0 = performance.now();
      for (let i = 0; i < s.n; i++) {
        const p = publish(client, i + 1, tracker);
        acks.push(p.acked);
        await p.stored;
      }
      fillMs = performance.now() - t0;
    } else {
      sampler.enter('fill');
      const f0 = performance.now();
      for (let start = 0; start < s.n; start += GROUP) {
        const stored: Array<Promise<void>> = [];
        for (let i = start; i < Math.min(s.n, start + GROUP); i++) {
          const p = publish(client, i + 1, tracker);
          acks.push(p.acked);
          stored.push(p.stored);
        }
        await withTimeout(Promise.all(stored), s.timeoutMs, 'offline publishes to be stored', detail);
      }
      fillMs = performance.now() - f0;
      if (connectedAt !== undefined) throw new Error('connected while the broker should be down');
      ctx.filled();
      await connackSeen();
      sampler.enter('drain');
      t0 = connectedAt ?? performance.now();
    }
    await withTimeout(Promise.all(acks), s.timeoutMs, 'all PUBACKs', detail);
  } catch (err) {
    client.end(true);
    await closeManager(manager).catch(() => undefined);
    throw err;
  }
  const deliverMs = performance.now() - t0;
  sampler.enter('stop');
  await client.endAsync();
  await closeManager(manager);
  const cpu = process.cpuUsage(cpu0);
  if (tracker.errors > 0) notes.push(`${tracker.errors} publish errors: ${tracker.lastError}`);
  return {
    client: s.client,
    workload: s.workload,
    n: s.n,
    acked: tracker.acked,
    deliverMs,
    rate: (tracker.acked * 1000) / deliverMs,
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
