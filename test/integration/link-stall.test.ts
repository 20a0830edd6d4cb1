/**
 * A stalled link in the middle of a QoS 2 flow: the route goes silent (no FIN, no RST) at
 * the worst moments of the handshake. The keepalive must notice (PINGREQ unanswered), the
 * agent redials, finds its session and finishes each handshake from the phase it persisted:
 *
 * - between PUBREC and PUBCOMP, the PUBREL held and delivered late (the broker completes on
 *   the dead connection; its PUBCOMP is lost) → the agent sends PUBREL again, never PUBLISH;
 * - between PUBREC and PUBCOMP, the PUBREL dropped → PUBREL again;
 * - right after a PUBLISH, dropped → the same packet id again with DUP=1.
 *
 * Every seq arrives exactly once, in order, and the window holds (invariants 2, 4, 5).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from 'mqtt-packet';
import { startBroker } from '../support/broker.js';
import type { BlackholeMode } from '../support/fault-proxy.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startSubscriber } from '../support/subscriber.js';
import { waitUntil } from '../support/wait.js';
import type { LogLine } from '../support/cli.js';
import { agentFixture, logMsg, waitForAllSeqs } from './harness.js';
import { assertDelivered } from './link.js';

const COUNT = 3_000;
const INFLIGHT = 10;

interface Stall {
  /** Trigger on the nth client packet of this kind (counted over the whole run). */
  on: 'pubrel' | 'publish';
  nth: number;
  mode: BlackholeMode;
  /** What the agent must send first for the stalled id on the next connection. */
  expect: 'pubrel' | 'dup-publish';
  hit?: { packetId: number; connIndex: number };
}

const connectedAgain = (l: LogLine): boolean => logMsg('connected to broker')(l) && l.json?.sessionPresent === true;

void test('stalled link (blackhole, no FIN/RST) mid QoS 2 flow, including between PUBREC and PUBCOMP: exactly once after redial', { timeout: 120_000 }, async (t) => {
  const stalls: Stall[] = [
    { on: 'pubrel', nth: 400, mode: 'hold', expect: 'pubrel' },
    { on: 'pubrel', nth: 1_200, mode: 'drop', expect: 'pubrel' },
    { on: 'publish', nth: 2_000, mode: 'drop', expect: 'dup-publish' },
  ];
  const seen = { pubrel: 0, publish: 0 };
  const packetsByConn = new Map<number, Packet[]>();

  const broker = await startBroker({ t, verbose: false });
  const proxy = await startFaultProxy({
    targetPort: broker.port,
    keepPublishes: 200,
    latencyMs: 5,
    onClientPacket: (packet, connIndex) => {
      const list = packetsByConn.get(connIndex) ?? [];
      if (list.length < 100) list.push(packet);
      packetsByConn.set(connIndex, list);
      const kind = packet.cmd === 'pubrel' ? 'pubrel' : packet.cmd === 'publish' && packet.qos === 2 && !packet.dup ? 'publish' : null;
      if (kind === null) return;
      const count = ++seen[kind];
      const stall = stalls.find((s) => s.on === kind && s.nth === count);
      if (stall === undefined || packet.messageId === undefined) return;
      stall.hit = { packetId: packet.messageId, connIndex };
      // Synchronous with the parse: the chunk carrying this packet is already held or dropped.
      proxy.blackhole(true, stall.mode);
    },
    t,
  });
  const fx = await agentFixture({ url: proxy.url, qos: 2, inflight: INFLIGHT, count: COUNT, interval: '0ms', keepalive: '1s', pingTimeout: '500ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: 2, clientId: `stall-sub-${fx.deviceId}`, clean: false, t });
  // Held back so stalls land in the middle of the flow rather than all at once at the start.
  proxy.setBandwidth(40_000);

  const agent = fx.start();
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  for (const stall of stalls) {
    await waitUntil(() => stall.hit, 60_000, `stall on ${stall.on} #${stall.nth}`, { detail: () => JSON.stringify(seen) });
    const since = agent.lines.length;
    const lost = await agent.waitForLog(logMsg('connection lost'), 10_000, { since });
    assert.match(String(lost.json?.reason), /link dead/, `the keepalive noticed the silent link (${stall.on} #${stall.nth}, ${stall.mode})`);
    proxy.blackhole(false);
    await agent.waitForLog(connectedAgain, 15_000, { since });
  }
  await waitForAllSeqs(sub, fx.dataTopic, COUNT, 60_000);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  for (const stall of stalls) {
    const hit = stall.hit;
    assert.ok(hit !== undefined);
    // The next connection that got as far as sending packets resumed the handshake.
    const next = [...packetsByConn.keys()].filter((c) => c > hit.connIndex).sort((a, b) => a - b);
    const resend = next
      .map((c) => packetsByConn.get(c)?.find((p) => (p.cmd === 'publish' || p.cmd === 'pubrel') && p.messageId === hit.packetId))
      .find((p) => p !== undefined);
    t.diagnostic(`${stall.on} #${stall.nth} (${stall.mode}): packet id ${hit.packetId} came back as ${resend?.cmd ?? 'nothing'}${resend?.cmd === 'publish' ? ` dup=${String(resend.dup)}` : ''}`);
    if (stall.expect === 'pubrel') assert.equal(resend?.cmd, 'pubrel', `after PUBREC the agent resumes with PUBREL for id ${hit.packetId}, not PUBLISH`);
    else assert.ok(resend?.cmd === 'publish' && resend.dup, `an unacknowledged PUBLISH (id ${hit.packetId}) is resent with DUP=1 under the same id`);
  }
  assertDelivered(t, { qos: 2, inflight: INFLIGHT, count: COUNT, proxy, fx, sub });
});
