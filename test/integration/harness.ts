/**
 * Shared fixtures for integration tests: an agent config with test-friendly timings and a
 * way to read the agent's own structured log lines.
 */
import { join } from 'node:path';
import type { AfterHook } from '../support/cleanup.js';
import { runAgent, writeConfig } from '../support/cli.js';
import type { AgentProcess, LogLine } from '../support/cli.js';
import { makeTempDir } from '../support/temp.js';

export interface AgentFixture {
  dir: string;
  configPath: string;
  storePath: string;
  deviceId: string;
  dataTopic: string;
  statusTopic: string;
  start(): AgentProcess;
}

export interface FixtureOptions {
  url: string;
  qos?: 0 | 1 | 2;
  inflight?: number;
  count?: number;
  interval?: string;
  keepalive?: string;
  pingTimeout?: string;
  minDelay?: string;
  maxDelay?: string;
  sources?: unknown[];
  extra?: Record<string, unknown>;
  t: AfterHook;
}

let fixtureCounter = 0;

export async function agentFixture(opts: FixtureOptions): Promise<AgentFixture> {
  const dir = await makeTempDir('sg-it-', opts.t);
  const deviceId = `gw-${process.pid}-${++fixtureCounter}`;
  const storePath = join(dir, 'store');
  const config = {
    device: { id: deviceId },
    mqtt: {
      url: opts.url,
      inflight: opts.inflight ?? 10,
      keepalive: opts.keepalive ?? '5s',
      ...(opts.pingTimeout === undefined ? {} : { pingTimeout: opts.pingTimeout }),
      connectTimeout: '3s',
      reconnect: { minDelay: opts.minDelay ?? '100ms', maxDelay: opts.maxDelay ?? '1s' },
    },
    store: { path: storePath },
    publish: { qos: opts.qos ?? 1 },
    sources: opts.sources ?? [{ type: 'simulated', name: 'sim', interval: opts.interval ?? '0ms', ...(opts.count === undefined ? {} : { count: opts.count }) }],
    log: { level: 'debug' },
    ...opts.extra,
  };
  const configPath = await writeConfig(dir, config);
  return {
    dir,
    configPath,
    storePath,
    deviceId,
    dataTopic: `sensorgate/${deviceId}/sim`,
    statusTopic: `sensorgate/${deviceId}/status`,
    start: () => runAgent({ configPath, t: opts.t }),
  };
}

/** Matches an agent log line by its `msg` field (substring). */
export function logMsg(substring: string): (entry: LogLine) => boolean {
  return (entry) => typeof entry.json?.msg === 'string' && entry.json.msg.includes(substring);
}

export function countLogs(agent: AgentProcess, substring: string): number {
  return agent.lines.filter(logMsg(substring)).length;
}
