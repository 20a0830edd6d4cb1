/**
 * The session's drain order and publish pacing against a real LevelOutbox and a fake link
 * that plays the broker: which message goes when, under which id, and how many are unacked.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { PublishRateLimiter } from '../../src/mqtt/publish-rate.js';
import { Session } from '../../src/mqtt/session.js';
import type { PacketLink, SessionOptions } from '../../src/mqtt/session.js';
import type { DrainOrder, FlightState, QoS, SessionStore, StoredMessage } from '../../src/mqtt/store.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { LevelOutbox } from '../../src/outbox/level-outbox.js';
import { outboxHarness } from '../support/outbox-harness.js';
import { sleep, waitUntil } from '../support/wait.js';

const T = { timeout: 60_000 };
const DATA = 'd';
const STATUS = { topic: 's', payload: Buffer.from('online'), qos: 1 as const, retain: true };

/** Plays the broker: answers every PUBLISH/PUBREL (now, or when released) and counts what is unacked. */
class FakeLink implements PacketLink {
  isOpen = true;
  autoAck = true;
  readonly packets: Array<{ packet: Packet; at: number }> = [];
  readonly outstanding = new Map<number, 1 | 2>();
  maxOutstanding = 0;
  private held: Packet[] = [];

  constructor(private readonly session: Session) {}

  send(packet: Packet, onFlushed?: () => void): void {
    assert.ok(this.isOpen, `${packet.cmd} written to a closed link`);
    this.packets.push({ packet, at: performance.now() });
    let reply: Packet | null = null;
    if (packet.cmd === 'publish' && packet.qos > 0 && packet.messageId !== undefined) {
      this.outstanding.set(packet.messageId, packet.qos as 1 | 2);
      reply = packet.qos === 1 ? { cmd: 'puback', messageId: packet.messageId } : { cmd: 'pubrec', messageId: packet.messageId };
    }
    if (packet.cmd === 'pubrel' && packet.messageId !== undefined) {
      this.outstanding.set(packet.messageId, 2);
      reply = { cmd: 'pubcomp', messageId: packet.messageId };
    }
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding.size);
    if (onFlushed !== undefined) setImmediate(onFlushed);
    if (reply === null) return;
    if (this.autoAck) setImmediate(() => this.deliver(reply));
    else this.held.push(reply);
  }

  batch(writes: () => void): void {
    writes();
  }

  releaseAcks(): void {
    for (const reply of this.held.splice(0)) this.deliver(reply);
  }

  close(): void {
    this.isOpen = false;
    this.held = [];
  }

  get publishes(): IPublishPacket[] {
    return this.packets.map((r) => r.packet).filter((p): p is IPublishPacket => p.cmd === 'publish');
  }

  /** Data PUBLISHes in send order (seq is the payload), with their id and DUP flag. */
  get data(): Array<{ seq: number; id: number | undefined; dup: boolean }> {
    return this.publishes.filter((p) => p.topic === DATA).map((p) => ({ seq: Number(p.payload.toString()), id: p.messageId, dup: p.dup }));
  }

  get seqs(): number[] {
    return this.data.map((d) => d.seq);
  }

  private deliver(reply: Packet): void {
    if (!this.isOpen) return;
    if (reply.cmd === 'puback' || reply.cmd === 'pubcomp') this.outstanding.delete(reply.messageId as number);
    this.session.handle(reply);
  }
}

/** Commits messages whose payload is their expected seq (a fresh store numbers from 1). */
async function commitSeqs(outbox: LevelOutbox, from: number, to: number, qos: QoS = 1): Promise<void> {
  const messages = [];
  for (let seq = from; seq <= to; seq++) messages.push({ topic: DATA, payload: Buffer.from(String(seq)), qos, retain: false });
  const { seqs } = await outbox.commit(messages);
  assert.deepEqual([seqs[0], seqs[seqs.length - 1]], [from, to], 'payload = seq');
}

interface Fixture {
  outbox: LevelOutbox;
  session: Session;
  link: FakeLink;
}

async function fixture(
  t: TestContext,
  opts: { n: number; qos?: QoS; flights?: Array<{ seq: number } & FlightState>; inflight: number; drain: DrainOrder } & Partial<SessionOptions>,
  wrap: (outbox: LevelOutbox) => SessionStore = (o) => o,
): Promise<Fixture> {
  const outbox = await outboxHarness(t).openFresh();
  if (opts.n > 0) await commitSeqs(outbox, 1, opts.n, opts.qos);
  if (opts.flights !== undefined) await outbox.recordFlight(opts.flights);
  const session = new Session(wrap(outbox), { logger: silentLogger, ...opts });
  t.after(() => session.close());
  return { outbox, session, link: new FakeLink(session) };
}

const range = (from: number, to: number): number[] => {
  const out: number[] = [];
  for (let i = from; from <= to ? i <= to : i >= to; from <= to ? i++ : i--) out.push(i);
  return out;
};

function assertEachOnce(seqs: readonly number[], n: number): void {
  const counts = new Map<number, number>();
  for (const s of seqs) counts.set(s, (counts.get(s) ?? 0) + 1);
  assert.deepEqual([...counts].filter(([, c]) => c > 1), [], 'a seq was sent twice');
  assert.deepEqual(range(1, n).filter((s) => !counts.has(s)), [], 'a seq was never sent');
  assert.equal(seqs.length, n);
}

void test('newest-first: replay under the same ids, then live before backlog, backlog newest to oldest; each once, inflight held', T, async (t) => {
  const inflight = 8;
  const flights = [
    { seq: 10, packetId: 101, phase: 'published' as const },
    { seq: 150, packetId: 102, phase: 'published' as const },
    { seq: 290, packetId: 103, phase: 'published' as const },
  ];
  const { outbox, session, link } = await fixture(t, { n: 300, flights, inflight, drain: 'newest-first' });
  link.autoAck = false;
  await session.attach(link, true, [STATUS]);
  await waitUntil(() => link.outstanding.size === inflight, 5_000, 'the window to fill');
  await sleep(50);
  assert.equal(link.publishes[0]?.topic, STATUS.topic, 'status first');
  assert.deepEqual(link.data, [
    { seq: 10, id: 101, dup: true },
    { seq: 150, id: 102, dup: true },
    { seq: 290, id: 103, dup: true },
    ...[300, 299, 298, 297].map((seq) => ({ seq, id: link.data.find((d) => d.seq === seq)?.id, dup: false })),
  ]);
  assert.ok(!link.data.slice(3).some((d) => [101, 102, 103].includes(d.id ?? 0)), 'new ids never clash with restored ones');

  // Live readings committed while the window is full go before the rest of the backlog.
  await commitSeqs(outbox, 301, 305);
  await sleep(50);
  assert.equal(link.data.length, 7, 'nothing beyond the window');
  link.releaseAcks();
  await waitUntil(() => link.outstanding.size === inflight, 5_000, 'the window to fill again');
  assert.deepEqual(link.seqs.slice(7), [301, 302, 303, 304, 305, 296, 295, 294]);

  // Drain the rest with more live readings arriving on the way.
  link.autoAck = true;
  link.releaseAcks();
  await waitUntil(() => link.seqs.length >= 100, 5_000, '100 sent');
  await commitSeqs(outbox, 306, 310);
  const sentAtCommit = link.seqs.length;
  await waitUntil(() => outbox.stats().messages === 0 && link.outstanding.size === 0, 15_000, 'everything acked and deleted', {
    detail: () => `stored ${outbox.stats().messages}, sent ${link.seqs.length}`,
  });
  const seqs = link.seqs;
  assertEachOnce(seqs, 310);
  const backlog = seqs.filter((s) => s <= 300 && ![10, 150, 290].includes(s));
  assert.deepEqual(backlog, range(300, 1).filter((s) => ![10, 150, 290].includes(s)), 'backlog strictly newest to oldest');
  const live = seqs.filter((s) => s > 300);
  assert.deepEqual(live, range(301, 310), 'live in commit order');
  // 306..310 must not wait for the backlog still stored when their commit resolved.
  assert.ok(sentAtCommit < 300, `the backlog was drained before the live commit landed (${sentAtCommit} sent)`);
  assert.ok(seqs.indexOf(306) <= sentAtCommit + inflight, `live 306 went out at position ${seqs.indexOf(306)}, commit resolved at ${sentAtCommit}`);
  assert.ok(link.maxOutstanding <= inflight, `max outstanding ${link.maxOutstanding}`);
  assert.deepEqual(await outbox.readFlights(), []);
});

void test('newest-first without the broker session: in-flight messages go first as new messages, then newest first', T, async (t) => {
  const flights = [
    { seq: 5, packetId: 7, phase: 'published' as const },
    { seq: 20, packetId: 8, phase: 'published' as const },
  ];
  const { outbox, session, link } = await fixture(t, { n: 50, flights, inflight: 4, drain: 'newest-first' });
  await session.attach(link, false);
  await waitUntil(() => outbox.stats().messages === 0 && link.outstanding.size === 0, 10_000, 'drained');
  assert.deepEqual(link.seqs, [5, 20, ...range(50, 1).filter((s) => s !== 5 && s !== 20)]);
  assert.ok(link.data.every((d) => !d.dup), 'no DUP: the broker has no session');
});

void test('newest-first QoS 2: a released message resumes with PUBREL under its id, never a new PUBLISH; exactly once', T, async (t) => {
  const flights = [
    { seq: 3, packetId: 40, phase: 'released' as const },
    { seq: 25, packetId: 41, phase: 'published' as const },
  ];
  const { outbox, session, link } = await fixture(t, { n: 30, qos: 2, flights, inflight: 3, drain: 'newest-first' });
  await session.attach(link, true);
  await waitUntil(() => outbox.stats().messages === 0 && link.outstanding.size === 0, 10_000, 'drained');
  const first = link.packets[0]?.packet;
  assert.deepEqual([first?.cmd, first?.cmd === 'pubrel' ? first.messageId : null], ['pubrel', 40]);
  assert.deepEqual(link.data[0], { seq: 25, id: 41, dup: true });
  assert.deepEqual(link.seqs, [25, ...range(30, 1).filter((s) => s !== 3 && s !== 25)], 'seq 3 is never published again');
  assert.ok(link.maxOutstanding <= 3);
});

void test('newest-first: acks and live commits racing a backlog read lose nothing and send nothing twice', T, async (t) => {
  let gate: Promise<void> | null = null;
  let open = (): void => undefined;
  let readHeld = false;
  // Holds the *result* of a backlog read: its snapshot predates the acks and deletes below.
  const wrap = (outbox: LevelOutbox): SessionStore =>
    new Proxy(outbox, {
      get(target, prop) {
        if (prop === 'readBefore') {
          return async (before: number, limit: number): Promise<StoredMessage[]> => {
            const result = await target.readBefore(before, limit);
            if (gate !== null) {
              readHeld = true;
              await gate;
            }
            return result;
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const flights = [
    { seq: 150, packetId: 1, phase: 'published' as const },
    { seq: 199, packetId: 2, phase: 'published' as const },
  ];
  const { outbox, session, link } = await fixture(t, { n: 200, flights, inflight: 4, drain: 'newest-first' }, wrap);
  gate = new Promise<void>((resolve) => (open = resolve));
  link.autoAck = false;
  await session.attach(link, true);
  await waitUntil(() => readHeld, 5_000, 'the backlog read to be under way');
  assert.deepEqual(link.seqs, [150, 199]);
  // The replayed messages are acked and deleted while the read (which still holds them) waits.
  link.releaseAcks();
  await waitUntil(() => outbox.stats().messages === 198, 5_000, 'acked replay deleted');
  await commitSeqs(outbox, 201, 210);
  link.autoAck = true;
  gate = null;
  open();
  await waitUntil(() => outbox.stats().messages === 0 && link.outstanding.size === 0, 10_000, 'drained', {
    detail: () => `stored ${outbox.stats().messages}, sent ${link.seqs.length}`,
  });
  assertEachOnce(link.seqs, 210);
  assert.deepEqual(link.seqs, [150, 199, ...range(201, 210), ...range(200, 1).filter((s) => s !== 150 && s !== 199)]);
  assert.ok(link.maxOutstanding <= 4);
});

void test('oldest-first is unchanged: replay first, then stored before live, in seq order', T, async (t) => {
  const flights = [
    { seq: 1, packetId: 9, phase: 'published' as const },
    { seq: 2, packetId: 10, phase: 'published' as const },
  ];
  const { outbox, session, link } = await fixture(t, { n: 200, flights, inflight: 5, drain: 'oldest-first' });
  await session.attach(link, true);
  await waitUntil(() => link.seqs.length >= 20, 5_000, '20 sent');
  await commitSeqs(outbox, 201, 220);
  await waitUntil(() => outbox.stats().messages === 0 && link.outstanding.size === 0, 10_000, 'drained');
  assert.deepEqual(link.seqs, range(1, 220), 'a new message never overtakes a stored one');
  assert.deepEqual(link.data.slice(0, 2), [
    { seq: 1, id: 9, dup: true },
    { seq: 2, id: 10, dup: true },
  ]);
  assert.ok(link.maxOutstanding <= 5);
});

void test('maxPublishRate: at most R PUBLISHes in any 1000 ms, status included; the drain completes', { timeout: 60_000 }, async (t) => {
  const rate = 20;
  const { outbox, session, link } = await fixture(t, { n: 45, inflight: 10, drain: 'newest-first', publishRate: new PublishRateLimiter(rate) });
  const started = performance.now();
  await session.attach(link, true, [STATUS]);
  await waitUntil(() => outbox.stats().messages === 0 && link.outstanding.size === 0, 20_000, 'drained');
  const elapsed = performance.now() - started;
  const times = link.packets.filter((r) => r.packet.cmd === 'publish').map((r) => r.at);
  assert.equal(times.length, 46);
  // Same clock as the limiter, and the limiter counts a send after writing it: the bound is exact here.
  for (let k = 0; k + rate < times.length; k++) {
    const gap = (times[k + rate] as number) - (times[k] as number);
    assert.ok(gap >= 1_000, `publishes ${k} and ${k + rate} ${gap.toFixed(1)} ms apart`);
  }
  // 46 publishes at 20/s from a 1-token bucket: the 46th can go at 45/20 s at the earliest.
  assert.ok(elapsed >= 2_200 && elapsed < 6_000, `drain took ${elapsed.toFixed(0)} ms`);
  assertEachOnce(link.seqs, 45);
});

void test('maxPublishRate counts PUBLISH only: replayed PUBRELs pass a spent budget', T, async (t) => {
  const flights = [1, 2, 3].map((seq) => ({ seq, packetId: seq, phase: 'released' as const }));
  const clock = { t: 0 };
  const publishRate = new PublishRateLimiter(1, () => clock.t);
  const { session, link } = await fixture(t, { n: 3, qos: 2, flights, inflight: 10, drain: 'oldest-first', publishRate });
  link.autoAck = false;
  await session.attach(link, true, [STATUS]);
  await waitUntil(() => link.packets.length >= 4, 5_000, 'status and three PUBRELs');
  await sleep(50);
  assert.deepEqual(
    link.packets.map((r) => r.packet.cmd),
    ['publish', 'pubrel', 'pubrel', 'pubrel'],
  );
});

void test('maxPublishRate: a paused pump stops for good on detach and resumes on the next attach', T, async (t) => {
  const { outbox, session, link } = await fixture(t, { n: 40, inflight: 10, drain: 'oldest-first', publishRate: new PublishRateLimiter(5) });
  await session.attach(link, true);
  await waitUntil(() => link.seqs.length >= 2, 5_000, 'two sent');
  link.close();
  session.detach();
  const sentBefore = link.packets.length;
  await sleep(700);
  assert.equal(link.packets.length, sentBefore, 'nothing written after detach');

  const next = new FakeLink(session);
  await session.attach(next, true);
  await waitUntil(() => next.seqs.length >= 2, 5_000, 'pacing resumes on the new link');
  assert.ok(outbox.stats().messages > 30);
});
