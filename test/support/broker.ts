/**
 * A real MQTT broker in a child process on a loopback port: mosquitto when installed (and
 * always in CI), aedes otherwise or when MQTT_TEST_BROKER=aedes.
 *
 * What a restart keeps:
 * - mosquitto, persistence: true  → sessions, subscriptions, queued QoS 1/2 messages and
 *   retained messages survive stop()+restart(): mosquitto writes its db on SIGTERM. After
 *   kill() only what the last autosave wrote survives (none unless `autosaveInterval` is set).
 * - mosquitto, persistence: false → a restart loses everything.
 * - aedes → in-memory only; a restart always loses everything (`persistentAcrossRestart` is false).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerCleanup, trackChild, type AfterHook } from './cleanup.js';
import { freePort, waitForPort } from './ports.js';
import { exitPromise, isRunning, LogBuffer, terminate, type ExitInfo } from './proc.js';
import { makeTempDir, removeTempDir } from './temp.js';
import { sleep, waitUntil, withTimeout } from './wait.js';

export type BrokerKind = 'mosquitto' | 'aedes';

export interface BrokerOptions {
  /** mosquitto only; default false. */
  persistence?: boolean;
  /** Persistence directory (kept by close()); default: a temp dir removed by close(). */
  dir?: string;
  /** Fixed port; default a free one (retried if another process grabs it first). */
  port?: number;
  /** Appended verbatim to the mosquitto config. */
  extraConfig?: string;
  /** Overrides MQTT_TEST_BROKER and auto-detection. */
  kind?: BrokerKind;
  /** mosquitto `log_type all` (every packet in logs()); default true. */
  verbose?: boolean;
  /** mosquitto autosave_interval in seconds; default: not set (mosquitto's 1800 s). */
  autosaveInterval?: number;
  startTimeoutMs?: number;
  /** Registers close() with t.after(). */
  t?: AfterHook;
}

export interface Broker {
  readonly kind: BrokerKind;
  readonly port: number;
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  /** Persistence directory (mosquitto.db lives here). */
  readonly dir: string;
  readonly persistence: boolean;
  /** True only when a stop()+restart() keeps sessions (mosquitto with persistence). */
  readonly persistentAcrossRestart: boolean;
  readonly running: boolean;
  readonly pid: number | undefined;
  /** SIGTERM, wait, SIGKILL after timeoutMs (default 10 s). No-op when not running. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL: no db write, sockets vanish as in a crash. */
  kill(): Promise<void>;
  /** stop() if running, then start again on the same port with the same persistence dir. */
  restart(): Promise<void>;
  /** stdout+stderr of every run so far (newest ~2 MB). */
  logs(): string;
  /** stop() and remove the temp dirs this launcher created. */
  close(): Promise<void>;
}

const MOSQUITTO_CANDIDATES = [
  '/usr/sbin/mosquitto',
  '/usr/local/sbin/mosquitto',
  '/opt/homebrew/sbin/mosquitto',
  '/usr/bin/mosquitto',
  '/usr/local/bin/mosquitto',
];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findMosquitto(): string | undefined {
  const fromEnv = process.env.MOSQUITTO_BIN;
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  const onPath = (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'mosquitto'));
  return [...MOSQUITTO_CANDIDATES, ...onPath].find(isExecutable);
}

export function resolveBrokerKind(requested?: BrokerKind): BrokerKind {
  const env = process.env.MQTT_TEST_BROKER;
  const kind = requested ?? (env === 'aedes' || env === 'mosquitto' ? env : undefined);
  if (kind === 'aedes') return 'aedes';
  const found = findMosquitto() !== undefined;
  if (kind === 'mosquitto' && !found) {
    throw new Error('MQTT_TEST_BROKER=mosquitto but no mosquitto binary found (set MOSQUITTO_BIN)');
  }
  return found ? 'mosquitto' : 'aedes';
}

export async function startBroker(opts: BrokerOptions = {}): Promise<Broker> {
  const kind = resolveBrokerKind(opts.kind);
  const workDir = await makeTempDir(`broker-${kind}`);
  const broker = new ManagedBroker(kind, workDir, opts);
  try {
    await broker.firstStart(opts.port);
  } catch (err) {
    await broker.close();
    throw err;
  }
  registerCleanup(opts.t, () => broker.close());
  return broker;
}

const ADDRESS_IN_USE = /Address already in use|EADDRINUSE/;
const READY: Record<BrokerKind, RegExp> = {
  mosquitto: /mosquitto version \S+ running/,
  aedes: /aedes running on port/,
};

class ManagedBroker implements Broker {
  readonly persistence: boolean;
  readonly dir: string;
  private portValue = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private readonly log = new LogBuffer();
  // Readiness is judged on this run's output only, so an old "running" line cannot fool it.
  private runLog = '';
  private runs = 0;
  private closed = false;

  constructor(
    readonly kind: BrokerKind,
    private readonly workDir: string,
    private readonly opts: BrokerOptions,
  ) {
    this.persistence = kind === 'mosquitto' && opts.persistence === true;
    this.dir = opts.dir ?? workDir;
  }

  get port(): number {
    return this.portValue;
  }
  get url(): string {
    return `mqtt://127.0.0.1:${this.portValue}`;
  }
  get persistentAcrossRestart(): boolean {
    return this.persistence;
  }
  get running(): boolean {
    return this.child !== undefined && isRunning(this.child);
  }
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  logs(): string {
    return this.log.text();
  }

  async firstStart(fixedPort: number | undefined): Promise<void> {
    const attempts = fixedPort === undefined ? 5 : 1;
    for (let attempt = 1; ; attempt++) {
      this.portValue = fixedPort ?? (await freePort());
      try {
        await this.launch();
        return;
      } catch (err) {
        if (attempt >= attempts || !ADDRESS_IN_USE.test(this.runLog)) throw err;
      }
    }
  }

  async restart(): Promise<void> {
    if (this.closed) throw new Error('broker is closed');
    await this.stop();
    // The port is ours by convention only while stopped; if a stranger grabbed it, wait a bit.
    const deadline = Date.now() + 3000;
    for (;;) {
      try {
        await this.launch();
        return;
      } catch (err) {
        if (!ADDRESS_IN_USE.test(this.runLog) || Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !isRunning(child)) return;
    const { forced } = await terminate(child, this.exited, 'SIGTERM', timeoutMs);
    if (forced) this.log.append(`[support] ${this.kind} ignored SIGTERM for ${timeoutMs} ms; sent SIGKILL\n`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !isRunning(child)) return;
    await terminate(child, this.exited, 'SIGKILL', 5000);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    await removeTempDir(this.workDir);
  }

  private async launch(): Promise<void> {
    this.runs++;
    this.runLog = '';
    this.log.append(`[support] --- ${this.kind} start #${this.runs} on port ${this.portValue} ---\n`);
    const child = this.kind === 'mosquitto' ? await this.spawnMosquitto() : this.spawnAedes();
    this.child = child;
    trackChild(child);
    this.exited = exitPromise(child);
    const onOutput = (data: Buffer): void => {
      const text = data.toString('utf8');
      this.log.append(text);
      if (this.runLog.length < 65_536) this.runLog += text;
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    let failure: string | undefined;
    // 'close' comes after stdio is drained, so the error text is in runLog once it fires.
    const streamsClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.once('error', (err) => {
      this.log.append(`[support] spawn error: ${err.message}\n`);
      failure = `${this.kind} failed to start: ${err.message}`;
    });
    child.once('exit', (code, signal) => {
      failure ??= `${this.kind} exited during startup (code ${code}, signal ${signal})`;
    });

    const timeoutMs = this.opts.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const whyDead = (): string | undefined => (failure === undefined ? undefined : `${failure}\n${this.runLog}`);
    try {
      await waitForPort(this.portValue, timeoutMs, whyDead);
      await waitUntil(
        () => {
          const dead = whyDead();
          if (dead !== undefined) throw new Error(dead);
          return READY[this.kind].test(this.runLog);
        },
        Math.max(100, deadline - Date.now()),
        `${this.kind} to report it is running`,
        { detail: () => this.runLog },
      );
    } catch (err) {
      await terminate(child, this.exited, 'SIGKILL', 5000);
      await withTimeout(streamsClosed, 2000, 'broker stdio to close').catch(() => undefined);
      throw err;
    }
  }

  private async spawnMosquitto(): Promise<ChildProcess> {
    const bin = findMosquitto();
    if (bin === undefined) throw new Error('mosquitto binary not found');
    const confPath = join(this.workDir, 'mosquitto.conf');
    await writeFile(confPath, this.mosquittoConfig());
    return spawn(bin, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.workDir });
  }

  private mosquittoConfig(): string {
    const lines = [
      '# written by test/support/broker.ts',
      `listener ${this.portValue} 127.0.0.1`,
      'allow_anonymous true',
      `persistence ${this.persistence}`,
      // The trailing slash matters: mosquitto concatenates location and file name.
      `persistence_location ${this.dir.endsWith('/') ? this.dir : `${this.dir}/`}`,
      // Default 1000 silently drops messages queued for an offline persistent subscriber;
      // tests that build a backlog larger than that must see every message. 0 = no limit.
      'max_queued_messages 0',
      'max_inflight_messages 20',
      'set_tcp_nodelay true',
      // stderr, not stdout: stdout into a pipe is block-buffered and the "running" line would stall.
      'log_dest stderr',
      'log_timestamp_format %Y-%m-%dT%H:%M:%S',
      'connection_messages true',
    ];
    if (this.opts.verbose ?? true) lines.push('log_type all');
    if (this.opts.autosaveInterval !== undefined) lines.push(`autosave_interval ${this.opts.autosaveInterval}`);
    // As root, mosquitto 2 drops to user "mosquitto", which cannot write our 0700 temp dir.
    if (process.getuid?.() === 0) lines.push('user root');
    if (this.opts.extraConfig) lines.push(this.opts.extraConfig);
    return `${lines.join('\n')}\n`;
  }

  private spawnAedes(): ChildProcess {
    const script = fileURLToPath(new URL('./aedes-child.js', import.meta.url));
    return spawn(process.execPath, [script, String(this.portValue)], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
}
