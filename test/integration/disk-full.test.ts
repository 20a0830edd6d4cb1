/**
 * A full disk, for real: the store lives on a small tmpfs that the test fills with a filler
 * file and empties again, with the real CLI and mosquitto.
 * - With the free-space guard, the store stops growing before the disk is full and
 *   store.whenFull decides what is kept; nothing fails; when space returns, what was kept
 *   arrives.
 * - With the guard off, writes hit ENOSPC: the agent logs it, keeps running and delivering,
 *   reopens the store once space returns, and every committed reading arrives (QoS 2 with no
 *   duplicate).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBroker } from '../support/broker.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { analyzeSeqs, seqsFromPayload, startSubscriber } from '../support/subscriber.js';
import type { ReceivedMessage, Subscriber } from '../support/subscriber.js';
import { smallFs } from '../support/tmpfs.js';
import type { SmallFs } from '../support/tmpfs.js';
import { sleep } from '../support/wait.js';
import { agentFixture, assertPolicyKept, countLogs, logMsg, waitForAllSeqs, waitForQuiet } from './harness.js';

const MiB = 1024 * 1024;

async function mountOrSkip(t: TestContext, size: number): Promise<SmallFs | null> {
  const fs = await smallFs(size, t);
  if ('skip' in fs) {
    t.skip(fs.skip);
    return null;
  }
  return fs;
}

/** Incremental (each message parsed once): the subscriber shares this process with the proxy. */
async function waitForSeq(sub: Subscriber, seq: number, timeoutMs: number): Promise<void> {
  let next = 0;
  let seen = false;
  await sub.waitFor(
    (messages) => {
      for (; next < messages.length && !seen; next++) seen = seqsFromPayload((messages[next] as ReceivedMessage).payload).includes(seq);
      return seen;
    },
    timeoutMs,
    `seq ${seq}`,
  );
}

for (const whenFull of ['drop-oldest', 'drop-newest'] as const) {
  void test(`free-space guard (${whenFull}): the store stops short of a full disk, keeps what ${whenFull} keeps, and delivers it when space returns`, { timeout: 240_000 }, async (t) => {
    const fs = await mountOrSkip(t, 32 * MiB);
    if (fs === null) return;
    const N = 150_000;
    const broker = await startBroker({ t, verbose: false });
    const proxy = await startFaultProxy({ targetPort: broker.port, t });
    proxy.refuse(true);
    const fx = await agentFixture({
      url: proxy.url,
      count: N,
      inflight: 20,
      store: { path: join(fs.mountPoint, 'store'), minFreeSpace: '8MB', whenFull },
      t,
    });
    const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });

    // 11 MB free, 8 MB of it reserved: the store gets about 3 MB of disk.
    if (fs.wrap === undefined) await fs.fillLeaving(11 * MiB);
    const agent = fx.start({ wrap: fs.wrap });
    fs.attach(agent.pid);
    if (fs.wrap !== undefined) {
      await fs.ready(10_000);
      await fs.fillLeaving(11 * MiB);
    }

    let minFree = Infinity;
    const sampling = (async () => {
      while (agent.running && countLogs(agent, 'simulated source finished') === 0) {
        minFree = Math.min(minFree, await fs.freeBytes().catch(() => Infinity));
        await sleep(200);
      }
    })();
    await agent.waitForLog(logMsg('disk space low: store.minFreeSpace reached'), 60_000);
    await agent.waitForLog(logMsg('simulated source finished'), 150_000);
    await sampling;

    assert.equal(countLogs(agent, 'disk full'), 0, 'the guard kept the store from hitting ENOSPC');
    assert.ok(countLogs(agent, 'store full: messages dropped') > 0, 'the guard applied store.whenFull');
    assert.ok(minFree >= 1 * MiB, `free space fell to ${minFree} bytes`);

    // Space returns and so does the broker: the store may grow again, and what it kept arrives.
    await fs.removeFiller();
    proxy.refuse(false);
    await agent.waitForLog(logMsg('connected to broker'), 30_000);
    await agent.waitForLog(logMsg('disk space available again: the store may grow'), 30_000);
    if (whenFull === 'drop-oldest') await waitForSeq(sub, N, 120_000);
    else await sub.waitForCount(1, 30_000, fx.dataTopic);
    await waitForQuiet(sub, 2_000, 120_000);

    t.diagnostic(assertPolicyKept(sub.seqsOf(fx.dataTopic), whenFull, N));
    assert.equal(agent.running, true);
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  });
}

for (const qos of [1, 2] as const) {
  void test(`disk completely full, guard off, QoS ${qos}: errors are logged, the agent keeps running, and every committed reading arrives once space returns`, { timeout: 180_000 }, async (t) => {
    const fs = await mountOrSkip(t, 16 * MiB);
    if (fs === null) return;
    const N = 6_000;
    const broker = await startBroker({ t, verbose: false });
    const proxy = await startFaultProxy({ targetPort: broker.port, t });
    const fx = await agentFixture({
      url: proxy.url,
      qos,
      count: N,
      interval: '1ms',
      store: { path: join(fs.mountPoint, 'store'), minFreeSpace: 0 },
      t,
    });
    const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, qos, t });
    const agent = fx.start({ wrap: fs.wrap });
    fs.attach(agent.pid);
    await fs.ready(10_000);
    await agent.waitForLog(logMsg('connected to broker'), 15_000);
    await sub.waitForCount(500, 30_000, fx.dataTopic);

    await fs.fillLeaving(0);
    await agent.waitForLog(logMsg('disk full: store writes fail'), 30_000);
    const connectsBefore = proxy.totalConnections;
    await sleep(3_000);
    assert.equal(agent.running, true, 'a full disk does not stop the agent');
    assert.equal(proxy.totalConnections, connectsBefore, 'and does not drop its connection');

    await fs.removeFiller();
    await agent.waitForLog(logMsg('disk space available again: store reopened and writable'), 60_000);
    await agent.waitForLog(logMsg('simulated source finished'), 90_000);
    await waitForAllSeqs(sub, fx.dataTopic, N, 90_000);

    const report = analyzeSeqs(sub.seqsOf(fx.dataTopic), N);
    assert.deepEqual(report.missing, [], 'nothing committed is lost');
    assert.deepEqual(report.unexpected, []);
    if (qos === 2) assert.equal(report.duplicates, 0, 'QoS 2: exactly once, across the full disk and the reopen');
    assert.ok(countLogs(agent, 'source failed; restarting') > 0, 'the source failed while the disk was full, and was restarted');
    t.diagnostic(`duplicates ${report.duplicates}, resync reconnects ${countLogs(agent, 'store writable again: reconnecting')}`);
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  });
}
