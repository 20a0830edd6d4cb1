/**
 * What every link scenario asserts once the dust settles, and the pieces the scenarios share:
 * an agent behind its own fault proxy with a persistent observer on the broker.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Broker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, startSubscriber } from '../support/subscriber.js';
import type { SeqAnalysis, Subscriber } from '../support/subscriber.js';
import { agentFixture } from './harness.js';
import type { AgentFixture, FixtureOptions } from './harness.js';

export interface LinkRig {
  qos: 1 | 2;
  inflight: number;
  count: number;
  proxy: FaultProxy;
  fx: AgentFixture;
  /** Persistent session straight on the broker (not through the proxy): sees all the broker accepted. */
  sub: Subscriber;
}

export type RigOptions = Omit<FixtureOptions, 'url' | 't' | 'qos' | 'inflight' | 'count'> & {
  qos: 1 | 2;
  inflight: number;
  count: number;
  /** One-way latency the proxy starts with. */
  latencyMs?: number;
};

export async function linkRig(t: TestContext, broker: Broker, opts: RigOptions): Promise<LinkRig> {
  const { latencyMs, ...fixture } = opts;
  const proxy = await startFaultProxy({ targetPort: broker.port, keepPublishes: 200, latencyMs, t });
  const fx = await agentFixture({ ...fixture, url: proxy.url, t });
  const sub = await startSubscriber({ url: broker.url, topic: [fx.dataTopic], qos: opts.qos, clientId: `obs-${fx.deviceId}`, clean: false, t });
  return { qos: opts.qos, inflight: opts.inflight, count: opts.count, proxy, fx, sub };
}

/**
 * Every committed seq arrived, first arrivals in seq order, QoS 2 without a duplicate (QoS 1
 * duplicates are counted and reported), and no connection ever had more than `inflight`
 * QoS 1/2 publishes unacknowledged on the wire.
 */
export function assertDelivered(t: TestContext, rig: LinkRig, label = `QoS ${rig.qos}`): SeqAnalysis {
  const report = analyzeSeqs(rig.sub.seqsOf(rig.fx.dataTopic), rig.count);
  const { mqtt } = rig.proxy;
  t.diagnostic(
    `${label}: ${rig.count} seqs, ${rig.sub.messages.length} arrivals, ${report.duplicates} duplicate(s), ` +
      `${mqtt.dupCount} DUP=1 publish(es), ${mqtt.pubrelCount} PUBREL(s), ${mqtt.connectCount} CONNECT(s), ` +
      `max inflight on the wire ${rig.proxy.maxInflightObserved}/${rig.inflight}`,
  );
  assert.deepEqual(report.missing.slice(0, 20), [], `${label}: every committed seq arrives (${report.missing.length} missing)`);
  assert.deepEqual(report.unexpected, [], `${label}: no seq outside 1..${rig.count}`);
  assert.equal(report.outOfOrder, 0, `${label}: first arrivals in seq order`);
  if (rig.qos === 2) assert.equal(report.duplicates, 0, `${label}: QoS 2 delivers each seq exactly once`);
  assert.ok(rig.proxy.maxInflightObserved <= rig.inflight, `${label}: ${rig.proxy.maxInflightObserved} unacknowledged on the wire > mqtt.inflight ${rig.inflight}`);
  assert.deepEqual(mqtt.parseErrors, [], `${label}: everything the agent sent parsed as MQTT 3.1.1`);
  return report;
}
