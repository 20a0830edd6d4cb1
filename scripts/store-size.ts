/**
 * Measures how large the store directory gets under a long outage with a bounded store:
 * a source writing flat out, no broker, the directory size sampled every 200 ms.
 *
 *   npm run build && node dist/scripts/store-size.js [--seconds 25] [--payload json|random]
 *
 * `json` runs the real CLI with the simulated source (about 95-byte JSON messages, which
 * LevelDB's compression shrinks). `random` commits incompressible 100-byte payloads straight
 * into the outbox, the worst case for the directory size. Not part of `npm test`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/observe/logger.js';
import { openOutbox } from '../src/outbox/level-outbox.js';
import type { WhenFull } from '../src/outbox/outbox.js';

const MB = 1024 * 1024;
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface Bound {
  maxBytes: number;
  maxMessages: number;
  whenFull: WhenFull;
}

const BOUNDS: Bound[] = [
  { maxBytes: 1 * MB, maxMessages: 0, whenFull: 'drop-oldest' },
  { maxBytes: 8 * MB, maxMessages: 0, whenFull: 'drop-oldest' },
  { maxBytes: 32 * MB, maxMessages: 0, whenFull: 'drop-oldest' },
  { maxBytes: 64 * MB, maxMessages: 0, whenFull: 'drop-oldest' },
  { maxBytes: 8 * MB, maxMessages: 0, whenFull: 'drop-newest' },
  { maxBytes: 0, maxMessages: 20_000, whenFull: 'drop-oldest' },
  { maxBytes: 0, maxMessages: 200_000, whenFull: 'drop-oldest' },
];

export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += await stat(join(dir, name)).then((s) => s.size, () => 0);
  }
  return total;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Samples the directory every 200 ms while `run` lasts; returns the largest size seen. */
async function sampleWhile(store: string, run: Promise<void>): Promise<number> {
  let max = 0;
  let running = true;
  void run.finally(() => (running = false));
  while (running) {
    max = Math.max(max, await directoryBytes(store));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return Math.max(max, await directoryBytes(store));
}

async function viaCli(dir: string, store: string, bound: Bound, seconds: number): Promise<number> {
  const config = join(dir, 'sensorgate.json');
  await writeFile(
    config,
    JSON.stringify({
      device: { id: 'size-probe' },
      mqtt: { url: `mqtt://127.0.0.1:${await closedPort()}`, reconnect: { minDelay: '1s', maxDelay: '5s' } },
      store: { path: store, ...bound },
      sources: [{ type: 'simulated', name: 'sim', interval: '0ms' }],
      log: { level: 'warn' },
    }),
  );
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGTERM'), seconds * 1000);
  const max = await sampleWhile(store, exited);
  clearTimeout(timer);
  return max;
}

async function viaOutbox(store: string, bound: Bound, seconds: number): Promise<number> {
  const outbox = await openOutbox({ path: store, ...bound, sync: false }, silentLogger);
  const until = Date.now() + seconds * 1000;
  const run = (async () => {
    while (Date.now() < until) {
      await outbox.commit(Array.from({ length: 64 }, () => ({ topic: 'sensorgate/size-probe/sim', payload: randomBytes(100), qos: 1 as const, retain: false })));
    }
    await outbox.close();
  })();
  return sampleWhile(store, run);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '25' }, payload: { type: 'string', default: 'json' } } });
  const seconds = Number(values.seconds);
  const payload = values.payload;
  if (payload !== 'json' && payload !== 'random') throw new Error('--payload must be json or random');
  process.stdout.write(`payload ${payload}, ${seconds} s flat out per bound, broker unreachable\n\n`);
  process.stdout.write('bound                     | policy      | max dir MB | max dir / bound\n');
  process.stdout.write('--------------------------+-------------+------------+----------------\n');
  for (const bound of BOUNDS) {
    const dir = await mkdtemp(join(tmpdir(), 'sensorgate-size-'));
    const store = join(dir, 'store');
    try {
      const max = payload === 'json' ? await viaCli(dir, store, bound, seconds) : await viaOutbox(store, bound, seconds);
      const label = bound.maxBytes > 0 ? `maxBytes ${bound.maxBytes / MB} MB` : `maxMessages ${bound.maxMessages}`;
      const ratio = bound.maxBytes > 0 ? (max / bound.maxBytes).toFixed(2) : '-';
      process.stdout.write(`${label.padEnd(25)} | ${bound.whenFull.padEnd(11)} | ${(max / MB).toFixed(2).padStart(10)} | ${ratio.padStart(14)}\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

await main();
