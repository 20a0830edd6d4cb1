/** What the numbers were measured on. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { findMosquitto } from '../../test/support/broker.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryMb: number;
  kernel: string;
  arch: string;
  node: string;
  mosquitto: string;
  /** 1/5/15-minute load averages when the bench started: other work on the host skews results. */
  loadavg: number[];
}

function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = /^(?:model name|Model|Hardware)\s*:\s*(.+)$/m.exec(info);
    if (line?.[1] !== undefined) return line[1].trim();
  } catch {
    // Not Linux: fall through to os.cpus().
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function mosquittoVersion(): string {
  const bin = findMosquitto();
  if (bin === undefined) return 'not found';
  const out = spawnSync(bin, ['-h'], { encoding: 'utf8', timeout: 5000 });
  const m = /mosquitto version (\S+)/.exec(`${out.stdout}${out.stderr}`);
  return m?.[1] ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    node: process.version,
    mosquitto: mosquittoVersion(),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
