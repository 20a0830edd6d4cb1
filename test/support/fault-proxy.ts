/**
 * A TCP proxy between the agent and a broker that injects link faults on command and
 * accounts for the MQTT packets crossing it. Bytes are forwarded unchanged.
 *
 * Fault model:
 * - latency / bandwidth apply per direction to data that arrives after the change; order is
 *   always preserved (a later chunk never overtakes an earlier one).
 * - blackhole: both directions stop without FIN or RST, like a cable pulled mid-route.
 *   'hold' (default) delivers the held bytes when lifted, as TCP retransmission would;
 *   'drop' discards them. Closes and resets that happen during a blackhole are held too, so
 *   the far side keeps a half-open connection until its own keepalive notices.
 * - resetAll: RST to both sides of every current connection.
 * - refuse: new connections are accepted and immediately reset (the client sees its connect
 *   fail with ECONNRESET rather than ECONNREFUSED; the listening port stays ours).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { registerCleanup, type AfterHook } from './cleanup.js';
import { MqttAccounting, type AccountingOptions, type ConnectionAccounting } from './mqtt-accounting.js';
import { waitUntil } from './wait.js';
import { listenOnLoopback } from './ports.js';

export type BlackholeMode = 'hold' | 'drop';

export interface FaultProxyOptions extends AccountingOptions {
  targetPort: number;
  targetHost?: string;
  latencyMs?: number;
  bandwidth?: number | null;
  t?: AfterHook;
}

export interface FaultProxy {
  readonly port: number;
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  /** Currently open proxied connections. */
  readonly connections: number;
  /** Connections accepted since start, including refused ones. */
  readonly totalConnections: number;
  /** MQTT packet accounting (counts, CONNECTs, client PUBLISHes, inflight). */
  readonly mqtt: MqttAccounting;
  /** Shorthand for mqtt.maxInflightObserved. */
  readonly maxInflightObserved: number;
  /**
   * Bytes on the wire across every connection (TCP payload, so MQTT bytes without TCP/IP
   * headers): client→broker counted as they reach the proxy, broker→client as delivered.
   */
  readonly bytes: WireBytes;
  setLatency(oneWayMs: number): void;
  setBandwidth(bytesPerSecond: number | null): void;
  blackhole(on: boolean, mode?: BlackholeMode): void;
  resetAll(): void;
  refuse(on: boolean): void;
  /** Resolves once totalConnections ≥ n. */
  waitForConnections(n: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface WireBytes {
  readonly fromClient: number;
  readonly toClient: number;
}

interface Controls {
  latencyMs: number;
  bandwidth: number | null;
  blackhole: BlackholeMode | null;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const proxy = new TcpFaultProxy(opts);
  await proxy.listen();
  registerCleanup(opts.t, () => proxy.close());
  return proxy;
}

function hardReset(socket: Socket): void {
  if (socket.destroyed) return;
  // On Node 20, an RST while our FIN is still pending fails with EINVAL and leaves the handle
  // open for ever, spinning the test process at exit: plain destroy in that window.
  if (socket.writableEnded && !socket.writableFinished) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

type Item =
  | { kind: 'data'; chunk: Buffer; readyAt: number }
  | { kind: 'end'; readyAt: number }
  | { kind: 'reset'; readyAt: number };

// Reading from the source pauses above HIGH queued bytes so a throttled lane cannot
// buffer a whole backlog in memory; it resumes below LOW.
const HIGH_WATER = 1 << 20;
const LOW_WATER = 1 << 18;

/** One direction of one connection: a FIFO released by time, bandwidth and blackhole state. */
class Lane {
  private readonly queue: Item[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextFreeAt = 0;
  private waitingDrain = false;
  private paused = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly controls: Controls,
    private readonly onDeliver: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.queue.push({ kind: 'data', chunk, readyAt: performance.now() + this.controls.latencyMs });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.src.pause();
    }
    this.pump();
  }

  pushMarker(kind: 'end' | 'reset'): void {
    this.queue.push({ kind, readyAt: performance.now() + this.controls.latencyMs });
    this.pump();
  }

  /** Re-evaluates after a control change (latency, bandwidth, blackhole lifted). */
  kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, Math.ceil(delayMs)));
  }

  private pump(): void {
    if (this.timer !== undefined || this.waitingDrain) return;
    while (this.queue.length > 0) {
      if (this.dst.destroyed) {
        this.dispose();
        return;
      }
      if (this.controls.blackhole === 'drop') this.dropData();
      if (this.controls.blackhole !== null) return;
      const item = this.queue[0];
      if (item === undefined) return;
      const now = performance.now();
      if (item.readyAt > now) {
        this.schedule(item.readyAt - now);
        return;
      }
      if (item.kind === 'end') {
        this.queue.shift();
        this.dst.end();
        continue;
      }
      if (item.kind === 'reset') {
        this.dispose();
        hardReset(this.dst);
        return;
      }
      let chunk = item.chunk;
      const bandwidth = this.controls.bandwidth;
      if (bandwidth !== null) {
        if (this.nextFreeAt > now) {
          this.schedule(this.nextFreeAt - now);
          return;
        }
        // Slices of ~20 ms worth keep the rate smooth without a timer per byte.
        const slice = Math.max(1, Math.floor(bandwidth / 50));
        if (chunk.length > slice) {
          item.chunk = chunk.subarray(slice);
          chunk = chunk.subarray(0, slice);
        } else {
          this.queue.shift();
        }
        this.nextFreeAt = Math.max(now, this.nextFreeAt) + (chunk.length * 1000) / bandwidth;
      } else {
        this.queue.shift();
      }
      this.queuedBytes -= chunk.length;
      if (this.paused && this.queuedBytes < LOW_WATER) {
        this.paused = false;
        this.src.resume();
      }
      this.onDeliver(chunk);
      if (!this.dst.write(chunk)) {
        this.waitingDrain = true;
        this.dst.once('drain', () => {
          this.waitingDrain = false;
          this.pump();
        });
        return;
      }
    }
  }

  private dropData(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const item = this.queue[i];
      if (item?.kind === 'data') {
        this.queuedBytes -= item.chunk.length;
        this.queue.splice(i, 1);
      }
    }
    if (this.paused) {
      this.paused = false;
      this.src.resume();
    }
  }
}

class ProxiedConnection {
  readonly toBroker: Lane;
  readonly toClient: Lane;
  private closedSides = 0;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    controls: Controls,
    accounting: ConnectionAccounting,
    bytes: { fromClient: number; toClient: number },
    onGone: () => void,
  ) {
    this.toBroker = new Lane(client, upstream, controls, () => undefined);
    this.toClient = new Lane(upstream, client, controls, (chunk) => {
      bytes.toClient += chunk.length;
      accounting.toClient(chunk);
    });

    client.on('data', (chunk: Buffer) => {
      bytes.fromClient += chunk.length;
      accounting.fromClient(chunk);
      this.toBroker.push(chunk);
    });
    upstream.on('data', (chunk: Buffer) => this.toClient.push(chunk));
    client.on('end', () => this.toBroker.pushMarker('end'));
    upstream.on('end', () => this.toClient.pushMarker('end'));
    // An error on one side (ECONNRESET, ECONNREFUSED) becomes an RST on the other.
    client.on('error', () => this.toBroker.pushMarker('reset'));
    upstream.on('error', () => this.toClient.pushMarker('reset'));
    const onClose = (): void => {
      if (++this.closedSides === 2) {
        this.toBroker.dispose();
        this.toClient.dispose();
        onGone();
      }
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
  }

  kick(): void {
    this.toBroker.kick();
    this.toClient.kick();
  }

  reset(): void {
    this.toBroker.dispose();
    this.toClient.dispose();
    hardReset(this.client);
    hardReset(this.upstream);
  }
}

class TcpFaultProxy implements FaultProxy {
  readonly mqtt: MqttAccounting;
  private readonly byteCounts = { fromClient: 0, toClient: 0 };
  private readonly server: Server;
  private readonly live = new Set<ProxiedConnection>();
  private readonly controls: Controls;
  private refusing = false;
  private accepted = 0;
  private portValue = 0;

  constructor(private readonly opts: FaultProxyOptions) {
    this.mqtt = new MqttAccounting(opts);
    this.controls = { latencyMs: opts.latencyMs ?? 0, bandwidth: opts.bandwidth ?? null, blackhole: null };
    // allowHalfOpen so a FIN is forwarded as a FIN instead of closing both directions at once.
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  get port(): number {
    return this.portValue;
  }
  get url(): string {
    return `mqtt://127.0.0.1:${this.portValue}`;
  }
  get connections(): number {
    return this.live.size;
  }
  get totalConnections(): number {
    return this.accepted;
  }
  get maxInflightObserved(): number {
    return this.mqtt.maxInflightObserved;
  }
  get bytes(): WireBytes {
    return { ...this.byteCounts };
  }

  async listen(): Promise<void> {
    this.portValue = await listenOnLoopback(this.server);
  }

  setLatency(oneWayMs: number): void {
    if (!(oneWayMs >= 0)) throw new RangeError(`latency must be >= 0, got ${oneWayMs}`);
    this.controls.latencyMs = oneWayMs;
    this.kickAll();
  }

  setBandwidth(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && !(bytesPerSecond > 0)) {
      throw new RangeError(`bandwidth must be > 0 or null, got ${bytesPerSecond}`);
    }
    this.controls.bandwidth = bytesPerSecond;
    this.kickAll();
  }

  blackhole(on: boolean, mode: BlackholeMode = 'hold'): void {
    this.controls.blackhole = on ? mode : null;
    this.kickAll();
  }

  resetAll(): void {
    for (const conn of [...this.live]) conn.reset();
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  waitForConnections(n: number, timeoutMs: number): Promise<void> {
    return waitUntil(() => this.accepted >= n, timeoutMs, `${n} proxied connections`, {
      detail: () => `accepted so far: ${this.accepted}`,
    }).then(() => undefined);
  }

  async close(): Promise<void> {
    this.refusing = true;
    for (const conn of [...this.live]) {
      conn.client.destroy();
      conn.upstream.destroy();
    }
    this.live.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const index = this.accepted++;
    client.setNoDelay(true);
    if (this.refusing) {
      client.on('error', () => undefined);
      hardReset(client);
      return;
    }
    const upstream = createConnection({
      host: this.opts.targetHost ?? '127.0.0.1',
      port: this.opts.targetPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    const conn = new ProxiedConnection(client, upstream, this.controls, this.mqtt.openConnection(index), this.byteCounts, () =>
      this.live.delete(conn),
    );
    this.live.add(conn);
  }

  private kickAll(): void {
    for (const conn of this.live) conn.kick();
  }
}
