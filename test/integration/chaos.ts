/**
 * Everything at once: for a minute the link flaps, stalls, crawls and goes away, the broker
 * restarts, and the agent is killed with SIGKILL at random moments (at least ten times) and
 * started again, as systemd would. Afterwards every committed seq must have arrived, first
 * arrivals in order, with the window never exceeded on any connection.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import type { Broker } from '../support/broker.js';
import type { AgentProcess } from '../support/cli.js';
import { between, seedFrom, seeded } from '../support/random.js';
import { sleep, waitUntil, withTimeout } from '../support/wait.js';
import { logMsg, waitForAllSeqs, waitForQuiet } from './harness.js';
import { assertDelivered, linkRig } from './link.js';
import type { LinkRig } from './link.js';

const CHAOS_MS = Number(process.env.SG_CHAOS_MS ?? 60_000);
const KILLS = 12;
const INTERVAL_MS = 20;
const INFLIGHT = 10;
const BASE_LATENCY_MS = 10;

export interface ChaosOptions {
  qos: 1 | 2;
  /** false: every broker restart loses the agent's session (and the observer's). */
  brokerPersistence: boolean;
}

export const CHAOS_TIMEOUT_MS = CHAOS_MS + 120_000;

type Fault = 'reset' | 'blackhole' | 'slow' | 'outage' | 'broker-restart';
const FAULTS: readonly Fault[] = ['reset', 'blackhole', 'slow', 'outage', 'broker-restart'];

/** Faults in shuffled rounds of every kind, so each run sees each kind (a minute holds several rounds). */
function faultSequence(random: () => number): () => Fault {
  let round: Fault[] = [];
  return () => {
    if (round.length === 0) {
      round = [...FAULTS];
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [round[i], round[j]] = [round[j] as Fault, round[i] as Fault];
      }
    }
    return round.pop() as Fault;
  };
}

/** Kill instants: KILLS random moments over the run, at least 1.5 s apart, none in the last 3 s. */
function killSchedule(random: () => number): number[] {
  const slot = (CHAOS_MS - 3_000) / KILLS;
  return Array.from({ length: KILLS }, (_, i) => Math.floor(i * slot + 750 + random() * (slot - 1_500)));
}

async function restartBroker(rig: LinkRig, broker: Broker): Promise<void> {
  if (broker.persistentAcrossRestart) {
    // SIGTERM: mosquitto writes sessions and queued messages; both sides resume theirs.
    await broker.restart();
    return;
  }
  // Without persistence the observer's subscription dies with the broker too. Keep the agent
  // out while the observer drains and resubscribes, so what the test sees is the agent's doing.
  rig.proxy.refuse(true);
  rig.proxy.resetAll();
  await waitForQuiet(rig.sub, 300, 10_000);
  await broker.kill();
  await broker.restart();
  await waitUntil(() => rig.sub.client.connected, 10_000, 'the observer to reconnect');
  await withTimeout(rig.sub.client.subscribeAsync(rig.fx.dataTopic, { qos: rig.qos }), 5_000, 'observer resubscribe');
  rig.proxy.refuse(false);
}

async function injectFault(fault: Fault, rig: LinkRig, broker: Broker, random: () => number): Promise<void> {
  const { proxy } = rig;
  switch (fault) {
    case 'reset':
      proxy.resetAll();
      return;
    case 'blackhole':
      proxy.blackhole(true, random() < 0.5 ? 'hold' : 'drop');
      await sleep(between(random, 1_000, 3_000));
      proxy.blackhole(false);
      return;
    case 'slow':
      proxy.setLatency(300);
      proxy.setBandwidth(2_048);
      await sleep(between(random, 2_000, 4_000));
      proxy.setBandwidth(null);
      proxy.setLatency(BASE_LATENCY_MS);
      return;
    case 'outage':
      proxy.refuse(true);
      proxy.resetAll();
      await sleep(between(random, 2_000, 5_000));
      proxy.refuse(false);
      return;
    case 'broker-restart':
      await restartBroker(rig, broker);
      return;
  }
}

export async function runChaos(t: TestContext, opts: ChaosOptions): Promise<void> {
  const seed = seedFrom('SG_CHAOS_SEED');
  const random = seeded(seed);
  t.diagnostic(`chaos seed ${seed} (SG_CHAOS_SEED=${seed} replays the schedules)`);
  const count = Math.floor(CHAOS_MS / INTERVAL_MS);
  const broker = await startBroker({ t, verbose: false, persistence: opts.brokerPersistence });
  const rig = await linkRig(t, broker, {
    qos: opts.qos,
    inflight: INFLIGHT,
    count,
    interval: `${INTERVAL_MS}ms`,
    latencyMs: BASE_LATENCY_MS,
    keepalive: '1s',
    pingTimeout: '500ms',
    minDelay: '100ms',
    maxDelay: '1s',
  });

  let agent: AgentProcess = rig.fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  const startedAt = Date.now();
  const endAt = startedAt + CHAOS_MS;

  const faultsSeen: Fault[] = [];
  const nextFault = faultSequence(random);
  const faults = (async () => {
    while (Date.now() < endAt) {
      await sleep(between(random, 500, 2_000));
      if (Date.now() >= endAt) break;
      const fault = nextFault();
      faultsSeen.push(fault);
      await injectFault(fault, rig, broker, random);
    }
  })();

  const kills: number[] = [];
  for (const at of killSchedule(random)) {
    await sleep(Math.max(0, startedAt + at - Date.now()));
    const exit = await agent.kill9();
    assert.equal(exit.signal, 'SIGKILL', 'the agent was alive until killed');
    kills.push(Date.now() - startedAt);
    // systemd's Restart=always, with a little RestartSec.
    await sleep(between(random, 0, 500));
    agent = rig.fx.start();
  }
  await faults;
  rig.proxy.blackhole(false);
  rig.proxy.refuse(false);
  rig.proxy.setBandwidth(null);
  rig.proxy.setLatency(0);
  t.diagnostic(`kills at ${kills.map((ms) => (ms / 1_000).toFixed(1)).join(', ')} s; faults: ${faultsSeen.join(', ')}`);
  assert.ok(kills.length >= 10, 'at least ten kill -9 during the run');
  for (const fault of FAULTS) assert.ok(faultsSeen.includes(fault), `the run injected ${fault}`);

  await waitForAllSeqs(rig.sub, rig.fx.dataTopic, count, 90_000);
  await agent.waitForLog(logMsg('simulated source finished'), 30_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  assertDelivered(t, rig, `QoS ${opts.qos}, broker ${opts.brokerPersistence ? 'keeps' : 'loses'} sessions`);
}
