/**
 * `npm run bench`: sensorgate vs MQTT.js + mqtt-level-store vs MQTT.js in memory, on one
 * mosquitto, each measurement in its own child process. Prints a table and writes it as JSON
 * to .bench-out/bench-<date>.json and .bench-out/latest.json.
 *
 *   node dist/scripts/bench/run.js [--quick] [--cpu-prof]
 *
 * --quick     smaller N everywhere (sanity run, ~30 s)
 * --cpu-prof  write V8 CPU profiles of the sensorgate children to .bench-out/prof/
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBroker } from '../../test/support/broker.js';
import type { Broker } from '../../test/support/broker.js';
import { startFaultProxy } from '../../test/support/fault-proxy.js';
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
  latencyN: number;
  smallBacklog: number;
  largeBacklog: number;
}

const FULL: Plan = { n: 20_000, latencyN: 1_000, smallBacklog: 20_000, largeBacklog: 200_000 };
const QUICK: Plan = { n: 2_000, latencyN: 200, smallBacklog: 2_000, largeBacklog: 20_000 };
const INFLIGHT = 20;
const ONE_WAY_MS = 50;
const OUT_DIR = fileURLToPath(new URL('../../../.bench-out/', import.meta.url));

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'cpu-prof': { type: 'boolean', default: false } } });
const plan = args.quick ? QUICK : FULL;

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
): Promise<Outcome> {
  const k = ++counter;
  const scenario: Scenario = {
    client,
    workload,
    n,
    port,
    inflight: INFLIGHT,
    dir: join(work, `${k}-${client}-${workload}`),
    clientId: `bench-${process.pid}-${k}-${client}`,
    timeoutMs,
  };
  const nodeArgs = args['cpu-prof'] && client === 'sensorgate' ? ['--cpu-prof', `--cpu-prof-dir=${join(OUT_DIR, 'prof')}`, `--cpu-prof-name=${k}-${workload}-${n}.cpuprofile`] : [];
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

async function throughput(work: string, broker: Broker, m: Measurements): Promise<void> {
  for (const workload of ['bulk', 'live'] as const) {
    for (const client of CLIENTS) m[workload][client] = await measure(work, client, workload, plan.n, broker.port, 60_000);
  }
}

/** child → counting relay → fault proxy (50 ms each way) → broker; a fresh pair per client. */
async function slowLink(work: string, broker: Broker, m: Measurements): Promise<void> {
  for (const client of CLIENTS) {
    const proxy = await startFaultProxy({ targetPort: broker.port, latencyMs: ONE_WAY_MS });
    const relay = await startCountingRelay(proxy.port);
    try {
      m.latency[client] = await measure(work, client, 'bulk', plan.latencyN, relay.port, 30_000);
      m.wire[client] = { n: plan.latencyN, up: relay.up, down: relay.down, maxInflight: proxy.maxInflightObserved };
    } finally {
      await relay.close();
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
    live: {},
    latency: {},
    wire: {},
    backlogSmall: {},
    backlogLarge: {},
    smallN: plan.smallBacklog,
    largeN: plan.largeBacklog,
  };
  const broker = await startBroker({ verbose: false });
  const work = await makeTempDir('bench');
  try {
    await throughput(work, broker, m);
    await slowLink(work, broker, m);
    await backlog(work, broker, m);
  } finally {
    await broker.close();
    await removeTempDir(work);
  }
  const rows = buildRows(m);
  const elapsedS = (performance.now() - started) / 1000;
  const date = new Date();
  const out = { date: date.toISOString(), quick: args.quick, elapsedS, machine, plan: { ...plan, inflight: INFLIGHT, oneWayLatencyMs: ONE_WAY_MS }, rows, measurements: m };

  process.stdout.write(
    `\nsensorgate bench (${args.quick ? 'quick' : 'full'}) ${out.date}\n` +
      `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryMb} MB, ${machine.kernel} ${machine.arch}; node ${machine.node}; mosquitto ${machine.mosquitto}\n` +
      `N=${plan.n} (throughput), ${plan.latencyN} (RTT ${2 * ONE_WAY_MS} ms), backlog ${plan.smallBacklog}/${plan.largeBacklog}; QoS 1, ~78-byte JSON payload, store sync=false for both stores\n\n` +
      `${formatTable(rows)}\n\n`,
  );
  const failed = Object.entries(m)
    .filter(([, v]) => typeof v === 'object')
    .flatMap(([section, v]) => Object.entries(v as Record<string, Outcome | undefined>).map(([client, o]) => ({ section, client, o })))
    .filter(({ o }) => o !== undefined && 'ok' in o && !o.ok);
  for (const { section, client, o } of failed) if (o && !o.ok) process.stdout.write(`error in ${section}/${client}: ${o.error.split('\n')[0]}\n`);

  await mkdir(OUT_DIR, { recursive: true });
  const json = `${JSON.stringify(out, null, 2)}\n`;
  const file = join(OUT_DIR, `bench-${out.date.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, json);
  await writeFile(join(OUT_DIR, 'latest.json'), json);
  process.stdout.write(`wrote ${file} and latest.json; total ${elapsedS.toFixed(0)} s\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
