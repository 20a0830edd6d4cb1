/**
 * The gpio and onewire source schemas, per-source publish sections, and the topic checks that
 * need each source's mode: defaults, conversion, and field-named errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/errors.js';
import type { ConfigIssue } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import type { AgentConfig, SourceConfig } from '../../src/config/types.js';

const BASE_DIR = '/etc/sensorgate';
const MINIMAL = { device: { id: 'gw-1' }, mqtt: { url: 'mqtt://broker.local' } };

const parse = (raw: unknown): Promise<AgentConfig> => parseConfig(raw, { baseDir: BASE_DIR, env: {} });
const withSources = (sources: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...MINIMAL, ...extra, sources });

async function issuesOf(raw: unknown): Promise<readonly ConfigIssue[]> {
  try {
    await parse(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return assert.fail(`expected a ConfigError for ${JSON.stringify(raw)}`);
}

async function onlySource(source: unknown, extra: Record<string, unknown> = {}): Promise<SourceConfig> {
  const config = await parse(withSources([source], extra));
  assert.equal(config.sources.length, 1);
  return config.sources[0] as SourceConfig;
}

void test('gpio input: defaults', async () => {
  assert.deepEqual(await onlySource({ type: 'gpio', name: 'door', line: 17 }), {
    type: 'gpio',
    name: 'door',
    mode: 'input',
    chip: 'gpiochip0',
    line: 17,
    backend: 'auto',
    bias: 'as-is',
    activeLow: false,
    debounceMs: 10,
    field: 'state',
    onChange: true,
    edge: 'rising',
    intervalMs: 60_000,
    ratePer: 'second',
    sysfsRoot: '/sys/class/gpio',
    pollIntervalMs: 10,
  });
});

void test('gpio counter: every key converted; relative sysfsRoot resolves against the config directory', async () => {
  const source = await onlySource({
    type: 'gpio',
    name: 'rain',
    mode: 'counter',
    chip: '/dev/gpiochip4',
    line: 27,
    backend: 'sysfs',
    activeLow: true,
    debounce: '25ms',
    edge: 'falling',
    interval: '5m',
    ratePer: 'hour',
    scale: 0.2794,
    unit: 'mm',
    sysfsRoot: 'fixture/gpio',
    sysfsNumber: 539,
    pollInterval: '2ms',
    publish: { qos: 2, retain: true, mode: 'field', topic: 'weather/{field}', deadband: { rate: 0.1 }, maxInterval: '1h' },
  });
  assert.deepEqual(source, {
    type: 'gpio',
    name: 'rain',
    mode: 'counter',
    chip: '/dev/gpiochip4',
    line: 27,
    backend: 'sysfs',
    bias: 'as-is',
    activeLow: true,
    debounceMs: 25,
    field: 'state',
    onChange: true,
    edge: 'falling',
    intervalMs: 300_000,
    ratePer: 'hour',
    scale: 0.2794,
    unit: 'mm',
    sysfsRoot: '/etc/sensorgate/fixture/gpio',
    sysfsNumber: 539,
    pollIntervalMs: 2,
    publish: { qos: 2, retain: true, mode: 'field', topic: 'weather/{field}', deadband: { fields: { rate: 0.1 } }, maxIntervalMs: 3_600_000 },
  });
});

void test('onewire: defaults, and probes with names (ids lower-cased, name defaults to the id)', async () => {
  assert.deepEqual(await onlySource({ type: 'onewire', name: 'temps' }), {
    type: 'onewire',
    name: 'temps',
    intervalMs: 30_000,
    baseDir: '/sys/bus/w1/devices',
  });
  assert.deepEqual(
    await onlySource({ type: 'onewire', name: 'temps', interval: '1m', baseDir: 'w1', probes: [{ id: '28-0316A2791DFF', name: 'greenhouse' }, { id: '28-000000000001' }] }),
    {
      type: 'onewire',
      name: 'temps',
      intervalMs: 60_000,
      baseDir: '/etc/sensorgate/w1',
      probes: [
        { id: '28-0316a2791dff', name: 'greenhouse' },
        { id: '28-000000000001', name: '28-000000000001' },
      ],
    },
  );
});

void test('publish.mode defaults to reading; a source publish section keeps only what it sets; deadband number or mapping', async () => {
  const config = await parse(
    withSources([
      { type: 'simulated', name: 'a', publish: { deadband: 0.5, maxInterval: '10m' } },
      { type: 'simulated', name: 'b', publish: { qos: 0 } },
      { type: 'simulated', name: 'c' },
    ]),
  );
  assert.equal(config.publish.mode, 'reading');
  assert.deepEqual(
    config.sources.map((s) => s.publish),
    [{ deadband: { all: 0.5 }, maxIntervalMs: 600_000 }, { qos: 0 }, undefined],
  );
  const fieldMode = await parse(withSources([{ type: 'simulated', name: 'a' }], { publish: { mode: 'field', topic: 'x/{device}/{source}/{field}' } }));
  assert.equal(fieldMode.publish.mode, 'field');
});

const gpio = (extra: Record<string, unknown> = {}) => ({ type: 'gpio', name: 'g', line: 4, ...extra });

const BAD: Array<[string, unknown, string, string | RegExp]> = [
  ['gpio line missing', withSources([{ type: 'gpio', name: 'g' }]), 'sources[0].line', 'is required'],
  ['gpio line negative', withSources([gpio({ line: -1 })]), 'sources[0].line', 'line offset'],
  ['gpio chip option-like', withSources([gpio({ chip: '--help' })]), 'sources[0].chip', 'must not start with -'],
  ['gpio mode', withSources([gpio({ mode: 'pwm' })]), 'sources[0].mode', 'must be one of: input, counter'],
  ['gpio counter key in input mode', withSources([gpio({ edge: 'rising' })]), 'sources[0].edge', 'only for mode: counter'],
  ['gpio input key in counter mode', withSources([gpio({ mode: 'counter', sample: '1m' })]), 'sources[0].sample', 'only for mode: input'],
  ['gpio onChange false without sample', withSources([gpio({ onChange: false })]), 'sources[0].sample', 'is required when onChange is false'],
  ['gpio unit without scale', withSources([gpio({ mode: 'counter', unit: 'mm' })]), 'sources[0].unit', 'needs scale'],
  ['gpio scale 0', withSources([gpio({ mode: 'counter', scale: 0 })]), 'sources[0].scale', 'other than 0'],
  ['gpio debounce too long', withSources([gpio({ debounce: 10 })]), 'sources[0].debounce', 'at most 1s (a plain number means seconds: write 20ms)'],
  ['gpio edge', withSources([gpio({ mode: 'counter', edge: 'up' })]), 'sources[0].edge', 'must be one of: rising, falling, both'],
  ['gpio bias with sysfs', withSources([gpio({ backend: 'sysfs', bias: 'pull-up' })]), 'sources[0].bias', 'cannot be set through sysfs'],
  ['gpio sysfs key with chardev', withSources([gpio({ backend: 'chardev', sysfsNumber: 4 })]), 'sources[0].sysfsNumber', 'only for the sysfs backend'],
  ['gpio field name', withSources([gpio({ field: 'door/open' })]), 'sources[0].field', 'letters, digits'],
  ['gpio typo', withSources([gpio({ debunce: '5ms' })]), 'sources[0].debunce', 'unknown key (did you mean debounce?)'],
  ['onewire interval too short', withSources([{ type: 'onewire', name: 'w', interval: '100ms' }]), 'sources[0].interval', 'at least 1s'],
  ['onewire probe id', withSources([{ type: 'onewire', name: 'w', probes: [{ id: '28-xyz' }] }]), 'sources[0].probes[0].id', 'w1 device id'],
  ['onewire probe name', withSources([{ type: 'onewire', name: 'w', probes: [{ id: '28-000000000001', name: 'a b' }] }]), 'sources[0].probes[0].name', 'letters, digits'],
  [
    'onewire duplicate probe id',
    withSources([{ type: 'onewire', name: 'w', probes: [{ id: '28-000000000001', name: 'a' }, { id: '28-000000000001', name: 'b' }] }]),
    'sources[0].probes[1].id',
    'duplicate probe id',
  ],
  [
    'onewire duplicate probe name',
    withSources([{ type: 'onewire', name: 'w', probes: [{ id: '28-000000000001', name: 'a' }, { id: '28-000000000002', name: 'a' }] }]),
    'sources[0].probes[1].name',
    'duplicate probe name a',
  ],
  ['onewire empty probes', withSources([{ type: 'onewire', name: 'w', probes: [] }]), 'sources[0].probes', 'at least one probe'],
  ['source publish qos', withSources([gpio({ publish: { qos: 3 } })]), 'sources[0].publish.qos', 'must be 0, 1 or 2'],
  ['source publish mode', withSources([gpio({ publish: { mode: 'fields' } })]), 'sources[0].publish.mode', 'must be one of: reading, field'],
  ['source publish deadband negative', withSources([gpio({ publish: { deadband: -1 } })]), 'sources[0].publish.deadband', '>= 0'],
  ['source publish deadband string', withSources([gpio({ publish: { deadband: 'lots' } })]), 'sources[0].publish.deadband', 'mapping of field name'],
  ['source publish deadband field negative', withSources([gpio({ publish: { deadband: { state: -2 } } })]), 'sources[0].publish.deadband.state', '>= 0'],
  ['source publish maxInterval without deadband', withSources([gpio({ publish: { maxInterval: '1h' } })]), 'sources[0].publish.maxInterval', 'needs deadband'],
  ['source publish topic wildcard', withSources([gpio({ publish: { topic: 'a/#' } })]), 'sources[0].publish.topic', 'wildcards'],
  ['source publish topic placeholder', withSources([gpio({ publish: { topic: 'a/{sensor}' } })]), 'sources[0].publish.topic', 'unknown placeholder {sensor}'],
  ['source publish typo', withSources([gpio({ publish: { retian: true } })]), 'sources[0].publish.retian', 'unknown key (did you mean retain?)'],
  [
    'field mode without {field} in its own topic',
    withSources([gpio({ publish: { mode: 'field', topic: 'a/{source}' } })]),
    'sources[0].publish.topic',
    'must contain {field} in field mode',
  ],
  [
    'field mode inheriting a topic without {field}',
    withSources([gpio(), gpio({ name: 'h', publish: { mode: 'field' } })]),
    'sources[1].publish.mode',
    'set sources[1].publish.topic too',
  ],
  ['global field mode without {field}', withSources([gpio()], { publish: { mode: 'field' } }), 'publish.topic', 'must contain {field} in field mode'],
  ['{field} in reading mode (own topic)', withSources([gpio({ publish: { topic: 'a/{field}' } })]), 'sources[0].publish.topic', '{field} is only for field mode'],
  ['{field} in reading mode (global topic)', withSources([gpio()], { publish: { topic: 'a/{source}/{field}' } }), 'publish.topic', '{field} is only for field mode'],
  ['topic with a lone surrogate', withSources([gpio({ publish: { topic: 'a/\ud800/{source}' } })]), 'sources[0].publish.topic', 'valid UTF-8'],
  ['status topic with a lone surrogate', { ...MINIMAL, status: { topic: 'a/\udc00' } }, 'status.topic', 'valid UTF-8'],
  [
    'source topic too long with this source',
    withSources([gpio({ name: 'long-name-xyz', publish: { topic: `{source}/${'y'.repeat(65_525)}` } })]),
    'sources[0].publish.topic',
    '65535 bytes (UTF-8) (for source long-name-xyz)',
  ],
];

for (const [what, raw, path, message] of BAD) {
  void test(`invalid source config names its field: ${what} → ${path}`, async () => {
    const issues = await issuesOf(raw);
    const matches = (text: string): boolean => (typeof message === 'string' ? text.includes(message) : message.test(text));
    assert.ok(
      issues.some((issue) => issue.path === path && matches(issue.message)),
      `no issue "${path}: ${String(message)}"; got ${JSON.stringify(issues)}`,
    );
  });
}

void test('field mode set per source with its own {field} topic passes; other sources keep reading mode', async () => {
  const config = await parse(
    withSources([gpio({ publish: { mode: 'field', topic: 'home/{device}/{source}/{field}', retain: true } }), { type: 'simulated', name: 'sim' }]),
  );
  assert.equal(config.publish.mode, 'reading');
  assert.equal(config.sources[0]?.publish?.mode, 'field');
});
