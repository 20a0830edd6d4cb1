/**
 * The Prometheus text format (0.0.4) and the families /metrics shows, and the /healthz rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricFamilies } from '../../src/observe/families.js';
import { formatAge, judgeHealth } from '../../src/observe/health.js';
import type { HealthInput } from '../../src/observe/health.js';
import { escapeLabelValue, formatMetrics, formatValue } from '../../src/observe/metrics.js';
import type { AgentSnapshot } from '../../src/observe/snapshot.js';
import { parseSamples } from '../support/agent-http.js';

void test('text format: HELP and TYPE per family, samples with labels, a trailing newline', () => {
  const text = formatMetrics([
    { name: 'sg_a_total', type: 'counter', help: 'A count.', samples: [{ value: 3 }] },
    { name: 'sg_b', type: 'gauge', help: 'Per source.', samples: [{ labels: { source: 'x' }, value: 1.5 }, { labels: { source: 'y', kind: 'z' }, value: 0 }] },
    { name: 'sg_empty_total', type: 'counter', help: 'No samples yet.', samples: [] },
  ]);
  assert.equal(
    text,
    [
      '# HELP sg_a_total A count.',
      '# TYPE sg_a_total counter',
      'sg_a_total 3',
      '# HELP sg_b Per source.',
      '# TYPE sg_b gauge',
      'sg_b{source="x"} 1.5',
      'sg_b{source="y",kind="z"} 0',
      '# HELP sg_empty_total No samples yet.',
      '# TYPE sg_empty_total counter',
      '',
    ].join('\n'),
  );
  assert.equal(formatMetrics([]), '');
});

void test('text format: label values escape backslash, quote and newline; HELP escapes backslash and newline', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = formatMetrics([{ name: 'sg_x', type: 'gauge', help: 'line one\nC:\\path "quoted"', samples: [{ labels: { source: 'we"ird\\\n' }, value: 1 }] }]);
  assert.match(text, /^# HELP sg_x line one\\nC:\\\\path "quoted"$/m, 'quotes stay as they are in HELP');
  assert.match(text, /^sg_x\{source="we\\"ird\\\\\\n"\} 1$/m);
  assert.equal(text.split('\n').length, 4, 'no raw newline from a label or the help text');
});

void test('text format: special values as Prometheus spells them; bad names throw (they are ours)', () => {
  assert.deepEqual([NaN, Infinity, -Infinity, 0.25, 1e21, -3].map(formatValue), ['NaN', '+Inf', '-Inf', '0.25', '1e+21', '-3']);
  assert.throws(() => formatMetrics([{ name: 'sg-bad', type: 'gauge', help: '', samples: [] }]), /invalid metric name/);
  assert.throws(() => formatMetrics([{ name: 'sg_ok', type: 'gauge', help: '', samples: [{ labels: { 'bad-label': 'v' }, value: 1 }] }]), /invalid label name/);
  assert.throws(() => formatMetrics([{ name: 'sg_ok', type: 'gauge', help: '', samples: [{ labels: { __reserved: 'v' }, value: 1 }] }]), /invalid label name/);
});

const NOW = 1_800_000_000_000;

function snapshot(over: Partial<AgentSnapshot> = {}): AgentSnapshot {
  return {
    device: 'gw',
    version: '0.1.0',
    now: NOW,
    startedAt: NOW - 60_000,
    stopping: false,
    broker: 'mqtt://b:1883',
    connected: true,
    connectedSince: NOW - 30_000,
    reconnects: 2,
    published: 100,
    resent: 3,
    acked: 97,
    dropped: 4,
    corrupt: 0,
    received: 1,
    queue: { messages: 5, bytes: 500, oldestEnqueuedAt: NOW - 2_500 },
    inflight: 3,
    lastDeliveryAt: NOW - 1_000,
    commands: [{ command: 'ping', ok: 2, failed: 1 }],
    sources: [
      { name: 'sim', type: 'simulated', state: 'running', readings: 120, lastReadingAt: NOW - 500, parseErrors: 0, failures: 0 },
      { name: 'wx', type: 'serial', state: 'restarting', readings: 0, lastReadingAt: null, parseErrors: 7, failures: 2, lastError: 'boom', portOpen: false },
    ],
    ...over,
  };
}

void test('families: every name the issue asks for, sensorgate_-prefixed, with values from the snapshot', () => {
  const text = formatMetrics(metricFamilies(snapshot(), { healthy: true }));
  for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) assert.match(line, /^sensorgate_/);
  const s = parseSamples(text);
  const expected: Array<[string, number]> = [
    ['sensorgate_connected', 1],
    ['sensorgate_reconnects_total', 2],
    ['sensorgate_readings_total{source="sim"}', 120],
    ['sensorgate_readings_total{source="wx"}', 0],
    ['sensorgate_published_total', 100],
    ['sensorgate_acked_total', 97],
    ['sensorgate_dropped_total', 4],
    ['sensorgate_queue_messages', 5],
    ['sensorgate_queue_bytes', 500],
    ['sensorgate_queue_oldest_age_seconds', 2.5],
    ['sensorgate_inflight', 3],
    ['sensorgate_parse_errors_total{source="wx"}', 7],
    ['sensorgate_last_delivery_timestamp_seconds', (NOW - 1_000) / 1000],
    ['sensorgate_source_up{source="wx"}', 0],
    ['sensorgate_source_failures_total{source="wx"}', 2],
    ['sensorgate_commands_total{command="ping",result="error"}', 1],
    ['sensorgate_healthy', 1],
  ];
  for (const [key, value] of expected) assert.equal(s.get(key), value, key);
  assert.equal(s.has('sensorgate_last_reading_timestamp_seconds{source="wx"}'), false, 'no timestamp before the first reading');
  assert.match(text, /# TYPE sensorgate_readings_total counter/);
  assert.match(text, /# TYPE sensorgate_queue_messages gauge/);
});

void test('families: an empty queue has oldest age 0; no delivery yet is timestamp 0', () => {
  const s = parseSamples(formatMetrics(metricFamilies(snapshot({ queue: { messages: 0, bytes: 0, oldestEnqueuedAt: null }, lastDeliveryAt: null }), { healthy: true })));
  assert.equal(s.get('sensorgate_queue_oldest_age_seconds'), 0);
  assert.equal(s.get('sensorgate_last_delivery_timestamp_seconds'), 0);
});

const WINDOW = 60_000;

function health(over: Partial<HealthInput>): ReturnType<typeof judgeHealth> {
  const base: HealthInput = { now: NOW, startedAt: NOW - 3_600_000, stopping: false, connected: true, queue: { messages: 0, bytes: 0, oldestEnqueuedAt: null }, lastDeliveryAt: null };
  return judgeHealth({ ...base, ...over }, WINDOW);
}

const queued = (ageMs: number) => ({ messages: 10, bytes: 1000, oldestEnqueuedAt: NOW - ageMs });

void test('health: nothing to send is healthy, connected or not', () => {
  assert.deepEqual(health({}), { healthy: true });
  assert.deepEqual(health({ connected: false, lastDeliveryAt: NOW - 10 * WINDOW }), { healthy: true });
});

void test('health: a queue younger than the window is healthy, even with no delivery for long', () => {
  assert.equal(health({ connected: false, queue: queued(WINDOW), lastDeliveryAt: NOW - 10 * WINDOW }).healthy, true);
});

void test('health: an old queue that is draining (delivered within the window) is healthy', () => {
  assert.equal(health({ queue: queued(10 * WINDOW), lastDeliveryAt: NOW - WINDOW }).healthy, true);
});

void test('health: an old queue and no delivery within the window is unhealthy, with a reason saying why', () => {
  const down = health({ connected: false, queue: queued(5 * WINDOW), lastDeliveryAt: NOW - 4 * WINDOW - 1 });
  assert.equal(down.healthy, false);
  assert.equal(down.reason, '10 queued message(s), the oldest waiting 5m 0s; nothing delivered for 4m 0s (healthWindow 1m 0s); not connected to the broker');
  const stuck = health({ connected: true, queue: queued(2 * WINDOW), lastDeliveryAt: NOW - 2 * WINDOW });
  assert.match(stuck.reason ?? '', /connected, but the broker acknowledges nothing/);
});

void test('health: before the first delivery, the window counts from the start (a restart with an old backlog gets one window)', () => {
  assert.equal(health({ startedAt: NOW - WINDOW / 2, queue: queued(10 * WINDOW) }).healthy, true);
  const late = health({ startedAt: NOW - 2 * WINDOW, queue: queued(10 * WINDOW) });
  assert.equal(late.healthy, false);
  assert.match(late.reason ?? '', /nothing delivered since the agent started 2m 0s ago/);
});

void test('health: stopping is unhealthy', () => {
  assert.deepEqual(health({ stopping: true }), { healthy: false, reason: 'the agent is stopping' });
});

void test('formatAge', () => {
  assert.deepEqual([0, 999, 59_499, 61_000, 3_661_000, 90_061_000].map(formatAge), ['0s', '1s', '59s', '1m 1s', '1h 1m', '1d 1h']);
});
