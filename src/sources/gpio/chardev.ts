/**
 * The GPIO character device through the libgpiod command-line tools: `gpioget` reads the level,
 * a long-running `gpiomon` reports edges. We run the tools rather than bind libgpiod: no native
 * module to build for each board, and the tools are one `apt install gpiod` away.
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { RateLimitedLog } from '../../observe/logger.js';
import type { Logger } from '../../observe/logger.js';
import { LineSplitter, parseGetOutput, parseMonitorLine, parseToolVersion } from './events.js';
import type { Level } from './events.js';
import { getArgs, monitorArgs } from './libgpiod.js';
import type { LineRequest, ToolMajor } from './libgpiod.js';
import { monotonicNowMs } from './line.js';
import type { GpioLine, LevelEvent } from './line.js';

export interface GpioTools {
  gpiomon: string;
  gpioget: string;
}

const TOOL_TIMEOUT_MS = 5_000;
/**
 * gpiomon runs under a small sh wrapper that ties its life to ours. The wrapper holds a pipe from
 * us (fd 3) and kills gpiomon when it reaches end of file, which happens when we stop it and also
 * when we die (kill -9, a crash): an orphaned gpiomon would hold the line, so the next start's
 * gpioget and gpiomon would fail with "Device or resource busy" until an edge made the orphan
 * write into its dead pipe. (Under systemd, KillMode=control-group also reaps it.) The wrapper
 * exits with gpiomon's status; gpiomon's stdout and stderr are ours.
 */
const LIFELINE_WRAPPER = 'exec 3<&0; "$@" </dev/null & c=$!; (read _ <&3; kill $c 2>/dev/null) & r=$!; wait $c; s=$?; kill $r 2>/dev/null; exit $s';
/** After SIGTERM, how long gpiomon gets to release the line before SIGKILL. */
const STOP_GRACE_MS = 2_000;
const STDERR_KEEP_CHARS = 2_000;
const GARBAGE_LOG_INTERVAL_MS = 60_000;

/** Absolute paths of gpiomon and gpioget on `path` (a PATH value), or undefined unless both are there. */
export async function findTools(path: string | undefined): Promise<GpioTools | undefined> {
  const find = async (name: string): Promise<string | undefined> => {
    for (const dir of (path ?? '').split(delimiter)) {
      if (dir === '') continue;
      const candidate = join(dir, name);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // Not in this directory.
      }
    }
    return undefined;
  };
  const [gpiomon, gpioget] = await Promise.all([find('gpiomon'), find('gpioget')]);
  return gpiomon !== undefined && gpioget !== undefined ? { gpiomon, gpioget } : undefined;
}

function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: TOOL_TIMEOUT_MS, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) {
        const detail = stderr.trim().slice(-STDERR_KEEP_CHARS);
        reject(new Error(`${file} ${args.join(' ')} failed: ${detail !== '' ? detail : err.message}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** The tools' libgpiod major version (1 or 2), from `gpiomon --version`. */
export async function toolVersion(gpiomon: string): Promise<{ major: ToolMajor; version: string }> {
  const output = await run(gpiomon, ['--version']);
  const parsed = parseToolVersion(output);
  if (parsed === undefined) throw new Error(`cannot tell the libgpiod version from "${gpiomon} --version": ${output.trim().slice(0, 200)}`);
  if (parsed.major < 1) throw new Error(`libgpiod v${parsed.version} is not supported (v1 or v2 tools are)`);
  // A future v3 most likely keeps v2's command line; say so rather than refuse to start.
  return { major: parsed.major === 1 ? 1 : 2, version: parsed.version };
}

export class ChardevLine implements GpioLine {
  readonly description: string;
  /** gpiomon output lines that were not events. */
  garbageLines = 0;
  private readonly garbageLog = new RateLimitedLog(GARBAGE_LOG_INTERVAL_MS);

  constructor(
    private readonly tools: GpioTools,
    private readonly major: ToolMajor,
    version: string,
    private readonly request: LineRequest,
    private readonly logger: Logger,
  ) {
    this.description = `chardev (libgpiod v${version}) ${request.chip} line ${request.line}`;
  }

  async read(): Promise<Level> {
    const output = await run(this.tools.gpioget, getArgs(this.major, this.request));
    const level = parseGetOutput(output);
    if (level === undefined) throw new Error(`unexpected gpioget output: ${JSON.stringify(output.slice(0, 200))}`);
    return level;
  }

  async watch(onLevel: (event: LevelEvent) => void, signal: AbortSignal): Promise<void> {
    // Read first, then monitor: both need the line, and only one request may hold it.
    const initial = await this.read();
    if (signal.aborted) return;
    onLevel({ level: initial, atMs: monotonicNowMs() });
    await this.monitor(onLevel, signal);
  }

  private monitor(onLevel: (event: LevelEvent) => void, signal: AbortSignal): Promise<void> {
    const args = monitorArgs(this.major, this.request);
    this.logger.debug('starting gpiomon', { args });
    // detached: its own process group, so a last-resort SIGKILL reaches the wrapper and gpiomon.
    const child = spawn('/bin/sh', ['-c', LIFELINE_WRAPPER, 'gpiomon-lifeline', this.tools.gpiomon, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    child.stdin.on('error', () => undefined);
    let stderr = '';
    const lines = new LineSplitter((line) => {
      const event = parseMonitorLine(line);
      if (event === undefined) {
        this.onGarbage(line);
        return;
      }
      onLevel({ level: event.rising ? 1 : 0, atMs: event.atMs ?? monotonicNowMs() });
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => lines.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
    });

    return new Promise<void>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (): void => {
        // Closing the lifeline makes the wrapper stop gpiomon (SIGTERM) and exit.
        child.stdin.end();
        killTimer = setTimeout(() => {
          try {
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }, STOP_GRACE_MS);
      };
      signal.addEventListener('abort', stop, { once: true });
      child.once('error', (err) => {
        signal.removeEventListener('abort', stop);
        reject(new Error(`cannot run ${this.tools.gpiomon} (through /bin/sh): ${err.message}`));
      });
      child.once('close', (code, exitSignal) => {
        clearTimeout(killTimer);
        signal.removeEventListener('abort', stop);
        if (lines.overlong > 0) this.onGarbage(`(${lines.overlong} overlong lines)`);
        if (signal.aborted) {
          resolve();
          return;
        }
        // 127: sh could not run gpiomon (removed since it was found).
        const how = exitSignal !== null ? `signal ${exitSignal}` : `code ${code}`;
        const detail = stderr.trim();
        reject(new Error(`gpiomon exited (${how})${detail !== '' ? `: ${detail}` : ''}`));
      });
    });
  }

  private onGarbage(line: string): void {
    this.garbageLines++;
    this.garbageLog.maybe('garbage', (suppressed) =>
      this.logger.warn('gpiomon printed a line that is not an event; ignored', { line: line.slice(0, 200), garbageLines: this.garbageLines, suppressed }),
    );
  }
}
