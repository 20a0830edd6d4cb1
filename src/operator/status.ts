/**
 * `sensorgate status`: asks the running agent (GET /status.json on metrics.listen) and prints a
 * short table. The agent's own view, not the store's: it works while the agent holds the store.
 */
import type { AgentConfig } from '../config/types.js';
import type { Health } from '../observe/health.js';
import type { AgentSnapshot } from '../observe/snapshot.js';
import { formatAge, formatBytes, formatTable } from './format.js';

export type StatusDocument = AgentSnapshot & { health: Health; healthWindowMs: number };

const FETCH_TIMEOUT_MS = 5_000;

/** Where the agent of `config` answers; a string says why there is no such place. */
export function statusUrl(config: AgentConfig, configPath: string): string | { problem: string } {
  const listen = config.metrics.listen;
  if (listen === undefined) {
    return {
      problem:
        `metrics.listen is not set in ${configPath}, so the agent has no status endpoint. ` +
        'Add `metrics: {listen: "127.0.0.1:9464"}` to the config and restart the agent (or pass --url).',
    };
  }
  // A listener on every address is reached on loopback from here.
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}/status.json`;
}

export async function fetchStatus(url: string): Promise<StatusDocument | { problem: string }> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
    return { problem: `cannot reach the agent at ${url}: ${why}. Is it running (systemctl status sensorgate)?` };
  }
  if (!response.ok) return { problem: `${url} answered ${response.status} ${response.statusText}: is that a sensorgate agent?` };
  try {
    return (await response.json()) as StatusDocument;
  } catch {
    return { problem: `${url} did not answer with JSON: is that a sensorgate agent?` };
  }
}

const ago = (now: number, at: number | null): string => (at === null ? 'never' : `${formatAge(now - at)} ago`);

export function formatStatus(s: StatusDocument): string {
  const { now } = s;
  const link = s.connected ? `connected ${s.connectedSince === null ? '' : `for ${formatAge(now - s.connectedSince)}`}`.trimEnd() : 'DISCONNECTED';
  const oldest = s.queue.oldestEnqueuedAt === null ? '' : `, oldest ${formatAge(now - s.queue.oldestEnqueuedAt)}`;
  const health = s.health.healthy ? 'ok' : `UNHEALTHY: ${s.health.reason ?? ''}`;
  const summary = formatTable([
    ['device', `${s.device} (sensorgate ${s.version}, up ${formatAge(now - s.startedAt)})`],
    ['broker', `${s.broker}  ${link}  (reconnects ${s.reconnects})`],
    ['queue', `${s.queue.messages} message(s), ${formatBytes(s.queue.bytes)}${oldest}; ${s.inflight} in flight`],
    ['delivery', `last ${ago(now, s.lastDeliveryAt)}; published ${s.published}, acked ${s.acked}, resent ${s.resent}, dropped ${s.dropped}`],
    ['health', health],
  ]);
  if (s.sources.length === 0) return `${summary}\nno sources configured\n`;
  const rows = [['source', 'type', 'state', 'last reading', 'readings', 'parse errors', 'failures']];
  for (const source of s.sources) {
    const state = source.portOpen === false && source.state === 'running' ? 'running (port closed)' : source.state;
    rows.push([source.name, source.type, state, ago(now, source.lastReadingAt), String(source.readings), String(source.parseErrors), String(source.failures)]);
  }
  const errors = s.sources.filter((source) => source.state !== 'running' && source.lastError !== undefined).map((source) => `${source.name}: ${source.lastError ?? ''}`);
  return `${summary}\n${formatTable(rows)}${errors.length === 0 ? '' : `\nlast errors:\n${errors.map((e) => `  ${e}\n`).join('')}`}`;
}
