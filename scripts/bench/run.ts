/**
 * `npm run bench`: sensorgate vs MQTT.js + mqtt-level-store vs MQTT.js in memory, on one
 * mosquitto, each measurement in its own child process. Prints a table and writes it as JSON
 * to .bench-out/bench-<date>.json and .bench-out/latest.json.
 *
 *   node dist/scripts/bench/run.js [--quick] [--cpu-prof] [--only=...] [--child-flags="..."]
 *
 * --quick              smaller N everywhere (sanity run, ~25 s)
 * --cpu-prof           write V8 CPU profiles of the sensorgate children to .bench-out/prof/
 * --only=a,b           sections to run: throughput, latency, backlog (default all)
 * --child-flags="..."  node flags for every child, e.g. --max-semi-space-size=1
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBroker } from '../../test/support/broker.js';
import type { Broker } from '../../test/support/broker.js';
import { startFaultProxy } from '../../test/support/fault-proxy.js';
import { shippedNodeFlags } from '../../test/support/node-flags.js';
import { makeTempDir, removeTempDir } from '../../test/support/temp.js';
import { machineInfo } from './machine.js';
import { startCountingRelay } from './relay.js';
import { CLIENTS, buildRows, formatTable } from './report.js';
import type { Measurements, Outcome } from './report.js';
import { runChild } from './spawn-child.js';
import type { RunChildOptions } from './spawn-child.js';
import type { ClientKind, Scenario, Workload } from './types.js';

interface Plan {
  n: number;
  /** Bulk throughput runs per client (interleaved); the table shows the median. */
  bulkRepeats: number;
  latencyN: number;
  /** Backlog stored offline, then replayed over the 100 ms RTT link. */
  replayN: number;
  smallBacklog: number;
  largeBacklog: number;
}

const FULL: Plan = { n: 20_000, bulkRepeats: 3, latencyN: 1_000, replayN: 300, smallBacklog: 20_000, largeBacklog: 200_000 };
const QUICK: Plan = { n: 2_000, bulkRepeats: 1, latencyN: 200, replayN: 100, smallBacklog: 2_000, largeBacklog: 20_000 };
const INFLIGHT = 20;
const ONE_WAY_MS = 50;
const OUT_DIR = fileURLToPath(new URL('../../../.bench-out/', import.meta.url));

const SECTIONS = ['throughput', 'latency', 'backlog'] as const;
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    only: { type: 'string', default: SECTIONS.join(',') },
    'child-flags': { type: 'string', default: '' },
  },
});
const plan = args.quick ? QUICK : FULL;
const only = new Set(args.only.split(','));
for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section ${s} (use ${SECTIONS.join(', ')})`);
const childFlags = args['child-flags'].split(' ').filter(Boolean);
/** sensorgate children run with the flags its CLI ships with; MQTT.js children with node's defaults, as a user's script would. */
const sensorgateFlags = shippedNodeFlags();

function log(msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
}

const started = performance.now();
let counter = 0;

async function measure(
  work: string,
  client: ClientKind,
  workload: Workload,
  n: number,
  port: number,
  timeoutMs: number,
  opts: RunChildOptions = {},
  batch?: number,
): Promise<Outcome> {
  const k = ++counter;
  const scenario: Scenario = {
    ...(batch !== undefined && { batch }),
    client,
    workload,
    n,
    port,
    inflight: INFLIGHT,
    dir: join(work, `${k}-${client}-${workload}`),
    clientId: `bench-${process.pid}-${k}-${client}`,
    timeoutMs,
  };
  const prof = args['cpu-prof'] && client === 'sensorgate' ? ['--cpu-prof', `--cpu-prof-dir=${join(OUT_DIR, 'prof')}`, `--cpu-prof-name=${k}-${workload}-${n}.cpuprofile`] : [];
  const nodeArgs = [...(client === 'sensorgate' ? sensorgateFlags : []), ...childFlags, ...prof];
  try {
    const result = await runChild(scenario, { ...opts, nodeArgs });
    log(`${client} ${workload} n=${n}: ${Math.round(result.rate)} msg/s, peak RSS ${result.rssPeakMb} MB${result.notes.length ? ` (${result.notes.join('; ')})` : ''}`);
    return { ok: true, result };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log(`${client} ${workload} n=${n} FAILED: ${error}`);
    return { ok: false, error };
  } finally {
    await rm(scenario.dir, { recursive: true, force: true });
  }
}

function median(outcomes: readonly Outcome[]): Outcome | undefined {
  const ok = outcomes.flatMap((o) => (o.ok ? [o] : [])).sort((a, b) => a.result.rate - b.result.rate);
  return ok[Math.floor((ok.length - 1) / 2)] ?? outcomes[0];
}

async function throughput(work: string, broker: Broker, m: Measurements): Promise<void> {
  const runs = new Map<ClientKind, Outcome[]>(CLIENTS.map((c) => [c, []]));
  // Interleaved so a burst of load from elsewhere on the host hits every client alike.
  for (let i = 0; i < plan.bulkRepeats; i++) {
    for (const client of CLIENTS) runs.get(client)?.push(await measure(work, client, 'bulk', plan.n, broker.port, 60_000));
  }
  for (const [client, outcomes] of runs) {
    m.bulk[client] = median(outcomes);
    m.bulkRates[client] = outcomes.flatMap((o) => (o.ok ? [Math.round(o.result.rate)] : []));
  }
  for (const client of CLIENTS) m.live[client] = await measure(work, client, 'live', plan.n, broker.port, 60_000);
}

/** Readings per message for the batched wire-bytes runs (publish.batch.maxReadings). */
const BATCH_SIZES = [10, 50] as const;

/**
 * child → counting relay → fault proxy (50 ms each way) → broker; a fresh pair per run. Also
 * sensorgate with readings batched, for the bytes on the wire per reading.
 */
async function slowLink(work: string, broker: Broker, m: Measurements): Promise<void> {
  const runs: Array<[ClientKind, number | undefined]> = [...CLIENTS.map((c): [ClientKind, undefined] => [c, undefined]), ...BATCH_SIZES.map((b): [ClientKind, number] => ['sensorgate', b])];
  for (const [client, batch] of runs) {
    const proxy = await startFaultProxy({ targetPort: broker.port, latencyMs: ONE_WAY_MS });
    const relay = await startCountingRelay(proxy.port);
    try {
      const outcome = await measure(work, client, 'bulk', plan.latencyN, relay.port, 30_000, {}, batch);
      const wire = { n: plan.latencyN, up: relay.up, down: relay.down, maxInflight: proxy.maxInflightObserved };
      if (batch === undefined) {
        m.latency[client] = outcome;
        m.wire[client] = wire;
      } else if (outcome.ok) m.wireBatched[batch] = wire;
    } finally {
      await relay.close();
      await proxy.close();
    }
  }
  // A backlog stored while the link was down, replayed over the same 100 ms RTT link.
  for (const client of CLIENTS) {
    const proxy = await startFaultProxy({ targetPort: broker.port, latencyMs: ONE_WAY_MS });
    proxy.refuse(true);
    try {
      m.replay[client] = await measure(work, client, 'backlog', plan.replayN, proxy.port, 90_000, {
        onFilled: () => {
          proxy.refuse(false);
          return Promise.resolve();
        },
      });
      if (m.replay[client]?.ok === true) m.replayInflight[client] = proxy.maxInflightObserved;
    } finally {
      await proxy.close();
    }
  }
}

/** The broker is down while the child fills its store; it comes back when the child says so. */
async function backlog(work: string, broker: Broker, m: Measurements): Promise<void> {
  const runs: Array<[ClientKind, number, 'backlogSmall' | 'backlogLarge']> = [
    ['sensorgate', plan.smallBacklog, 'backlogSmall'],
    ['sensorgate', plan.largeBacklog, 'backlogLarge'],
    // MQTT.js's default packet-id provider wraps at 65535 without checking ids in use, so a
    // larger offline backlog would overwrite its own entries: compare at the small size only.
    ['mqttjs-level', plan.smallBacklog, 'backlogSmall'],
    ['mqttjs-memory', plan.smallBacklog, 'backlogSmall'],
  ];
  for (const [client, n, slot] of runs) {
    await broker.stop();
    try {
      m[slot][client] = await measure(work, client, 'backlog', n, broker.port, n > 50_000 ? 150_000 : 60_000, {
        onFilled: () => broker.restart(),
      });
    } finally {
      if (!broker.running) await broker.restart();
    }
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  log(`${args.quick ? 'quick' : 'full'} run: ${JSON.stringify(plan)}`);
  const m: Measurements = {
    inflight: INFLIGHT,
    rttMs: 2 * ONE_WAY_MS,
    bulk: {},
    bulkRates: {},
    live: {},
    latency: {},
    wire: {},
    wireBatched: {},
    replay: {},
    replayInflight: {},
    backlogSmall: {},
    backlogLarge: {},
    smallN: plan.smallBacklog,
    largeN: plan.largeBacklog,
  };
  const broker = await startBroker({ verbose: false });
  const work = await makeTempDir('bench');
  try {
    if (only.has('throughput')) await throughput(work, broker, m);
    if (only.has('latency')) await slowLink(work, broker, m);
    if (only.has('backlog')) await backlog(work, broker, m);
  } finally {
    await broker.close();
    await removeTempDir(work);
  }
  const rows = buildRows(m);
  const elapsedS = (performance.now() - started) / 1000;
  const date = new Date();
  const out = {
    date: date.toISOString(),
    quick: args.quick,
    sections: [...only],
    childFlags,
    sensorgateFlags,
    elapsedS,
    machine,
    plan: { ...plan, inflight: INFLIGHT, oneWayLatencyMs: ONE_WAY_MS },
    rows,
    measurements: m,
  };

  process.stdout.write(
    `\nsensorgate bench (${args.quick ? 'quick' : 'full'}) ${out.date}\n` +
      `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryMb} MB, ${machine.kernel} ${machine.arch}; node ${machine.node}; mosquitto ${machine.mosquitto}; load avg ${machine.loadavg.join(' ')} at start, ${os.loadavg()[0]?.toFixed(2)} at end\n` +
      `sensorgate children: node ${sensorgateFlags.join(' ')} (as the CLI ships); MQTT.js children: node defaults\n` +
      `${childFlags.length ? `extra child node flags: ${childFlags.join(' ')}\n` : ''}N=${plan.n} (throughput), ${plan.latencyN} (RTT ${2 * ONE_WAY_MS} ms), backlog ${plan.smallBacklog}/${plan.largeBacklog}; QoS 1, ~78-byte JSON payload, store sync=false for both stores\n\n` +
      `${formatTable(rows)}\n\n`,
  );
  for (const section of ['bulk', 'live', 'latency', 'backlogSmall', 'backlogLarge'] as const) {
    for (const [client, o] of Object.entries(m[section])) {
      if (!o.ok) process.stdout.write(`error in ${section}/${client}: ${o.error.split('\n')[0]}\n`);
    }
  }

  await mkdir(OUT_DIR, { recursive: true });
  const json = `${JSON.stringify(out, null, 2)}\n`;
  const file = join(OUT_DIR, `bench-${out.date.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, json);
  // A partial run (--only) must not replace the last complete one.
  const complete = SECTIONS.every((s) => only.has(s));
  if (complete) await writeFile(join(OUT_DIR, 'latest.json'), json);
  process.stdout.write(`wrote ${file}${complete ? ' and latest.json' : ''}; total ${elapsedS.toFixed(0)} s\n`);
}

// Ctrl-C: exit through process.exit so the support helpers' exit hooks kill the broker and
// children and remove temp dirs (a signal's default action would skip them).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench interrupted (${signal}); cleaning up\n`);
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
