/**
 * The command router and the built-in commands, with a recording publish and fake serial ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtInHandlers } from '../../src/commands/handlers.js';
import type { SerialWriter } from '../../src/commands/handlers.js';
import { CommandRouter, MAX_COMMAND_PAYLOAD_BYTES, MAX_QUEUED_COMMANDS, parseRequest } from '../../src/commands/router.js';
import type { CommandHandler } from '../../src/commands/router.js';
import type { IncomingMessage } from '../../src/mqtt/session.js';
import type { OutgoingMessage } from '../../src/mqtt/store.js';
import { silentLogger } from '../../src/observe/logger.js';

const TOPIC = 'sensorgate/gw/cmd';

class FakePort implements SerialWriter {
  readonly writes: Buffer[] = [];
  open = true;
  async write(data: Buffer): Promise<void> {
    await Promise.resolve();
    if (!this.open) throw new Error('serial port /dev/fake is not open');
    this.writes.push(data);
  }
}

function setup(handlers?: Record<string, CommandHandler>) {
  const published: OutgoingMessage[] = [];
  const port = new FakePort();
  const router = new CommandRouter({
    topic: TOPIC,
    handlers: handlers ?? builtInHandlers({ status: () => ({ device: 'gw' }), serial: new Map([['wx', port]]) }),
    publish: (message) => {
      published.push(message);
      return Promise.resolve(true);
    },
    logger: silentLogger,
  });
  const send = async (name: string, payload: string | Buffer = '', over: Partial<IncomingMessage> = {}): Promise<Record<string, unknown> | undefined> => {
    const before = published.length;
    router.handle({ topic: `${TOPIC}/${name}`, payload: Buffer.from(payload), qos: 1, retain: false, ...over });
    await router.idle();
    const result = published[before];
    if (result === undefined) return undefined;
    assert.equal(result.topic, `${TOPIC}/${name}/result`);
    assert.equal(result.qos, 1);
    assert.equal(result.retain, false);
    return JSON.parse(result.payload.toString()) as Record<string, unknown>;
  };
  return { router, published, port, send };
}

void test('topics: one level below the command topic is a command; results and deeper topics are not', () => {
  const { router } = setup();
  assert.equal(router.subscription, `${TOPIC}/+`);
  assert.equal(router.matches(`${TOPIC}/ping`), true);
  assert.equal(router.matches(`${TOPIC}/ping/result`), false);
  assert.equal(router.matches(TOPIC), false);
  assert.equal(router.matches('sensorgate/gw/cmdx/ping'), false);
});

void test('ping answers ok with pong, echoing the id; status answers the agent status', async () => {
  const { send } = setup();
  const ping = await send('ping', '{"id":"abc"}');
  assert.equal(ping?.ok, true);
  assert.equal(ping?.pong, true);
  assert.equal(ping?.command, 'ping');
  assert.equal(ping?.id, 'abc');
  assert.equal(typeof ping?.ts, 'number');
  assert.deepEqual(await send('status'), { ok: true, command: 'status', status: { device: 'gw' } });
});

void test('unknown commands and bad payloads get an error result, never a throw', async () => {
  const { send, router } = setup();
  assert.deepEqual(await send('reboot', '{"id":1}'), { ok: false, command: 'reboot', id: 1, error: 'unknown command "reboot" (known: ping, status, serial-write)' });
  assert.equal((await send('ping', 'not json'))?.error, 'payload must be a JSON object (or empty)');
  assert.equal((await send('ping', '[1,2]'))?.error, 'payload must be a JSON object (or empty)');
  assert.match(String((await send('ping', '{"id":{"x":1}}'))?.error), /^id must be/);
  assert.match(String((await send('ping', Buffer.alloc(MAX_COMMAND_PAYLOAD_BYTES + 1, 0x20)))?.error), /at most 4096/);
  const counts = Object.fromEntries(router.stats().map((c) => [c.command, c]));
  assert.deepEqual(counts.other, { command: 'other', ok: 0, failed: 1 }, 'names from outside are not metric labels');
  assert.deepEqual(counts.ping, { command: 'ping', ok: 0, failed: 4 });
});

void test('a handler that throws unexpectedly is an error result too', async () => {
  const { send } = setup({
    boom: () => {
      throw new TypeError('kaput');
    },
  });
  assert.deepEqual(await send('boom'), { ok: false, command: 'boom', error: 'kaput' });
});

void test('retained commands are ignored: the broker would hand them over again on every connect', async () => {
  const { send, published } = setup();
  assert.equal(await send('ping', '', { retain: true }), undefined);
  assert.equal(published.length, 0);
});

void test('serial-write: text with escapes or hex to the named source; every mistake named', async () => {
  const { send, port } = setup();
  assert.deepEqual(await send('serial-write', '{"source":"wx","data":"R\\\\r\\\\x41"}'), { ok: true, command: 'serial-write', source: 'wx', bytes: 3 });
  assert.deepEqual(await send('serial-write', '{"source":"wx","hex":"52 0d"}'), { ok: true, command: 'serial-write', source: 'wx', bytes: 2 });
  assert.deepEqual(port.writes.map((b) => b.toString('hex')), ['520d41', '520d']);
  assert.match(String((await send('serial-write', '{"source":"nope","data":"x"}'))?.error), /no serial source "nope" \(serial sources: wx\)/);
  assert.match(String((await send('serial-write', '{"data":"x"}'))?.error), /"source" must name a serial source \(wx\)/);
  assert.match(String((await send('serial-write', '{"source":"wx"}'))?.error), /exactly one of "data"/);
  assert.match(String((await send('serial-write', '{"source":"wx","data":"x","hex":"00"}'))?.error), /exactly one of "data"/);
  assert.match(String((await send('serial-write', '{"source":"wx","hex":"5"}'))?.error), /pairs of hex digits/);
  assert.match(String((await send('serial-write', '{"source":"wx","data":"\\\\q"}'))?.error), /^"data": /);
  port.open = false;
  assert.deepEqual(await send('serial-write', '{"source":"wx","data":"x"}'), { ok: false, command: 'serial-write', error: 'serial port /dev/fake is not open' });
  assert.equal(port.writes.length, 2, 'nothing written by a refused command');
});

void test('commands run one at a time in arrival order; beyond the queue limit they are answered busy', async () => {
  const order: string[] = [];
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { router, published } = setup({
    slow: async (args) => {
      order.push(`start ${String(args.n)}`);
      await gate;
      order.push(`end ${String(args.n)}`);
      return {};
    },
  });
  for (let n = 0; n < MAX_QUEUED_COMMANDS + 3; n++) router.handle({ topic: `${TOPIC}/slow`, payload: Buffer.from(JSON.stringify({ n })), qos: 2, retain: false });
  await new Promise((resolve) => setImmediate(resolve));
  const busy = published.map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);
  assert.equal(busy.length, 3, 'the three over the limit are refused at once');
  for (const b of busy) assert.match(String(b.error), /^busy/);
  assert.deepEqual(order, ['start 0'], 'the next waits for the running one');
  release();
  await router.idle();
  assert.deepEqual(order.slice(0, 4), ['start 0', 'end 0', 'start 1', 'end 1']);
  assert.equal(published.length, MAX_QUEUED_COMMANDS + 3);
});

void test('parseRequest: empty payload is no arguments', () => {
  assert.deepEqual(parseRequest('ping', Buffer.alloc(0)), { name: 'ping', args: {} });
});
