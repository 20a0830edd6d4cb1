/**
 * The legacy sysfs interface (/sys/class/gpio), for kernels or images without the libgpiod
 * tools. The line is exported if it is not yet, set to input, and its `value` file is read every
 * `pollIntervalMs`: node cannot wait for the POLLPRI that sysfs raises on an edge, and inotify
 * does not fire for sysfs attributes. A pulse shorter than the poll interval can be missed.
 * The line is left exported on stop (unexporting under another user of it would break them).
 *
 * The poll reads synchronously, from a timer: on a SoC GPIO the read is a register access, and
 * skipping the thread-pool round trip and the promises of a sleep loop halved the agent's idle
 * CPU (x86 test host, 5 ms polls: 3.7 % of a core before, 1.4–1.7 % after; see README).
 * On an I2C expander a read is a bus transaction of a fraction of a millisecond, which the event
 * loop can afford at these rates.
 */
import { constants, readSync } from 'node:fs';
import { access, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Level } from './events.js';
import { monotonicNowMs } from './line.js';
import type { GpioLine, LevelEvent } from './line.js';

export interface SysfsOptions {
  /** /sys/class/gpio, or a fixture tree. */
  root: string;
  /** Offset on the chip: the GPIO number is this plus the chip's base, unless `number` is given. */
  line: number;
  number?: number;
  pollIntervalMs: number;
}

/** After writing `export`, how long udev may take to create gpioN and give us its files. */
const EXPORT_WAIT_MS = 2_000;

export function parseValue(text: string): Level | undefined {
  const trimmed = text.trim();
  return trimmed === '1' ? 1 : trimmed === '0' ? 0 : undefined;
}

/** The lowest `base` among the gpiochip* directories under `root` (the SoC's own chip on a Pi). */
export async function lowestChipBase(root: string): Promise<number | undefined> {
  let lowest: number | undefined;
  for (const entry of await readdir(root)) {
    if (!/^gpiochip\d+$/.test(entry)) continue;
    const base = Number((await readFile(join(root, entry, 'base'), 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(base) && base >= 0 && (lowest === undefined || base < lowest)) lowest = base;
  }
  return lowest;
}

const exists = (path: string): Promise<boolean> => access(path, constants.F_OK).then(() => true, () => false);

export class SysfsLine implements GpioLine {
  readonly description: string;
  private resolved: number | undefined;

  constructor(private readonly options: SysfsOptions) {
    this.description = `sysfs ${options.root} ${options.number !== undefined ? `gpio${options.number}` : `line ${options.line}`}`;
  }

  async read(): Promise<Level> {
    const dir = await this.prepare();
    const level = parseValue(await readFile(join(dir, 'value'), 'utf8'));
    if (level === undefined) throw new Error(`${join(dir, 'value')} does not hold 0 or 1`);
    return level;
  }

  async watch(onLevel: (event: LevelEvent) => void, signal: AbortSignal): Promise<void> {
    const dir = await this.prepare();
    const handle = await open(join(dir, 'value'), 'r');
    try {
      await new Promise<void>((resolve, reject) => {
        let last: Level | undefined;
        const buffer = Buffer.alloc(16);
        const poll = (): void => {
          let level: Level | undefined;
          try {
            level = readLevel(handle.fd, buffer);
          } catch (err) {
            finish();
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          // An empty or odd read (a fixture being rewritten) is skipped; the next poll tells.
          if (level !== undefined && level !== last) {
            last = level;
            onLevel({ level, atMs: monotonicNowMs() });
          }
        };
        const timer = setInterval(poll, this.options.pollIntervalMs);
        const finish = (): void => {
          clearInterval(timer);
          signal.removeEventListener('abort', onAbort);
        };
        const onAbort = (): void => {
          finish();
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        if (signal.aborted) onAbort();
        else poll();
      });
    } finally {
      await handle.close();
    }
  }

  /** Exports the line if needed and makes it an input; returns its directory. */
  private async prepare(): Promise<string> {
    const number = await this.number();
    const dir = join(this.options.root, `gpio${number}`);
    if (!(await exists(join(dir, 'value')))) {
      await writeFile(join(this.options.root, 'export'), String(number)).catch((err: NodeJS.ErrnoException) => {
        // EBUSY: exported meanwhile, or held by a character-device user (then the wait below fails).
        if (err.code !== 'EBUSY') throw new Error(`cannot export gpio${number} (${err.code ?? err.message}): is the user in the gpio group?`);
      });
      const deadline = Date.now() + EXPORT_WAIT_MS;
      while (!(await exists(join(dir, 'value')))) {
        if (Date.now() > deadline) throw new Error(`gpio${number} did not appear under ${this.options.root} after export`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    // Input-only lines have no direction file; a line already an input needs no write.
    const direction = await readFile(join(dir, 'direction'), 'utf8').catch(() => undefined);
    if (direction !== undefined && direction.trim() !== 'in') await writeFile(join(dir, 'direction'), 'in');
    return dir;
  }

  private async number(): Promise<number> {
    if (this.options.number !== undefined) return this.options.number;
    if (this.resolved !== undefined) return this.resolved;
    const base = await lowestChipBase(this.options.root);
    if (base === undefined) throw new Error(`no gpiochip*/base under ${this.options.root}: set sysfsNumber to the line's GPIO number`);
    this.resolved = base + this.options.line;
    return this.resolved;
  }
}

function readLevel(fd: number, buffer: Buffer): Level | undefined {
  // sysfs attributes are read again from offset 0 on the same descriptor.
  const bytesRead = readSync(fd, buffer, 0, buffer.length, 0);
  return parseValue(buffer.toString('utf8', 0, bytesRead));
}
