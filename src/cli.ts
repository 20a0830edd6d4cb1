#!/usr/bin/env -S node --max-semi-space-size=1 --max-old-space-size=64
/**
 * Command line: parses arguments and hands over to the agent. Every user error ends in a
 * one-paragraph message and a non-zero exit, never a stack trace.
 *
 * The node flags on the first line are part of the product: on a Pi the agent should hold
 * tens of megabytes, not what V8 grows to by default. A 1 MB young generation and a 64 MB old
 * generation keep peak RSS under 100 MB while draining a 200k backlog (the live heap after a
 * GC is ~14 MB); `npm run bench` runs sensorgate with exactly these flags (read from here).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { formatResolvedConfig } from './config/mask.js';
import { securityWarnings } from './config/security.js';
import { resolveLogFormat } from './observe/log-format.js';
import { createLogger } from './observe/logger.js';
import { OutboxOpenError } from './outbox/errors.js';

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

const HELP = `sensorgate — durable sensor-to-MQTT gateway agent

Usage:
  sensorgate run   --config FILE   run the agent (Ctrl-C / SIGTERM stops it cleanly)
  sensorgate check --config FILE   validate FILE and print the resolved config (secrets masked)
  sensorgate ports                 list serial ports, with their /dev/serial/by-id names
  sensorgate repair --config FILE  repair a store that will not open (stop the agent first;
                                   the directory is copied to <store.path>.backup-<time> first)
  sensorgate status --config FILE  ask the running agent (metrics.listen): link, queue, sources
  sensorgate queue  --config FILE  what waits in a stopped agent's store [--peek N] [--purge --yes]
  sensorgate --help | --version

Options:
  -c, --config FILE   YAML (.yaml/.yml) or JSON (.json) configuration
      --url URL       status: the agent's /status.json (instead of metrics.listen)
      --peek N        queue: also show the N oldest messages
      --purge --yes   queue: delete every queued message (not those in flight)
  -h, --help          show this help
  -v, --version       print the version

Environment:
  SENSORGATE_MQTT_PASSWORD   broker password, when the config has neither
                             mqtt.password nor mqtt.passwordFile
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(message: string, code: number): never {
  process.stderr.write(`sensorgate: ${message}\n`);
  process.exit(code);
}

interface Args {
  command: string | undefined;
  config: string | undefined;
  url: string | undefined;
  peek: string | undefined;
  purge: boolean;
  yes: boolean;
  help: boolean;
  version: boolean;
}

function parse(argv: string[]): Args {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        url: { type: 'string' },
        peek: { type: 'string' },
        purge: { type: 'boolean', default: false },
        yes: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
    if (positionals.length > 1) fail(`unexpected argument "${positionals[1]}" (see sensorgate --help)`, EXIT_USAGE);
    return { command: positionals[0], config: values.config, help: values.help, version: values.version, url: values.url, peek: values.peek, purge: values.purge, yes: values.yes };
  } catch (err) {
    return fail(`${(err as Error).message} (see sensorgate --help)`, EXIT_USAGE);
  }
}

async function load(path: string | undefined): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  if (path === undefined) fail('missing --config FILE (see sensorgate --help)', EXIT_USAGE);
  try {
    return await loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, EXIT_USAGE);
    throw err;
  }
}

async function run(path: string | undefined): Promise<void> {
  const config = await load(path);
  // The log reader may go away (a closed pipe, journald restarting): delivery matters more than the log.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const logger = createLogger({
    level: config.log.level,
    format: resolveLogFormat(config.log.format, process.stdout.isTTY === true),
    secrets: [config.mqtt.password],
    base: { device: config.device.id },
  });
  // load() has exited when there is no path.
  for (const warning of await securityWarnings(config, resolve(path as string))) logger.warn(warning.message, warning.path === undefined ? undefined : { path: warning.path });
  // Loaded only for `run`: `check` and `--help` should not pay for LevelDB's native module.
  const { startAgent } = await import('./agent.js');
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  let stopRequested = false;
  let signals = 0;
  const stopAndExit = (running: Awaited<ReturnType<typeof startAgent>>): void => {
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('error during stop', { err });
        process.exit(EXIT_FAILURE);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn('second signal: exiting without a clean stop; queued messages stay in the store', { signal });
      process.exit(EXIT_FAILURE);
    }
    logger.info('signal received', { signal });
    if (agent === undefined) stopRequested = true;
    else stopAndExit(agent);
  };
  // Installed before the agent starts: a service manager may stop us while we are still starting.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    agent = await startAgent(config, { logger });
  } catch (err) {
    if (err instanceof OutboxOpenError) fail(err.message, EXIT_FAILURE);
    throw err;
  }
  if (stopRequested) stopAndExit(agent);
}

/** Scan root for `ports`; tests point it at a fixture tree (dev/, sys/class/tty/). */
const PORTS_ROOT_ENV = 'SENSORGATE_PORTS_ROOT';

async function ports(): Promise<void> {
  const { formatPortList, listSerialPorts } = await import('./sources/serial/ports.js');
  const root = process.env[PORTS_ROOT_ENV] || '/';
  process.stdout.write(formatPortList(await listSerialPorts(root), root));
}

async function status(args: Args): Promise<void> {
  const { fetchStatus, formatStatus, statusUrl } = await import('./operator/status.js');
  let url = args.url;
  if (url === undefined) {
    const where = statusUrl(await load(args.config), args.config ?? '');
    if (typeof where !== 'string') fail(where.problem, EXIT_FAILURE);
    url = where;
  }
  const document = await fetchStatus(url);
  if ('problem' in document) fail(document.problem, EXIT_FAILURE);
  process.stdout.write(formatStatus(document));
}

async function queue(args: Args): Promise<void> {
  const peek = args.peek === undefined ? undefined : Number(args.peek);
  if (peek !== undefined && !(Number.isSafeInteger(peek) && peek > 0)) fail('--peek takes a positive whole number', EXIT_USAGE);
  const config = await load(args.config);
  const { runQueueCommand } = await import('./operator/queue.js');
  process.exitCode = await runQueueCommand({
    storePath: config.store.path,
    ...(peek !== undefined && { peek }),
    purge: args.purge,
    yes: args.yes,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.version) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (args.help || args.command === undefined || args.command === 'help') {
    process.stdout.write(HELP);
    if (!args.help && args.command === undefined) process.exitCode = EXIT_USAGE;
    return;
  }
  switch (args.command) {
    case 'run':
      return run(args.config);
    case 'check': {
      const config = await load(args.config);
      process.stdout.write(formatResolvedConfig(config));
      for (const warning of await securityWarnings(config, resolve(args.config as string))) process.stderr.write(`sensorgate: warning: ${warning.message}\n`);
      return;
    }
    case 'ports':
      return ports();
    case 'repair': {
      const config = await load(args.config);
      const { runRepair } = await import('./repair-command.js');
      process.exitCode = await runRepair(
        config,
        (line) => process.stdout.write(`${line}\n`),
        (line) => process.stderr.write(`${line}\n`),
      );
      return;
    }
    case 'status':
      return status(args);
    case 'queue':
      return queue(args);
    default:
      fail(`unknown command "${args.command}" (see sensorgate --help)`, EXIT_USAGE);
  }
}

// Last resort: the store is durable, so exiting lets the service manager restart us cleanly.
process.on('uncaughtException', (err) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'fatal', msg: 'unexpected error; exiting', err: String(err), stack: err.stack })}\n`);
  process.exit(EXIT_FAILURE);
});

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err), EXIT_FAILURE));
