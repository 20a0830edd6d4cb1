/** parseConfig: defaults, normalisation and field-named errors (no files involved). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/errors.js';
import type { ConfigIssue } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { PASSWORD_ENV } from '../../src/config/schema.js';
import type { AgentConfig } from '../../src/config/types.js';

const BASE_DIR = '/etc/sensorgate';
const MINIMAL = { device: { id: 'gw-1' }, mqtt: { url: 'mqtt://broker.local' } } as const;

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** MINIMAL with `patch` merged in (objects merge, everything else replaces). */
function withPatch(patch: Plain, base: Plain = MINIMAL): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] = isPlain(value) && isPlain(current) ? withPatch(value, current) : value;
  }
  return out;
}

function parse(raw: unknown, env: Record<string, string | undefined> = {}): Promise<AgentConfig> {
  return parseConfig(raw, { baseDir: BASE_DIR, env });
}

async function issuesOf(raw: unknown): Promise<readonly ConfigIssue[]> {
  try {
    await parse(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return assert.fail(`expected a ConfigError for ${JSON.stringify(raw)}`);
}

void test('a minimal config gets every default', async () => {
  const config = await parse(MINIMAL);
  const expected: AgentConfig = {
    device: { id: 'gw-1' },
    mqtt: {
      url: 'mqtt://broker.local:1883',
      protocol: 'mqtt',
      host: 'broker.local',
      port: 1883,
      clientId: 'gw-1',
      keepaliveMs: 60_000,
      pingTimeoutMs: 30_000,
      inflight: 20,
      maxPublishRate: 0,
      connectTimeoutMs: 30_000,
      reconnect: { minDelayMs: 1_000, maxDelayMs: 120_000 },
      maxIncomingPacketBytes: 1_048_576,
      tls: { rejectUnauthorized: true },
    },
    status: { topic: 'sensorgate/gw-1/status', online: 'online', offline: 'offline' },
    store: {
      path: '/etc/sensorgate/sensorgate-data',
      maxMessages: 0,
      maxBytes: 0,
      minFreeSpace: 64 * 1_048_576,
      whenFull: 'drop-oldest',
      sync: false,
      drain: 'oldest-first',
    },
    publish: { qos: 1, retain: false, topic: 'sensorgate/{device}/{source}', mode: 'reading' },
    metrics: { healthWindowMs: 300_000 },
    homeassistant: { discovery: false, prefix: 'homeassistant' },
    commands: { enabled: false, topic: 'sensorgate/gw-1/cmd' },
    sources: [],
    log: { level: 'info', format: 'auto' },
  };
  assert.deepEqual(config, expected);
});

void test('publish.batch: left out means no batching; given, even empty, means batching with the defaults', async () => {
  assert.equal('batch' in (await parse(MINIMAL)).publish, false);
  const defaults = { maxReadings: 50, maxDelayMs: 10_000, maxBytes: 16_384 };
  assert.deepEqual((await parse(withPatch({ publish: { batch: {} } }))).publish.batch, defaults);
  assert.deepEqual((await parse(withPatch({ publish: { batch: null } }))).publish.batch, defaults);
  const config = await parse(withPatch({ publish: { qos: 2, batch: { maxReadings: 10, maxDelay: '30s', maxBytes: '4KB' } } }));
  assert.deepEqual(config.publish, {
    qos: 2,
    retain: false,
    topic: 'sensorgate/{device}/{source}',
    mode: 'reading',
    batch: { maxReadings: 10, maxDelayMs: 30_000, maxBytes: 4_096 },
  });
  // The bounds themselves are accepted.
  assert.deepEqual((await parse(withPatch({ publish: { batch: { maxReadings: 1, maxDelay: '1ms', maxBytes: 256 } } }))).publish.batch, {
    maxReadings: 1,
    maxDelayMs: 1,
    maxBytes: 256,
  });
  assert.equal((await parse(withPatch({ publish: { batch: { maxBytes: '64KB' } } }))).publish.batch?.maxBytes, 65_536);
});

void test('empty sections (every key commented out in YAML) mean defaults', async () => {
  const config = await parse({ ...MINIMAL, status: null, store: null, publish: null, sources: null, log: null });
  assert.equal(config.status.topic, 'sensorgate/gw-1/status');
  assert.deepEqual(config.sources, []);
  assert.equal(config.log.level, 'info');
});

void test('every key given explicitly is parsed and converted', async () => {
  const config = await parse(
    withPatch({
      mqtt: {
        url: 'mqtts://Broker.Example.com:9883/',
        clientId: 'client-7',
        username: 'user',
        password: 'pw',
        keepalive: '2m',
        pingTimeout: 0.5,
        inflight: 100,
        maxPublishRate: 100,
        connectTimeout: '1500ms',
        reconnect: { minDelay: '200ms', maxDelay: '1h' },
        maxPacketSize: '256KB',
        tls: { rejectUnauthorized: false },
      },
      status: { topic: 'site/{device}/state', online: '1', offline: '0' },
      store: { path: 'queue', maxMessages: 5000, maxBytes: '64MiB', minFreeSpace: '10MB', whenFull: 'drop-newest', sync: true, drain: 'newest-first' },
      publish: { qos: 2, retain: true, topic: 'site/{source}/{device}' },
      sources: [
        { type: 'simulated', name: 'greenhouse', interval: '250ms', count: 10 },
        { type: 'simulated', name: 'barn.north_2' },
      ],
      log: { level: 'debug', format: 'text' },
    }),
  );
  assert.deepEqual(config.mqtt, {
    url: 'mqtts://broker.example.com:9883',
    protocol: 'mqtts',
    host: 'broker.example.com',
    port: 9883,
    clientId: 'client-7',
    username: 'user',
    password: 'pw',
    passwordSource: 'config',
    keepaliveMs: 120_000,
    pingTimeoutMs: 500,
    inflight: 100,
    maxPublishRate: 100,
    connectTimeoutMs: 1_500,
    reconnect: { minDelayMs: 200, maxDelayMs: 3_600_000 },
    maxIncomingPacketBytes: 262_144,
    tls: { rejectUnauthorized: false },
  });
  assert.deepEqual(config.status, { topic: 'site/gw-1/state', online: '1', offline: '0' });
  assert.deepEqual(config.store, {
    path: '/etc/sensorgate/queue',
    maxMessages: 5000,
    maxBytes: 64 * 1_048_576,
    minFreeSpace: 10 * 1_048_576,
    whenFull: 'drop-newest',
    sync: true,
    drain: 'newest-first',
  });
  assert.deepEqual(config.publish, { qos: 2, retain: true, topic: 'site/{source}/{device}', mode: 'reading' });
  assert.deepEqual(config.sources, [
    { type: 'simulated', name: 'greenhouse', intervalMs: 250, count: 10 },
    { type: 'simulated', name: 'barn.north_2', intervalMs: 1_000 },
  ]);
  assert.deepEqual(config.log, { level: 'debug', format: 'text' });
});

void test('mqtt.url: default ports, IPv6, normalisation', async () => {
  const cases: Array<[string, Pick<AgentConfig['mqtt'], 'url' | 'protocol' | 'host' | 'port'>]> = [
    ['mqtt://localhost', { url: 'mqtt://localhost:1883', protocol: 'mqtt', host: 'localhost', port: 1883 }],
    ['mqtts://broker', { url: 'mqtts://broker:8883', protocol: 'mqtts', host: 'broker', port: 8883 }],
    ['MQTT://10.0.0.5:1884', { url: 'mqtt://10.0.0.5:1884', protocol: 'mqtt', host: '10.0.0.5', port: 1884 }],
    ['mqtt://[::1]:1883', { url: 'mqtt://[::1]:1883', protocol: 'mqtt', host: '::1', port: 1883 }],
    ['mqtt://mosquitto_1', { url: 'mqtt://mosquitto_1:1883', protocol: 'mqtt', host: 'mosquitto_1', port: 1883 }],
  ];
  for (const [url, expected] of cases) {
    const { mqtt } = await parse(withPatch({ mqtt: { url } }));
    assert.deepEqual({ url: mqtt.url, protocol: mqtt.protocol, host: mqtt.host, port: mqtt.port }, expected, url);
  }
});

void test('mqtt.pingTimeout defaults to half the keepalive, at most 30s', async () => {
  assert.equal((await parse(withPatch({ mqtt: { keepalive: 10 } }))).mqtt.pingTimeoutMs, 5_000);
  assert.equal((await parse(withPatch({ mqtt: { keepalive: '1s' } }))).mqtt.pingTimeoutMs, 500);
  assert.equal((await parse(withPatch({ mqtt: { keepalive: '65535s' } }))).mqtt.pingTimeoutMs, 30_000);
  assert.equal((await parse(withPatch({ mqtt: { keepalive: 10, pingTimeout: '8s' } }))).mqtt.pingTimeoutMs, 8_000);
});

void test('sources: interval 0ms is allowed (as fast as possible)', async () => {
  const config = await parse(withPatch({ sources: [{ type: 'simulated', name: 'fast', interval: '0ms' }] }));
  const source = config.sources[0];
  assert.equal(source?.type === 'simulated' ? source.intervalMs : undefined, 0);
});

void test('password from the environment only when the config has none', async () => {
  const fromEnv = await parse(MINIMAL, { [PASSWORD_ENV]: 'from-env' });
  assert.equal(fromEnv.mqtt.password, 'from-env');
  assert.equal(fromEnv.mqtt.passwordSource, 'env');

  const inline = await parse(withPatch({ mqtt: { password: 'inline' } }), { [PASSWORD_ENV]: 'from-env' });
  assert.equal(inline.mqtt.password, 'inline');
  assert.equal(inline.mqtt.passwordSource, 'config');

  const emptyEnv = await parse(MINIMAL, { [PASSWORD_ENV]: '' });
  assert.equal(emptyEnv.mqtt.password, undefined);
  assert.equal((await parse(MINIMAL)).mqtt.password, undefined);
});

void test('a password without a username is allowed', async () => {
  const config = await parse(withPatch({ mqtt: { password: 'pw' } }));
  assert.equal(config.mqtt.username, undefined);
  assert.equal(config.mqtt.password, 'pw');
});

/** [what, config, field path the issue must name, message fragment] */
const BAD: Array<[string, unknown, string, string | RegExp]> = [
  ['device missing', { mqtt: MINIMAL.mqtt }, 'device.id', 'is required'],
  ['device.id empty', withPatch({ device: { id: '' } }), 'device.id', 'must not be empty'],
  ['device.id with +', withPatch({ device: { id: 'a+b' } }), 'device.id', 'must not contain +, # or /'],
  ['device.id with #', withPatch({ device: { id: 'a#' } }), 'device.id', 'must not contain'],
  ['device.id with /', withPatch({ device: { id: 'a/b' } }), 'device.id', 'must not contain'],
  ['device.id with NUL', withPatch({ device: { id: 'a\u0000b' } }), 'device.id', 'NUL'],
  ['device.id a number', withPatch({ device: { id: 42 } }), 'device.id', 'must be a string (put the value in quotes)'],
  ['mqtt missing', { device: MINIMAL.device }, 'mqtt.url', 'is required'],
  ['mqtt.url scheme', withPatch({ mqtt: { url: 'tcp://broker:1883' } }), 'mqtt.url', /must be mqtt:\/\/host\[:port\] or mqtts:\/\/host\[:port\]; tcp: is not supported/],
  ['mqtt.url ws', withPatch({ mqtt: { url: 'ws://broker' } }), 'mqtt.url', 'ws: is not supported'],
  ['mqtt.url no scheme', withPatch({ mqtt: { url: 'broker:1883' } }), 'mqtt.url', 'must be mqtt://host[:port]'],
  ['mqtt.url path', withPatch({ mqtt: { url: 'mqtt://broker/x' } }), 'mqtt.url', 'must be mqtt://host[:port]'],
  ['mqtt.url credentials', withPatch({ mqtt: { url: 'mqtt://u:p@broker' } }), 'mqtt.url', 'mqtt.username and mqtt.password'],
  ['mqtt.url port 0', withPatch({ mqtt: { url: 'mqtt://broker:0' } }), 'mqtt.url', 'between 1 and 65535'],
  ['mqtt.url port too big', withPatch({ mqtt: { url: 'mqtt://broker:65536' } }), 'mqtt.url', 'between 1 and 65535'],
  ['mqtt.url empty', withPatch({ mqtt: { url: '' } }), 'mqtt.url', 'must be mqtt://'],
  ['mqtt.clientId empty', withPatch({ mqtt: { clientId: '' } }), 'mqtt.clientId', 'must not be empty'],
  ['mqtt.clientId too long', withPatch({ mqtt: { clientId: 'é'.repeat(32_768) } }), 'mqtt.clientId', '65535 bytes'],
  ['mqtt.username number', withPatch({ mqtt: { username: 7 } }), 'mqtt.username', 'must be a string'],
  ['mqtt.password number', withPatch({ mqtt: { password: 12345 } }), 'mqtt.password', 'put the value in quotes'],
  ['mqtt.keepalive 0', withPatch({ mqtt: { keepalive: 0 } }), 'mqtt.keepalive', '0 is not allowed'],
  ['mqtt.keepalive too big', withPatch({ mqtt: { keepalive: 65_536 } }), 'mqtt.keepalive', 'between 1s and 65535s'],
  ['mqtt.keepalive fraction', withPatch({ mqtt: { keepalive: '1500ms' } }), 'mqtt.keepalive', 'whole number of seconds'],
  ['mqtt.keepalive garbage', withPatch({ mqtt: { keepalive: 'soon' } }), 'mqtt.keepalive', 'must be a duration like 200ms, 5s, 2m'],
  ['mqtt.pingTimeout 0', withPatch({ mqtt: { pingTimeout: 0 } }), 'mqtt.pingTimeout', 'greater than 0'],
  ['mqtt.inflight 0', withPatch({ mqtt: { inflight: 0 } }), 'mqtt.inflight', 'must be a positive integer'],
  ['mqtt.inflight fraction', withPatch({ mqtt: { inflight: 1.5 } }), 'mqtt.inflight', 'must be a positive integer'],
  ['mqtt.inflight string', withPatch({ mqtt: { inflight: 'ten' } }), 'mqtt.inflight', 'must be a positive integer'],
  ['mqtt.inflight too big', withPatch({ mqtt: { inflight: 65_536 } }), 'mqtt.inflight', 'must be at most 65535'],
  ['mqtt.maxPublishRate negative', withPatch({ mqtt: { maxPublishRate: -1 } }), 'mqtt.maxPublishRate', 'must be a whole number of messages per second (0 = unlimited)'],
  ['mqtt.maxPublishRate fraction', withPatch({ mqtt: { maxPublishRate: 2.5 } }), 'mqtt.maxPublishRate', 'must be a whole number of messages per second (0 = unlimited)'],
  ['mqtt.maxPublishRate string', withPatch({ mqtt: { maxPublishRate: '100/s' } }), 'mqtt.maxPublishRate', 'must be a whole number of messages per second (0 = unlimited)'],
  ['mqtt.maxPublishRate too big', withPatch({ mqtt: { maxPublishRate: 10_001 } }), 'mqtt.maxPublishRate', 'must be at most 10000'],
  ['mqtt.connectTimeout negative', withPatch({ mqtt: { connectTimeout: -1 } }), 'mqtt.connectTimeout', 'must be a duration'],
  ['mqtt.connectTimeout past timers', withPatch({ mqtt: { connectTimeout: '1000h' } }), 'mqtt.connectTimeout', 'at most 24 days'],
  ['mqtt.reconnect.minDelay 0', withPatch({ mqtt: { reconnect: { minDelay: 0 } } }), 'mqtt.reconnect.minDelay', 'greater than 0'],
  ['mqtt.reconnect max < min', withPatch({ mqtt: { reconnect: { minDelay: '10s', maxDelay: '5s' } } }), 'mqtt.reconnect.maxDelay', 'at least mqtt.reconnect.minDelay (10s)'],
  ['mqtt.reconnect min > default max', withPatch({ mqtt: { reconnect: { minDelay: '5m' } } }), 'mqtt.reconnect.maxDelay', 'at least'],
  ['mqtt.reconnect typo', withPatch({ mqtt: { reconnect: { maxdelay: '5s' } } }), 'mqtt.reconnect.maxdelay', 'unknown key (did you mean maxDelay?)'],
  ['mqtt.maxPacketSize garbage', withPatch({ mqtt: { maxPacketSize: 'big' } }), 'mqtt.maxPacketSize', 'must be a size like'],
  ['mqtt.maxPacketSize too small', withPatch({ mqtt: { maxPacketSize: 10 } }), 'mqtt.maxPacketSize', 'at least 64B'],
  ['mqtt.maxPacketSize too big', withPatch({ mqtt: { maxPacketSize: '1GB' } }), 'mqtt.maxPacketSize', 'at most'],
  ['mqtt.tls with mqtt://', withPatch({ mqtt: { tls: { rejectUnauthorized: false } } }), 'mqtt.tls', 'need an mqtts:// url'],
  ['mqtt.tls.rejectUnauthorized string', withPatch({ mqtt: { url: 'mqtts://b', tls: { rejectUnauthorized: 'no' } } }), 'mqtt.tls.rejectUnauthorized', 'must be true or false'],
  ['mqtt.tls unknown key', withPatch({ mqtt: { url: 'mqtts://b', tls: { cafile: 'x' } } }), 'mqtt.tls.cafile', 'unknown key'],
  ['mqtt typo', withPatch({ mqtt: { inflght: 5 } }), 'mqtt.inflght', 'unknown key (did you mean inflight?)'],
  ['mqtt password and passwordFile', withPatch({ mqtt: { password: 'a', passwordFile: '/nonexistent/pw' } }), 'mqtt.passwordFile', 'cannot be used together with mqtt.password'],
  ['status.topic wildcard', withPatch({ status: { topic: 'a/#' } }), 'status.topic', 'wildcards'],
  ['status.topic placeholder', withPatch({ status: { topic: 'a/{source}' } }), 'status.topic', 'unknown placeholder {source} (known: {device})'],
  ['status.topic empty', withPatch({ status: { topic: '' } }), 'status.topic', 'must not be empty'],
  ['status.topic NUL', withPatch({ status: { topic: 'a\u0000' } }), 'status.topic', 'NUL'],
  ['status.topic too long', withPatch({ status: { topic: `x/{device}/${'y'.repeat(65_530)}` } }), 'status.topic', '65535 bytes'],
  ['status.online empty', withPatch({ status: { online: '' } }), 'status.online', 'must not be empty'],
  ['status.offline number', withPatch({ status: { offline: 0 } }), 'status.offline', 'must be a string'],
  ['store.path empty', withPatch({ store: { path: '' } }), 'store.path', 'must not be empty'],
  ['store.maxMessages negative', withPatch({ store: { maxMessages: -1 } }), 'store.maxMessages', 'must be a whole number (0 = unlimited)'],
  ['store.maxBytes negative', withPatch({ store: { maxBytes: '-5MB' } }), 'store.maxBytes', 'must be a size like'],
  ['store.minFreeSpace not a size', withPatch({ store: { minFreeSpace: '5%' } }), 'store.minFreeSpace', 'must be a size like'],
  ['store.whenFull', withPatch({ store: { whenFull: 'drop-all' } }), 'store.whenFull', 'must be one of: drop-oldest, drop-newest'],
  ['store.sync yes', withPatch({ store: { sync: 'yes' } }), 'store.sync', 'must be true or false'],
  ['store.drain', withPatch({ store: { drain: 'random' } }), 'store.drain', 'must be one of: oldest-first, newest-first'],
  ['store.drain number', withPatch({ store: { drain: 1 } }), 'store.drain', 'must be one of: oldest-first, newest-first'],
  ['publish.qos 3', withPatch({ publish: { qos: 3 } }), 'publish.qos', 'must be 0, 1 or 2'],
  ['publish.qos string', withPatch({ publish: { qos: '1' } }), 'publish.qos', 'must be 0, 1 or 2'],
  ['publish.retain', withPatch({ publish: { retain: 1 } }), 'publish.retain', 'must be true or false'],
  ['publish.topic placeholder', withPatch({ publish: { topic: 'a/{foo}' } }), 'publish.topic', 'unknown placeholder {foo} (known: {device}, {source}, {field})'],
  ['publish.topic wildcard', withPatch({ publish: { topic: 'a/+/{source}' } }), 'publish.topic', 'wildcards'],
  ['publish.topic empty', withPatch({ publish: { topic: '' } }), 'publish.topic', 'must not be empty'],
  [
    'publish.topic too long for a source',
    // Fine with the sample value "source"; too long with this source's name.
    withPatch({ publish: { topic: `{source}/${'y'.repeat(65_525)}` }, sources: [{ type: 'simulated', name: 'long-name-xyz' }] }),
    'publish.topic',
    'must be at most 65535 bytes (UTF-8) (for source long-name-xyz)',
  ],
  ['publish.batch.maxReadings 0', withPatch({ publish: { batch: { maxReadings: 0 } } }), 'publish.batch.maxReadings', 'must be a positive integer'],
  ['publish.batch.maxReadings fraction', withPatch({ publish: { batch: { maxReadings: 2.5 } } }), 'publish.batch.maxReadings', 'must be a positive integer'],
  ['publish.batch.maxDelay 0', withPatch({ publish: { batch: { maxDelay: 0 } } }), 'publish.batch.maxDelay', 'greater than 0'],
  ['publish.batch.maxDelay garbage', withPatch({ publish: { batch: { maxDelay: 'soon' } } }), 'publish.batch.maxDelay', 'must be a duration like'],
  ['publish.batch.maxBytes too small', withPatch({ publish: { batch: { maxBytes: 100 } } }), 'publish.batch.maxBytes', 'between 256B (room for at least one reading) and 64KiB'],
  ['publish.batch.maxBytes too big', withPatch({ publish: { batch: { maxBytes: '1MB' } } }), 'publish.batch.maxBytes', 'what every common broker accepts'],
  ['publish.batch.maxBytes garbage', withPatch({ publish: { batch: { maxBytes: 'lots' } } }), 'publish.batch.maxBytes', 'must be a size like'],
  ['publish.batch typo', withPatch({ publish: { batch: { maxReading: 5 } } }), 'publish.batch.maxReading', 'unknown key (did you mean maxReadings?)'],
  ['publish.batch not a mapping', withPatch({ publish: { batch: true } }), 'publish.batch', 'must be a mapping'],
  ['sources not a list', withPatch({ sources: { type: 'simulated' } }), 'sources', 'must be a list'],
  ['sources[0] not a mapping', withPatch({ sources: ['simulated'] }), 'sources[0]', 'must be a mapping'],
  ['sources[0].type unknown', withPatch({ sources: [{ type: 'x', name: 'a' }] }), 'sources[0].type', 'unknown source type "x" (known: simulated, serial, gpio, onewire)'],
  ['sources[0].type missing', withPatch({ sources: [{ name: 'a' }] }), 'sources[0].type', 'is required (known: simulated, serial, gpio, onewire)'],
  ['sources[0].name missing', withPatch({ sources: [{ type: 'simulated' }] }), 'sources[0].name', 'is required'],
  ['sources[0].name pattern', withPatch({ sources: [{ type: 'simulated', name: 'a b' }] }), 'sources[0].name', 'letters, digits'],
  ['sources[0].name wildcard', withPatch({ sources: [{ type: 'simulated', name: 'a+' }] }), 'sources[0].name', 'letters, digits'],
  ['sources[0].interval', withPatch({ sources: [{ type: 'simulated', name: 'a', interval: 'fast' }] }), 'sources[0].interval', 'must be a duration like 200ms, 5s, 2m'],
  ['sources[0].interval negative', withPatch({ sources: [{ type: 'simulated', name: 'a', interval: -1 }] }), 'sources[0].interval', 'must be a duration'],
  ['sources[0].count 0', withPatch({ sources: [{ type: 'simulated', name: 'a', count: 0 }] }), 'sources[0].count', 'must be a positive integer'],
  ['sources[0] unknown key', withPatch({ sources: [{ type: 'simulated', name: 'a', colour: 'red' }] }), 'sources[0].colour', 'unknown key'],
  [
    'sources duplicate name',
    withPatch({
      sources: [
        { type: 'simulated', name: 'a' },
        { type: 'simulated', name: 'b' },
        { type: 'simulated', name: 'a' },
      ],
    }),
    'sources[2].name',
    'duplicate source name "a"',
  ],
  ['log.level', withPatch({ log: { level: 'verbose' } }), 'log.level', 'must be one of: debug, info, warn, error'],
  ['log.format', withPatch({ log: { format: 'pretty' } }), 'log.format', 'must be one of: auto, json, text'],
  ['unknown section', withPatch({ mqqt: {} }), 'mqqt', 'unknown key (did you mean mqtt?)'],
  ['section not a mapping', withPatch({ store: 'fast' }), 'store', 'must be a mapping'],
  ['mqtt not a mapping', withPatch({ mqtt: ['mqtt://b'] }), 'mqtt', 'must be a mapping'],
  ['mqtt.tls not a mapping', withPatch({ mqtt: { url: 'mqtts://b', tls: 'yes' } }), 'mqtt.tls', 'must be a mapping'],
  ['mqtt.reconnect not a mapping', withPatch({ mqtt: { reconnect: 5 } }), 'mqtt.reconnect', 'must be a mapping'],
  ['value left empty', withPatch({ mqtt: { clientId: null } }), 'mqtt.clientId', 'the value is empty'],
];

for (const [what, raw, path, message] of BAD) {
  void test(`invalid config names its field: ${what} → ${path}`, async () => {
    const issues = await issuesOf(raw);
    const matches = (text: string): boolean => (typeof message === 'string' ? text.includes(message) : message.test(text));
    const issue = issues.find((candidate) => candidate.path === path && matches(candidate.message));
    assert.ok(issue, `no issue "${path}: ${String(message)}"; got ${JSON.stringify(issues)}`);
    // And the error message shows it as `path: message`.
    await assert.rejects(parse(raw), (err: unknown) => err instanceof ConfigError && err.message.includes(`${path}: ${issue.message}`));
  });
}

void test('every issue is reported, not just the first', async () => {
  const issues = await issuesOf(
    withPatch({
      device: { id: 'a/b' },
      mqtt: { inflight: 0, keepalive: 'x', inflght: 1, reconnect: { minDelay: '5s', maxDelay: '1s' }, tls: { ca: 'x' } },
      store: { whenFull: 'nope' },
      sources: [
        { type: 'simulated', name: 'a', interval: 'x' },
        { type: 'simulated', name: 'a' },
      ],
      extra: true,
    }),
  );
  const paths = issues.map((issue) => issue.path).sort();
  assert.deepEqual(paths, [
    'device.id',
    'extra',
    'mqtt.inflght',
    'mqtt.inflight',
    'mqtt.keepalive',
    'mqtt.reconnect.maxDelay',
    'mqtt.tls',
    'mqtt.tls.ca',
    'sources[0].interval',
    'sources[1].name',
    'store.whenFull',
  ]);
});

void test('the root must be a mapping; an empty config says what is required', async () => {
  assert.match((await issuesOf(null))[0]?.message ?? '', /empty.*device\.id and mqtt\.url/);
  assert.match((await issuesOf([1, 2]))[0]?.message ?? '', /mapping of sections/);
  assert.match((await issuesOf('device: x'))[0]?.message ?? '', /mapping of sections/);
});

void test('ConfigError lists each issue on its own line', () => {
  const err = new ConfigError(
    [
      { path: 'mqtt.inflight', message: 'must be a positive integer', line: 4 },
      { path: '', message: 'YAML syntax error: bad', line: 2, column: 3 },
    ],
    'gw.yaml',
  );
  assert.equal(err.name, 'ConfigError');
  assert.ok(err instanceof Error);
  assert.equal(err.message, 'invalid config gw.yaml:\n  mqtt.inflight: must be a positive integer (line 4)\n  YAML syntax error: bad (line 2, column 3)');
});
