/**
 * Idle CPU of the agent process with one GPIO input, per backend: sysfs polling at several
 * intervals (a fixture tree) and the character device (a stand-in gpiomon that stays idle).
 * Run: npm run build && node dist/scripts/bench/gpio-idle-cpu.js [seconds per run, default 20]
 */
import { readFileSync } from 'node:fs';
import { agentFixture } from '../../test/integration/harness.js';
import { startBroker } from '../../test/support/broker.js';
import type { AfterHook } from '../../test/support/cleanup.js';
import { runAgent } from '../../test/support/cli.js';
import { installGpioTools, makeSysfsTree } from '../../test/support/gpio-standins.js';

const hooks: Array<() => Promise<void> | void> = [];
const t = { after: (fn: () => Promise<void> | void) => hooks.push(fn) } as unknown as AfterHook;
const seconds = Number(process.argv[2] ?? 20);

/** utime + stime of a process, in clock ticks (1/100 s on Linux). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

const broker = await startBroker({ t, verbose: false });

async function measure(label: string, source: Record<string, unknown>, env: Record<string, string>): Promise<void> {
  const fx = await agentFixture({ url: broker.url, sources: [source], t });
  const agent = runAgent({ configPath: fx.configPath, env, t });
  await agent.waitForLog((l) => l.json?.msg === 'gpio line opened', 15_000);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const pid = agent.pid ?? 0;
  const before = cpuTicks(pid);
  const startedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  const used = (cpuTicks(pid) - before) / 100;
  const elapsed = (Date.now() - startedAt) / 1_000;
  process.stdout.write(`${label.padEnd(24)} ${((used / elapsed) * 100).toFixed(2)} % of one core\n`);
  await agent.stop();
}

try {
  const tree = await makeSysfsTree(t, { bases: [512], exported: [529] });
  for (const poll of ['5ms', '10ms', '20ms']) {
    await measure(`sysfs, poll ${poll}`, { type: 'gpio', name: 'door', line: 17, backend: 'sysfs', sysfsRoot: tree.root, pollInterval: poll }, {});
  }
  const tools = await installGpioTools(t, { version: 2, then: 'idle' });
  await measure('chardev, gpiomon idle', { type: 'gpio', name: 'door', line: 17 }, { PATH: tools.path });
} finally {
  for (const fn of hooks.reverse()) await fn();
}
