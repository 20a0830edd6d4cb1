/**
 * One measurement in its own process, so RSS and CPU belong to one client only.
 * Usage: node child.js '<Scenario JSON>'. Prints one JSON line on stdout:
 * {"result": ChildResult} or {"error": "..."}; backlog workloads send {type:'filled'} over IPC.
 */
import { RssSampler } from './probe.js';
import type { ChildContext } from './child-context.js';
import type { ChildMessage, ChildResult, Scenario } from './types.js';

function parseScenario(arg: string | undefined): Scenario {
  if (arg === undefined) throw new Error('usage: child.js <scenario JSON>');
  return JSON.parse(arg) as Scenario;
}

async function main(): Promise<void> {
  const scenario = parseScenario(process.argv[2]);
  const sampler = new RssSampler(50);
  const ctx: ChildContext = {
    sampler,
    filled: () => {
      const msg: ChildMessage = { type: 'filled' };
      if (process.send === undefined) throw new Error('backlog workloads need an IPC channel to the parent');
      process.send(msg);
    },
  };
  const guard = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ error: `child overran ${scenario.timeoutMs} ms` })}\n`);
    process.exit(2);
  }, scenario.timeoutMs + 5000);
  guard.unref();
  let result: ChildResult;
  try {
    // Load only the stack under test: its modules (and native LevelDB binding) count toward RSS.
    if (scenario.client === 'sensorgate') {
      const { runSensorgate } = await import('./sg-workload.js');
      result = await runSensorgate(scenario, ctx);
    } else {
      const { runMqttJs } = await import('./mqttjs-workload.js');
      result = await runMqttJs(scenario, ctx);
    }
  } finally {
    sampler.stop();
  }
  result = { ...result, ...sampler.heapPeaksMb() };
  process.stdout.write(`${JSON.stringify({ result })}\n`);
  process.disconnect?.();
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })}\n`);
  process.exitCode = 1;
  process.disconnect?.();
});
