/**
 * Dead-link detection. TCP alone cannot see a blackholed cellular link (no FIN, no RST)
 * for many minutes, so we ping when either direction has been idle for `keepalive` and
 * give the broker `pingTimeout` to answer with anything.
 */
export interface KeepaliveOptions {
  keepaliveMs: number;
  pingTimeoutMs: number;
  now?: () => number;
}

export interface KeepaliveLink {
  lastSentAt: number;
  lastReceivedAt: number;
  sendPing(onFlushed: () => void): void;
  dead(reason: string): void;
}

export class KeepaliveMonitor {
  private timer: NodeJS.Timeout | undefined;
  private pingSentAt: number | null = null;
  private pingDeadline: number | null = null;
  private readonly now: () => number;
  private readonly tickMs: number;

  constructor(
    private readonly options: KeepaliveOptions,
    private readonly link: KeepaliveLink,
  ) {
    this.now = options.now ?? Date.now;
    this.tickMs = Math.max(50, Math.min(options.keepaliveMs, options.pingTimeoutMs) / 4);
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.pingSentAt = this.pingDeadline = null;
  }

  /** Anything from the broker proves the link is alive. */
  received(): void {
    this.pingSentAt = this.pingDeadline = null;
  }

  tick(): void {
    const now = this.now();
    if (this.pingSentAt !== null) {
      if (this.pingDeadline !== null && now >= this.pingDeadline) {
        this.stop();
        this.link.dead(`no packet from the broker within ${this.options.pingTimeoutMs} ms of PINGREQ`);
      }
      return;
    }
    const idleSend = now - this.link.lastSentAt;
    const idleReceive = now - this.link.lastReceivedAt;
    if (idleSend >= this.options.keepaliveMs || idleReceive >= this.options.keepaliveMs) {
      this.pingSentAt = now;
      // The clock starts when the ping left our buffers: on a slow link it can queue behind data.
      this.link.sendPing(() => {
        if (this.pingSentAt !== null) this.pingDeadline = this.now() + this.options.pingTimeoutMs;
      });
    }
  }
}
