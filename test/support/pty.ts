/**
 * A fake serial device on a real pseudo-terminal: socat links a pty (at a stable symlink path,
 * which the source opens with the real serialport binding) to its own stdin/stdout, which the
 * test holds. The test writes what the device sends and reads what the source writes (poll
 * commands). Killing socat removes the pty: the source sees the same hangup as on a USB unplug;
 * starting it again at the same path is the replug.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { registerCleanup, trackChild } from './cleanup.js';
import type { AfterHook } from './cleanup.js';
import { exitPromise, isRunning, LogBuffer, terminate } from './proc.js';
import type { ExitInfo } from './proc.js';
import { makeTempDir } from './temp.js';
import { sleep } from './wait.js';

export interface PtyDevice {
  /** The path the source opens: a symlink to /dev/pts/N, the same across unplug/plug. */
  readonly path: string;
  readonly plugged: boolean;
  /** Everything the source wrote to the port while plugged (poll commands), in order. */
  received(): Buffer;
  /** Called with each chunk the source writes (for responders). */
  onData(listener: (chunk: Buffer) => void): void;
  /** Sends bytes as the device. Bytes sent while the source has the port closed are lost, as on a real line. */
  write(data: string | Buffer): Promise<void>;
  /** Kills socat (SIGTERM): the pty and its link go away. */
  unplug(): Promise<void>;
  /** Starts socat again at the same path. */
  plug(): Promise<void>;
  close(): Promise<void>;
}

export interface PtyOptions {
  t?: AfterHook;
  /** Directory for the link (default: a new temp dir). */
  dir?: string;
  /** Link name (default `ttySG0`). */
  name?: string;
  /** Create the pty now (default true); false: the port is absent until plug(). */
  plugged?: boolean;
}

const LINK_TIMEOUT_MS = 5_000;

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

class SocatPty implements PtyDevice {
  private child: ChildProcessWithoutNullStreams | undefined;
  private exited: Promise<ExitInfo> | undefined;
  private readonly chunks: Buffer[] = [];
  private readonly listeners: Array<(chunk: Buffer) => void> = [];
  private readonly log = new LogBuffer(100_000);

  constructor(readonly path: string) {}

  get plugged(): boolean {
    return this.child !== undefined && isRunning(this.child);
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.listeners.push(listener);
  }

  async plug(): Promise<void> {
    if (this.plugged) throw new Error(`pty ${this.path} is already plugged`);
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.path}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(child);
    this.child = child;
    this.exited = exitPromise(child);
    child.stdout.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      for (const listener of this.listeners) listener(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => this.log.append(chunk.toString()));
    // A write racing with an unplug would otherwise be an unhandled 'error' (EPIPE).
    child.stdin.on('error', () => undefined);
    const deadline = Date.now() + LINK_TIMEOUT_MS;
    while (!(await exists(this.path))) {
      if (!isRunning(child)) throw new Error(`socat exited before creating ${this.path}:\n${this.log.text()}`);
      if (Date.now() > deadline) throw new Error(`socat did not create ${this.path} within ${LINK_TIMEOUT_MS} ms:\n${this.log.text()}`);
      await sleep(10);
    }
  }

  write(data: string | Buffer): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.plugged) return Promise.reject(new Error(`pty ${this.path} is unplugged`));
    return new Promise((resolve, reject) => child.stdin.write(data, (err) => (err ? reject(err) : resolve())));
  }

  async unplug(): Promise<void> {
    const { child, exited } = this;
    if (child === undefined || exited === undefined) return;
    this.child = undefined;
    const { forced } = await terminate(child, exited, 'SIGTERM', 5_000);
    // socat removes its link on SIGTERM; after a SIGKILL it cannot, and a stale link would
    // point at a /dev/pts number another pty may reuse.
    if (forced || (await exists(this.path))) await rm(this.path, { force: true });
  }

  async close(): Promise<void> {
    await this.unplug();
  }

  output(): string {
    return this.log.text();
  }
}

export async function createPty(options: PtyOptions = {}): Promise<PtyDevice> {
  const dir = options.dir ?? (await makeTempDir('pty', options.t));
  const pty = new SocatPty(join(dir, options.name ?? 'ttySG0'));
  registerCleanup(options.t, () => pty.close());
  if (options.plugged ?? true) await pty.plug();
  return pty;
}
