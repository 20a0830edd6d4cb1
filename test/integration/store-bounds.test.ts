/**
 * store.maxBytes under a long outage, through the real CLI: a flat-out source, the broker
 * refused by the fault proxy, the store directory sampled every 200 ms. The directory stays
 * within the bound the README states (2 x maxBytes + 2 MB), and when the broker returns what
 * arrives is what the policy kept: drop-oldest the newest readings up to the last,
 * drop-newest the oldest from seq 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { directoryBytes } from '../../src/outbox/disk-space.js';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { seqsFromPayload, startSubscriber } from '../support/subscriber.js';
import type { ReceivedMessage } from '../support/subscriber.js';
import { sleep } from '../support/wait.js';
import { agentFixture, assertPolicyKept, countLogs, logMsg, waitForQuiet } from './harness.js';

const MiB = 1024 * 1024;
/** Small enough that LevelDB's default 4 MB write buffer alone would break the bound. */
const MAX_BYTES = 512 * 1024;
/** The README's stated margin. */
const DIRECTORY_BOUND = 2 * MAX_BYTES + 2 * MiB;
const N = 500_000;
/** Sample at least this long, even after the source has finished (drop-newest refuses fast). */
const MIN_SAMPLING_MS = 20_000;

for (const whenFull of ['drop-oldest', 'drop-newest'] as const) {
  void test(`store.maxBytes 512KB, ${whenFull}, broker unreachable: the directory stays within 2 x maxBytes + 2 MB, and what arrives later is what ${whenFull} kept`, { timeout: 240_000 }, async (t) => {
    const broker = await startBroker({ t, verbose: false });
    const proxy = await startFaultProxy({ targetPort: broker.port, t });
    proxy.refuse(true);
    const fx = await agentFixture({ url: proxy.url, count: N, store: { maxBytes: MAX_BYTES, whenFull }, t });
    const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });

    const agent = fx.start();
    const startedAt = Date.now();
    let max = 0;
    let samples = 0;
    while (agent.running && (countLogs(agent, 'simulated source finished') === 0 || Date.now() - startedAt < MIN_SAMPLING_MS)) {
      max = Math.max(max, await directoryBytes(fx.storePath));
      samples++;
      if (Date.now() - startedAt > 180_000) throw new Error('the source did not finish within 180 s');
      await sleep(200);
    }
    max = Math.max(max, await directoryBytes(fx.storePath));
    t.diagnostic(`${samples} samples over ${((Date.now() - startedAt) / 1000).toFixed(1)} s: max directory ${(max / MiB).toFixed(2)} MiB`);
    assert.ok(countLogs(agent, 'store full: messages dropped') > 0, 'the bound was reached');
    assert.ok(max <= DIRECTORY_BOUND, `directory reached ${max} bytes > ${DIRECTORY_BOUND}`);

    proxy.refuse(false);
    await agent.waitForLog(logMsg('connected to broker'), 30_000);
    await sub.waitForCount(1, 30_000, fx.dataTopic);
    await waitForQuiet(sub, 2_000, 120_000);
    const seqs: number[] = [];
    for (const m of sub.messages as ReceivedMessage[]) seqs.push(...seqsFromPayload(m.payload));
    t.diagnostic(assertPolicyKept(seqs, whenFull, N));
    // About maxBytes / 95-byte messages were kept.
    const kept = new Set(seqs).size;
    assert.ok(kept > MAX_BYTES / 200 && kept * 80 <= MAX_BYTES, `${kept} messages kept`);
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  });
}
