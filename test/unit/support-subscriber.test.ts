import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { startBroker } from '../support/broker.js';
import {
  analyzeSeqs,
  readRetained,
  seqsFromPayload,
  startSubscriber,
  topicMatches,
} from '../support/subscriber.js';

const T = { timeout: 30_000 };

void test('analyzeSeqs reports missing, duplicates and out-of-order first arrivals', () => {
  assert.deepEqual(analyzeSeqs([1, 2, 3], 3), { missing: [], duplicates: 0, outOfOrder: 0, unexpected: [] });
  assert.deepEqual(analyzeSeqs([1, 3, 2, 3, 5, 2], 6), { missing: [4, 6], duplicates: 2, outOfOrder: 1, unexpected: [] });
  // A replayed duplicate of an old seq is a duplicate, not a reordering.
  assert.deepEqual(analyzeSeqs([1, 2, 3, 1, 4], 4), { missing: [], duplicates: 1, outOfOrder: 0, unexpected: [] });
  assert.deepEqual(analyzeSeqs([0, 1, 9], 2), { missing: [2], duplicates: 0, outOfOrder: 0, unexpected: [0, 9] });
  assert.deepEqual(analyzeSeqs([5, 6], 6, 5).missing, []);
});

void test('topicMatches follows MQTT wildcard rules', () => {
  assert.ok(topicMatches('a/+/c', 'a/b/c'));
  assert.ok(topicMatches('a/#', 'a'));
  assert.ok(topicMatches('a/#', 'a/b/c'));
  assert.ok(topicMatches('#', 'x/y'));
  assert.ok(!topicMatches('#', '$SYS/x'));
  assert.ok(!topicMatches('a/+', 'a/b/c'));
  assert.ok(!topicMatches('a/b', 'a/b/c'));
  assert.ok(topicMatches('+/+', '/x'));
});

void test('seqsFromPayload reads seq from flat, nested and batched JSON', () => {
  const b = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  assert.deepEqual(seqsFromPayload(b({ seq: 4 })), [4]);
  assert.deepEqual(seqsFromPayload(b({ fields: { seq: 5 } })), [5]);
  assert.deepEqual(seqsFromPayload(b([{ seq: 1 }, { fields: { seq: 2 } }, { x: 1 }])), [1, 2]);
  assert.deepEqual(seqsFromPayload(b({ readings: [{ seq: 7 }] })), [7]);
  assert.deepEqual(seqsFromPayload(Buffer.from('not json')), []);
});

void test('subscriber records messages; waitFor times out with what it received; readRetained', T, async (t) => {
  const broker = await startBroker({ t });
  const sub = await startSubscriber({ url: broker.url, topic: ['s/#', 'other'], qos: 1, t });
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('s/a', JSON.stringify({ seq: 1 }), { qos: 1 });
  await pub.publishAsync('other', JSON.stringify({ seq: 99 }), { qos: 0 });
  await pub.publishAsync('s/b', JSON.stringify({ seq: 2 }), { qos: 1 });
  await sub.waitForCount(3, 5000);
  assert.deepEqual(sub.seqsOf('s/#'), [1, 2]);
  assert.equal(sub.messages[0]?.qos, 1);
  assert.equal(sub.messages[0]?.retain, false);
  assert.ok(Buffer.isBuffer(sub.messages[0]?.payload));

  await assert.rejects(
    sub.waitFor((ms) => ms.length >= 10, 200, 'ten messages'),
    (err: Error) => /ten messages/.test(err.message) && /received 3 message/.test(err.message) && /s\/b/.test(err.message),
  );

  await pub.publishAsync('status/dev', 'online', { qos: 1, retain: true });
  assert.equal((await readRetained(broker.url, 'status/dev', 3000))?.toString(), 'online');
  const started = Date.now();
  assert.equal(await readRetained(broker.url, 'status/none', 300), null);
  assert.ok(Date.now() - started < 3000);
});
