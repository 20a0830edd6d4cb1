/**
 * `sensorgate queue`: what waits in a stopped agent's store (depth, bytes, oldest age), the
 * oldest messages with --peek N, and --purge --yes to throw the backlog away. A running agent
 * holds the store's lock; then this says so and points to `sensorgate status`.
 */
import { OutboxOpenError } from '../outbox/errors.js';
import { inspectStore, storeExists } from '../outbox/inspect.js';
import type { PeekedMessage, QueueSummary } from '../outbox/inspect.js';
import { formatAge, formatBytes, formatTable, previewPayload } from './format.js';

export interface QueueCommand {
  storePath: string;
  peek?: number;
  purge: boolean;
  yes: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function formatSummary(path: string, s: QueueSummary, now: number): string {
  const when = (m: QueueSummary['oldest']): string => (m === null ? '-' : `${new Date(m.enqueuedAt).toISOString()} (${formatAge(now - m.enqueuedAt)} ago, seq ${m.seq})`);
  const rows = [
    ['store', path],
    ['messages', `${s.messages}${s.inFlight > 0 ? ` (${s.inFlight} in flight)` : ''}`],
    ['bytes', formatBytes(s.bytes)],
    ['oldest', when(s.oldest)],
    ['newest', when(s.newest)],
  ];
  if (s.undecodable > 0) rows.push(['undecodable', `${s.undecodable} (moved aside at the next start)`]);
  if (s.quarantined > 0) rows.push(['quarantined', `${s.quarantined} (bad!<seq>, kept for inspection)`]);
  return formatTable(rows);
}

export function formatPeek(messages: readonly PeekedMessage[], now: number): string {
  const rows = [['seq', 'age', 'qos', 'size', 'topic', 'payload']];
  for (const m of messages) {
    if (m.problem !== undefined) {
      rows.push([String(m.seq), '-', '-', formatBytes(m.size), '-', `(cannot decode: ${m.problem})`]);
      continue;
    }
    const qos = `${m.qos ?? '-'}${m.retain === true ? 'r' : ''}${m.flight === undefined ? '' : '*'}`;
    rows.push([String(m.seq), m.enqueuedAt === undefined ? '-' : formatAge(now - m.enqueuedAt), qos, formatBytes(m.size), m.topic ?? '-', previewPayload(m.payload ?? Buffer.alloc(0))]);
  }
  return formatTable(rows) + (messages.some((m) => m.flight !== undefined) ? '* in flight (sent, not yet acknowledged); r retained\n' : '');
}

export async function runQueueCommand(cmd: QueueCommand): Promise<number> {
  if (cmd.purge && !cmd.yes) {
    cmd.err('sensorgate: --purge deletes every queued message for good; add --yes if that is what you want\n');
    return EXIT_USAGE;
  }
  if (!(await storeExists(cmd.storePath))) {
    cmd.out(`no store at ${cmd.storePath}: nothing is queued (the agent creates it on its first start)\n`);
    return EXIT_OK;
  }
  let store;
  try {
    store = await inspectStore(cmd.storePath);
  } catch (err) {
    if (err instanceof OutboxOpenError && err.code === 'OUTBOX_LOCKED') {
      cmd.err(`sensorgate: the agent is running and holds the store at ${cmd.storePath}; use \`sensorgate status\` for its queue (or stop the agent first)\n`);
      return EXIT_FAILURE;
    }
    if (err instanceof OutboxOpenError) {
      cmd.err(`sensorgate: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    throw err;
  }
  try {
    const now = Date.now();
    const summary = await store.summary();
    cmd.out(formatSummary(cmd.storePath, summary, now));
    if (cmd.peek !== undefined && summary.messages + summary.undecodable > 0) cmd.out(`\n${formatPeek(await store.peek(cmd.peek), now)}`);
    if (cmd.purge) {
      const { deleted, keptInFlight } = await store.purge();
      const kept = keptInFlight > 0 ? `; kept ${keptInFlight} in flight (they finish with the broker at the next start)` : '';
      cmd.out(`\npurged: deleted ${deleted} message(s)${kept}\n`);
    }
    return EXIT_OK;
  } finally {
    await store.close();
  }
}
