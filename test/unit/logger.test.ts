import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatText, resolveLogFormat } from '../../src/observe/log-format.js';
import { createLogger, REDACTED } from '../../src/observe/logger.js';
import type { LogFormat } from '../../src/observe/log-format.js';

function capture(format: LogFormat, secrets?: string[]): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format, write: (line) => lines.push(line), base: { device: 'gw-1' }, ...(secrets && { secrets }) });
  return { lines, logger };
}

void test('auto picks text at a terminal and JSON lines otherwise; an explicit format wins', () => {
  assert.equal(resolveLogFormat('auto', true), 'text');
  assert.equal(resolveLogFormat('auto', false), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  assert.equal(resolveLogFormat('text', false), 'text');
});

void test('json: one object per line with time, level, msg, base and own fields, errors as code: message', () => {
  const { lines, logger } = capture('json');
  const err = Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' });
  logger.child({ component: 'mqtt' }).warn('cannot reach broker', { broker: '127.0.0.1:1883', err });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith('\n'));
  const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.match(String(record.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(
    { ...record, time: undefined },
    { time: undefined, level: 'warn', msg: 'cannot reach broker', device: 'gw-1', component: 'mqtt', broker: '127.0.0.1:1883', err: 'ECONNREFUSED: connect refused' },
  );
});

void test('text: clock, padded level, message, then key=value with quoting only where needed', () => {
  const { lines, logger } = capture('text');
  logger.info('connected to broker', { broker: 'broker.example:8883', sessionPresent: false, inflight: 3 });
  logger.error('broker refused connection: not authorized', { hint: 'check the broker ACL', detail: { a: 1 }, nothing: undefined, none: null });
  assert.match(lines[0] ?? '', /^\d\d:\d\d:\d\d INFO {2}connected to broker broker=broker\.example:8883 sessionPresent=false inflight=3 device=gw-1\n$/);
  assert.match(lines[1] ?? '', /^\d\d:\d\d:\d\d ERROR broker refused connection: not authorized hint="check the broker ACL" detail=\{"a":1\} none=null device=gw-1\n$/);
});

void test('text: a multi-line message or value stays on one line', () => {
  const line = formatText({ time: new Date(2026, 0, 2, 3, 4, 5), level: 'warn', msg: 'first\nsecond', fields: { reason: 'a\nb', eq: 'k=v' }, base: {} });
  assert.equal(line, '03:04:05 WARN  first ⏎ second reason="a\\nb" eq="k=v"\n');
  assert.equal(line.split('\n').length, 2);
});

void test('levels below the configured one are dropped', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { level: string }).level),
    ['warn', 'error'],
  );
});

void test('the password never appears in either format: not in the message, a field, a nested value or a base field', () => {
  const password = 'S3cr3t-pw"with\\quotes';
  for (const format of ['json', 'text'] as const) {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format, write: (line) => lines.push(line), secrets: [password, undefined], base: { note: `base ${password}` } });
    logger.info(`login with ${password}`, { reason: `bad password ${password}`, nested: { deeper: [password] }, password: 'anything', mqttPassword: 'x', passwordFile: '/etc/sensorgate/pw' });
    logger.child({ user: password }).warn('child');
    const text = lines.join('');
    assert.equal(text.includes(password), false, `${format}: ${text}`);
    // JSON escapes quotes and backslashes: the escaped form must not leak either.
    assert.equal(text.includes(JSON.stringify(password).slice(1, -1)), false, `${format}: ${text}`);
    assert.ok(text.includes(REDACTED), format);
    // Field names that are password-like are masked whatever their value; a path to the file is not a secret.
    assert.ok(text.includes('/etc/sensorgate/pw'), format);
    assert.equal(text.includes('anything'), false, format);
  }
});

void test('a short password is masked where a whole value equals it, not inside other words', () => {
  const { lines, logger } = capture('json', ['ab']);
  logger.info('about tab', { user: 'ab', word: 'cabin' });
  const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.equal(record.msg, 'about tab');
  assert.equal(record.user, REDACTED);
  assert.equal(record.word, 'cabin');
});
