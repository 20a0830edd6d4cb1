/**
 * A flapping cellular link: the connection is reset (RST both ways) every few seconds for a
 * minute while readings keep flowing. 40 ms each way keeps publishes in flight when a reset
 * hits, so every reset leaves something to replay. One agent at QoS 1 and one at QoS 2 ride the same
 * minute, each behind its own proxy. Nothing committed may be lost (invariants 1–3), QoS 2
 * must not duplicate (invariant 5), and the window holds across every replay (invariant 4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../support/broker.js';
import { between, seedFrom, seeded } from '../support/random.js';
import { sleep } from '../support/wait.js';
import { logMsg, waitForAllSeqs } from './harness.js';
import { assertDelivered, linkRig } from './link.js';

const FLAP_MS = Number(process.env.SG_FLAP_MS ?? 60_000);
const INTERVAL_MS = 20;
const COUNT = Math.floor(FLAP_MS / INTERVAL_MS);

void test('flapping link: reset every 1.5–4 s for a minute while readings flow; QoS 1 and QoS 2', { timeout: FLAP_MS + 90_000 }, async (t) => {
  const seed = seedFrom('SG_FLAP_SEED');
  const random = seeded(seed);
  t.diagnostic(`reset schedule seed ${seed} (SG_FLAP_SEED=${seed} replays it)`);

  const broker = await startBroker({ t, verbose: false });
  const rigs = await Promise.all(
    ([1, 2] as const).map((qos) =>
      linkRig(t, broker, { qos, inflight: 10, count: COUNT, interval: `${INTERVAL_MS}ms`, latencyMs: 40, keepalive: '2s', minDelay: '100ms', maxDelay: '1s' }),
    ),
  );
  const agents = rigs.map((rig) => rig.fx.start());
  await Promise.all(agents.map((agent) => agent.waitForLog(logMsg('connected to broker'), 15_000)));

  const endAt = Date.now() + FLAP_MS;
  let resets = 0;
  while (Date.now() < endAt) {
    await sleep(between(random, 1_500, 4_000));
    for (const rig of rigs) rig.proxy.resetAll();
    resets++;
  }
  t.diagnostic(`${resets} resets in ${FLAP_MS} ms`);

  for (const [i, rig] of rigs.entries()) {
    const agent = agents[i];
    assert.ok(agent !== undefined);
    await waitForAllSeqs(rig.sub, rig.fx.dataTopic, COUNT, 60_000);
    await agent.waitForLog(logMsg('simulated source finished'), 10_000);
    assert.ok(agent.running, `QoS ${rig.qos} agent still running`);
    assert.ok(rig.proxy.mqtt.connectCount > resets / 2, `QoS ${rig.qos}: reconnected after the resets (${rig.proxy.mqtt.connectCount} CONNECTs for ${resets} resets)`);
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
    assertDelivered(t, rig);
  }
});
