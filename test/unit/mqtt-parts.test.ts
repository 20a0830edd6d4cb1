import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { Backoff } from '../../src/mqtt/backoff.js';
import { FrameSizeGuard } from '../../src/mqtt/frame-guard.js';
import { KeepaliveMonitor } from '../../src/mqtt/keepalive.js';
import { MAX_PACKET_ID, PacketIdAllocator } from '../../src/mqtt/packet-ids.js';
import { describeRefusal } from '../../src/mqtt/connack.js';

void test('frame guard refuses an oversized packet from its header, across chunk boundaries', () => {
  const big = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(2000), qos: 0, retain: false, dup: false });
  const small = mqttPacket.generate({ cmd: 'pingresp' });
  const guard = new FrameSizeGuard(1024);
  // Header split over two chunks: the limit still applies before the body arrives.
  assert.equal(guard.inspect(small), null);
  assert.equal(guard.inspect(big.subarray(0, 1)), null);
  assert.match(guard.inspect(big.subarray(1, 3)) ?? '', /exceeds the 1024-byte limit/);
});

void test('frame guard follows many packets in one chunk and a packet split mid-body', () => {
  const guard = new FrameSizeGuard(600);
  const p = mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(500), qos: 1, messageId: 7, retain: false, dup: false });
  const stream = Buffer.concat([p, p, mqttPacket.generate({ cmd: 'puback', messageId: 3 }), p]);
  for (let cut = 1; cut < stream.length; cut += 97) {
    const g = new FrameSizeGuard(600);
    assert.equal(g.inspect(stream.subarray(0, cut)), null);
    assert.equal(g.inspect(stream.subarray(cut)), null);
  }
  assert.equal(guard.inspect(stream), null);
});

void test('frame guard rejects a remaining length longer than four bytes', () => {
  const guard = new FrameSizeGuard(1 << 30);
  assert.match(guard.inspect(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])) ?? '', /malformed remaining length/);
});

void test('backoff grows exponentially with full jitter inside [min, max] and resets', () => {
  const high = new Backoff(1000, 8000, () => 1);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => high.next()), [1000, 2000, 4000, 8000, 8000]);
  high.reset();
  assert.equal(high.next(), 1000);
  const low = new Backoff(1000, 8000, () => 0);
  assert.deepEqual([1, 2, 3].map(() => low.next()), [1000, 1000, 1000]);
  const mid = new Backoff(1000, 8000, () => 0.5);
  mid.next();
  assert.equal(mid.next(), 1500);
  assert.equal(mid.max(), 8000);
});

void test('packet ids: 1..65535, never twice while in use, wrap around, reserve restored ids', () => {
  const ids = new PacketIdAllocator();
  assert.equal(ids.reserve(2), true);
  assert.equal(ids.reserve(2), false);
  assert.equal(ids.allocate(), 1);
  assert.equal(ids.allocate(), 3);
  ids.release(1);
  const seen = new Set<number>([2, 3]);
  for (let i = 0; i < MAX_PACKET_ID - 2; i++) {
    const id = ids.allocate();
    assert.ok(id !== null && id >= 1 && id <= MAX_PACKET_ID);
    assert.ok(!seen.has(id), `id ${id} handed out twice`);
    seen.add(id);
  }
  assert.equal(ids.allocate(), null);
  ids.release(40000);
  assert.equal(ids.allocate(), 40000);
  assert.equal(ids.reserve(0), false);
  assert.equal(ids.reserve(65536), false);
});

void test('keepalive pings when either direction is idle and declares the link dead without an answer', () => {
  let now = 0;
  const sent: number[] = [];
  const dead: string[] = [];
  const link = {
    lastSentAt: 0,
    lastReceivedAt: 0,
    sendPing: (flushed: () => void) => {
      sent.push(now);
      flushed();
    },
    dead: (reason: string) => dead.push(reason),
  };
  const monitor = new KeepaliveMonitor({ keepaliveMs: 1000, pingTimeoutMs: 500, now: () => now }, link);
  now = 900;
  link.lastSentAt = 900; // busy sending, but nothing received for a while
  monitor.tick();
  assert.deepEqual(sent, []);
  now = 1000;
  monitor.tick();
  assert.deepEqual(sent, [1000], 'receive-idle for keepalive triggers a ping even while sending');
  now = 1400;
  monitor.tick();
  assert.deepEqual(dead, []);
  monitor.received(); // PINGRESP
  link.lastReceivedAt = 1400;
  link.lastSentAt = 1000;
  now = 2000;
  monitor.tick();
  assert.deepEqual(sent, [1000, 2000]);
  now = 2499;
  monitor.tick();
  assert.deepEqual(dead, []);
  now = 2500;
  monitor.tick();
  assert.equal(dead.length, 1);
  assert.match(dead[0] ?? '', /within 500 ms of PINGREQ/);
});

void test('keepalive deadline starts when the ping leaves our buffers (slow link)', () => {
  let now = 0;
  let flush: (() => void) | undefined;
  const dead: string[] = [];
  const link = { lastSentAt: 0, lastReceivedAt: 0, sendPing: (f: () => void) => (flush = f), dead: (r: string) => dead.push(r) };
  const monitor = new KeepaliveMonitor({ keepaliveMs: 1000, pingTimeoutMs: 500, now: () => now }, link);
  now = 1000;
  monitor.tick();
  now = 5000; // ping still queued behind data
  monitor.tick();
  assert.deepEqual(dead, []);
  flush?.();
  now = 5499;
  monitor.tick();
  assert.deepEqual(dead, []);
  now = 5500;
  monitor.tick();
  assert.equal(dead.length, 1);
});

void test('every CONNACK refusal code has a reason and a hint; only 3 is transient', () => {
  for (const code of [1, 2, 3, 4, 5]) {
    const r = describeRefusal(code);
    assert.ok(r.reason.length > 0 && r.hint.length > 0);
    assert.equal(r.persistent, code !== 3);
  }
  assert.match(describeRefusal(4).hint, /mqtt.username/);
  assert.equal(describeRefusal(99).persistent, true);
});
