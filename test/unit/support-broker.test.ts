import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { startBroker } from '../support/broker.js';
import { canConnect } from '../support/ports.js';
import { startSubscriber } from '../support/subscriber.js';
import { sleep } from '../support/wait.js';

const T = { timeout: 30_000 };

async function publishQos1(url: string, topic: string, payloads: string[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    await Promise.all(payloads.map((p) => client.publishAsync(topic, p, { qos: 1 })));
  } finally {
    await client.endAsync();
  }
}

void test('broker starts on a loopback port, stops, and restarts on the same port', T, async (t) => {
  const broker = await startBroker({ t });
  assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(broker.running);
  assert.ok(await canConnect(broker.port));
  const port = broker.port;

  await broker.stop();
  assert.equal(broker.running, false);
  assert.equal(await canConnect(port, 300), false);

  await broker.restart();
  assert.equal(broker.port, port);
  assert.ok(await canConnect(port));

  await broker.kill();
  assert.equal(broker.running, false);
  assert.match(broker.logs(), /start #2/);
});

void test('persistent broker keeps a queued QoS 1 message for an offline session across stop()+restart()', T, async (t) => {
  const broker = await startBroker({ persistence: true, t });
  if (!broker.persistentAcrossRestart) {
    t.skip(`${broker.kind} has no persistence (CI uses mosquitto)`);
    return;
  }
  const clientId = `persist-${process.pid}`;
  const first = await startSubscriber({ url: broker.url, topic: 'p/#', qos: 1, clientId, clean: false });
  await first.close();
  await publishQos1(broker.url, 'p/1', ['{"seq":1}']);

  await broker.stop();
  await broker.restart();

  const again = await startSubscriber({ url: broker.url, topic: 'p/#', qos: 1, clientId, clean: false, t });
  assert.equal(again.sessionPresent, true);
  await again.waitForCount(1, 5000);
  assert.deepEqual(again.seqsOf('p/#'), [1]);
});

void test('non-persistent broker loses the session on restart', T, async (t) => {
  const broker = await startBroker({ persistence: false, t });
  const clientId = `volatile-${process.pid}`;
  const first = await startSubscriber({ url: broker.url, topic: 'v/#', qos: 1, clientId, clean: false });
  await first.close();
  await publishQos1(broker.url, 'v/1', ['{"seq":1}']);

  await broker.restart();

  const again = await startSubscriber({ url: broker.url, topic: 'v/#', qos: 1, clientId, clean: false, t });
  assert.equal(again.sessionPresent, false);
  await sleep(500);
  assert.equal(again.messages.length, 0);
});

void test('mosquitto queues more than its default 1000 messages for an offline subscriber', T, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  if (broker.kind !== 'mosquitto') {
    t.skip('mosquitto setting');
    return;
  }
  const clientId = `backlog-${process.pid}`;
  const first = await startSubscriber({ url: broker.url, topic: 'q/#', qos: 1, clientId, clean: false });
  await first.close();
  const n = 1500;
  await publishQos1(broker.url, 'q/x', Array.from({ length: n }, (_, i) => JSON.stringify({ seq: i + 1 })));

  const again = await startSubscriber({ url: broker.url, topic: 'q/#', qos: 1, clientId, clean: false, t });
  await again.waitForCount(n, 15_000);
  assert.equal(again.seqsOf().length, n);
});

void test('aedes broker runs in a child process and stops', T, async (t) => {
  const broker = await startBroker({ kind: 'aedes', t });
  assert.equal(broker.kind, 'aedes');
  assert.equal(broker.persistentAcrossRestart, false);
  const sub = await startSubscriber({ url: broker.url, topic: 'a/#', t });
  await publishQos1(broker.url, 'a/1', ['hello']);
  await sub.waitForCount(1, 5000);
  await sub.close();
  await broker.restart();
  assert.ok(await canConnect(broker.port));
  await broker.stop();
  assert.equal(broker.running, false);
});

void test('a fixed port already in use fails fast with the broker log', T, async (t) => {
  const broker = await startBroker({ t });
  await assert.rejects(startBroker({ port: broker.port, kind: broker.kind, startTimeoutMs: 5000 }), /exited during startup|in use/i);
});
