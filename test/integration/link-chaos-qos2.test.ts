/**
 * QoS 2 through a minute of link faults, persistent-broker restarts and 12 kill -9s: exactly
 * once. (A broker that loses the session may duplicate QoS 2, as documented; that case runs at
 * QoS 1 in link-chaos-qos1.)
 */
import { test } from 'node:test';
import { CHAOS_TIMEOUT_MS, runChaos } from './chaos.js';

void test('chaos at QoS 2: flapping, stalls, slow link, outages, broker restarts and 12 kill -9s; every seq exactly once, in order', { timeout: CHAOS_TIMEOUT_MS }, async (t) => {
  await runChaos(t, { qos: 2, brokerPersistence: true });
});
