/**
 * QoS 1 through a minute of link faults, broker restarts that lose the agent's session, and 12
 * kill -9s: nothing lost, duplicates counted and reported.
 */
import { test } from 'node:test';
import { CHAOS_TIMEOUT_MS, runChaos } from './chaos.js';

void test('chaos at QoS 1: flapping, stalls, slow link, outages, session-losing broker restarts and 12 kill -9s; nothing lost, in order', { timeout: CHAOS_TIMEOUT_MS }, async (t) => {
  await runChaos(t, { qos: 1, brokerPersistence: false });
});
