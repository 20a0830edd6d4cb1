/**
 * Stand-ins for GPIO and 1-Wire hardware, which this machine does not have:
 *
 * - `installGpioTools`: scripted `gpiomon`, `gpioget` and `gpiodetect` executables (node scripts)
 *   in a temp bin dir that a test puts first on the agent's PATH. They answer `--version` as
 *   libgpiod v1 or v2, print events in that version's format, record every call (tool, argv,
 *   pid) in calls.log, and refuse the line ("Device or resource busy") while another gpiomon of
 *   theirs holds it, as the kernel does. What they do is read from standin.json at each start,
 *   so a test can change the script between agent runs.
 * - `makeSysfsTree`: a /sys/class/gpio look-alike (export, gpiochipN/base, gpioN/value).
 * - `makeW1Tree` and `w1Slave`: a /sys/bus/w1/devices look-alike with w1_slave files.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AfterHook } from './cleanup.js';
import { registerCleanup } from './cleanup.js';
import { makeTempDir } from './temp.js';

export interface PulseScript {
  /** -1: until killed. */
  count: number;
  periodMs: number;
  widthMs: number;
  /** Extra edge pairs right after each real edge, 200 µs apart (contact bounce). */
  bounces?: number;
  startDelayMs?: number;
}

export interface StandInScript {
  version: 1 | 2;
  /** What gpioget reports. */
  level?: 0 | 1;
  /** Lines gpiomon prints before any event. */
  garbage?: string[];
  pulses?: PulseScript;
  /** After the pulses: stay running, or exit (with this code and stderr). */
  then?: 'idle' | 'exit';
  /**
   * Keep running when stdout is gone (the reader died). A real gpiomon dies of SIGPIPE only at
   * its next event, which on a rain gauge can be days away: this makes that "never".
   */
  survivesClosedStdout?: boolean;
  exitCode?: number;
  exitMessage?: string;
}

export interface ToolCall {
  tool: string;
  args: string[];
  pid: number;
}

export interface GpioTools {
  binDir: string;
  /** PATH for the agent: the stand-ins first. */
  path: string;
  setScript(script: StandInScript): Promise<void>;
  calls(): Promise<ToolCall[]>;
  /** Pids of stand-in gpiomon processes still alive. */
  liveMonitors(): Promise<number[]>;
}

const STANDIN = String.raw`'use strict';
const fs = require('fs');
const path = require('path');
const dir = __dirname;
const tool = path.basename(__filename);
const args = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'standin.json'), 'utf8'));
fs.appendFileSync(path.join(dir, 'calls.log'), JSON.stringify({ tool, args, pid: process.pid }) + '\n');
const version = cfg.version === 1 ? '1.6.3' : '2.1.2';
if (args.includes('--version') || args.includes('-v')) {
  console.log(tool + ' (libgpiod) v' + version);
  console.log('Copyright (C) 2017-2023 Bartosz Golaszewski');
  process.exit(0);
}
if (tool === 'gpiodetect') {
  console.log('gpiochip0 [pinctrl-bcm2711] (58 lines)');
  process.exit(0);
}
const lock = path.join(dir, 'line.lock');
const holder = () => {
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
};
if (holder() !== undefined) {
  console.error(tool + ": unable to request lines on chip '/dev/gpiochip0': Device or resource busy");
  process.exit(1);
}
const line = args[args.length - 1];
if (tool === 'gpioget') {
  const level = cfg.level === 1 ? 1 : 0;
  console.log(cfg.version === 1 ? String(level) : '"' + line + '"=' + (level ? 'active' : 'inactive'));
  process.exit(0);
}
fs.writeFileSync(lock, String(process.pid));
process.on('exit', () => {
  try {
    if (Number(fs.readFileSync(lock, 'utf8')) === process.pid) fs.unlinkSync(lock);
  } catch {}
});
process.on('SIGTERM', () => process.exit(0));
if (cfg.survivesClosedStdout) process.stdout.on('error', () => {});
const formatted = args.some((a) => a === '--format' || a.startsWith('--format='));
const out = (text) => process.stdout.write(text + '\n');
const fmt = (rising, t) => {
  const s = t / 1000000000n;
  const ns = String(t % 1000000000n).padStart(9, '0');
  if (!formatted) {
    return cfg.version === 1
      ? 'event: ' + (rising ? ' RISING EDGE' : 'FALLING EDGE') + ' offset: ' + line + ' timestamp: [' + String(s).padStart(8) + '.' + ns + ']'
      : s + '.' + ns + '\t' + (rising ? 'rising' : 'falling') + '\tgpiochip0 ' + line;
  }
  return cfg.version === 1 ? (rising ? 1 : 0) + ' ' + s + ' ' + Number(ns) : (rising ? 1 : 2) + ' ' + s + '.' + ns;
};
const edge = (rising) => {
  const t0 = process.hrtime.bigint();
  out(fmt(rising, t0));
  for (let b = 0; b < (p.bounces || 0); b++) {
    out(fmt(!rising, t0 + 200000n * BigInt(2 * b + 1)));
    out(fmt(rising, t0 + 200000n * BigInt(2 * b + 2)));
  }
};
for (const g of cfg.garbage || []) out(g);
const p = cfg.pulses || { count: 0, periodMs: 0, widthMs: 0 };
let n = 0;
const done = () => {
  if (cfg.then === 'exit') {
    if (cfg.exitMessage) process.stderr.write(cfg.exitMessage + '\n');
    process.exit(cfg.exitCode || 0);
  }
  setInterval(() => {}, 1 << 30);
};
const pulse = () => {
  if (p.count >= 0 && n >= p.count) return done();
  n++;
  edge(true);
  setTimeout(() => {
    edge(false);
    setTimeout(pulse, Math.max(0, p.periodMs - p.widthMs));
  }, p.widthMs);
};
setTimeout(pulse, p.startDelayMs || 0);
`;

/** Writes the stand-in tools into a new temp bin dir (removed after the test, stray gpiomons killed). */
export async function installGpioTools(t: AfterHook, script: StandInScript): Promise<GpioTools> {
  // After hooks run in the order they were registered: stray gpiomons are killed before the
  // temp dir (and calls.log, which lists them) is removed.
  const installed: { tools?: GpioTools } = {};
  registerCleanup(t, async () => {
    for (const pid of (await installed.tools?.liveMonitors()) ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  });
  const binDir = await makeTempDir('sg-gpio-bin-', t);
  const body = `#!${process.execPath}\n${STANDIN}`;
  for (const tool of ['gpiomon', 'gpioget', 'gpiodetect']) {
    await writeFile(join(binDir, tool), body);
    await chmod(join(binDir, tool), 0o755);
  }
  const tools: GpioTools = {
    binDir,
    path: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    setScript: (next) => writeFile(join(binDir, 'standin.json'), JSON.stringify(next)),
    async calls() {
      const text = await readFile(join(binDir, 'calls.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ToolCall);
    },
    async liveMonitors() {
      return (await tools.calls()).filter((c) => c.tool === 'gpiomon' && !c.args.includes('--version') && alive(c.pid)).map((c) => c.pid);
    },
  };
  await tools.setScript(script);
  installed.tools = tools;
  return tools;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface SysfsTree {
  root: string;
  /** Writes the level in place (not by rename: the source keeps the value file open). */
  setValue(gpio: number, level: 0 | 1): Promise<void>;
  value(gpio: number): Promise<string>;
  direction(gpio: number): Promise<string>;
  exported(): Promise<string>;
}

/**
 * A /sys/class/gpio look-alike: gpiochip<base>/base for each base, and gpio<N>/{value,direction}
 * for each exported number (others are exported by a test playing the kernel).
 */
export async function makeSysfsTree(t: AfterHook, opts: { bases: number[]; exported?: number[] }): Promise<SysfsTree> {
  const root = join(await makeTempDir('sg-sysfs-', t), 'gpio');
  await mkdir(root);
  await writeFile(join(root, 'export'), '');
  await writeFile(join(root, 'unexport'), '');
  for (const base of opts.bases) {
    await mkdir(join(root, `gpiochip${base}`));
    await writeFile(join(root, `gpiochip${base}`, 'base'), `${base}\n`);
    await writeFile(join(root, `gpiochip${base}`, 'ngpio'), '58\n');
  }
  for (const gpio of opts.exported ?? []) await exportGpio(root, gpio);
  return {
    root,
    setValue: (gpio, level) => writeFile(join(root, `gpio${gpio}`, 'value'), `${level}\n`),
    value: (gpio) => readFile(join(root, `gpio${gpio}`, 'value'), 'utf8'),
    direction: (gpio) => readFile(join(root, `gpio${gpio}`, 'direction'), 'utf8'),
    exported: () => readFile(join(root, 'export'), 'utf8'),
  };
}

/** What the kernel does on a write to `export`: the gpioN directory appears, an input, low. */
export async function exportGpio(root: string, gpio: number): Promise<void> {
  await mkdir(join(root, `gpio${gpio}`), { recursive: true });
  await writeFile(join(root, `gpio${gpio}`, 'value'), '0\n');
  await writeFile(join(root, `gpio${gpio}`, 'direction'), 'out\n');
}

/** A w1_slave file as the w1_therm driver writes it. */
export function w1Slave(milliCelsius: number, opts: { crc?: 'YES' | 'NO'; bytes?: string } = {}): string {
  const bytes = opts.bytes ?? '72 01 4b 46 7f ff 0e 10 57';
  return `${bytes} : crc=57 ${opts.crc ?? 'YES'}\n${bytes} t=${milliCelsius}\n`;
}

export interface W1Tree {
  baseDir: string;
  /** Creates or replaces a probe's w1_slave. */
  setProbe(id: string, content: string): Promise<void>;
}

export async function makeW1Tree(t: AfterHook, probes: Record<string, string>): Promise<W1Tree> {
  const baseDir = join(await makeTempDir('sg-w1-', t), 'devices');
  await mkdir(baseDir);
  // The bus master is listed too; discovery must skip it.
  await mkdir(join(baseDir, 'w1_bus_master1'));
  const tree: W1Tree = {
    baseDir,
    async setProbe(id, content) {
      await mkdir(join(baseDir, id), { recursive: true });
      await writeFile(join(baseDir, id, 'w1_slave'), content);
    },
  };
  for (const [id, content] of Object.entries(probes)) await tree.setProbe(id, content);
  return tree;
}
