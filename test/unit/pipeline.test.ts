import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readingToMessages } from '../../src/pipeline/pipeline.js';
import { expandTopic } from '../../src/pipeline/topic.js';
import { SimulatedSource } from '../../src/sources/simulated.js';
import type { Reading } from '../../src/pipeline/reading.js';
import { silentLogger } from '../../src/observe/logger.js';

void test('topic template expands device and source', () => {
  assert.equal(expandTopic('sensorgate/{device}/{source}', { device: 'pi-1', source: 'barn' }), 'sensorgate/pi-1/barn');
});

void test('a reading becomes one JSON message {ts, seq, ...fields} with the rule qos/retain', () => {
  const reading: Reading = { source: 'barn', ts: 1700000000000, fields: { seq: 5, temperature: 21.5 } };
  const [m, ...rest] = readingToMessages(reading, { device: 'pi-1', topic: 'sensorgate/{device}/{source}', qos: 2, retain: true });
  assert.equal(rest.length, 0);
  assert.ok(m);
  assert.equal(m.topic, 'sensorgate/pi-1/barn');
  assert.equal(m.qos, 2);
  assert.equal(m.retain, true);
  assert.equal(m.payload.toString(), '{"ts":1700000000000,"seq":5,"temperature":21.5}');
});

void test('simulated source continues seq from committed state and stops at count', async () => {
  const emitted: Array<{ reading: Reading; state: unknown }> = [];
  const source = new SimulatedSource({ name: 'sim', intervalMs: 1, count: 10 });
  await source.run({
    emit: (reading, state) => {
      for (const r of Array.isArray(reading) ? reading : [reading]) emitted.push({ reading: r as Reading, state });
      return Promise.resolve();
    },
    initialState: { seq: 7 },
    logger: silentLogger,
    signal: new AbortController().signal,
  });
  assert.deepEqual(
    emitted.map((e) => e.reading.fields.seq),
    [8, 9, 10],
  );
  assert.deepEqual(emitted.map((e) => e.state), [{ seq: 8 }, { seq: 9 }, { seq: 10 }]);
  for (const { reading } of emitted) {
    assert.equal(typeof reading.fields.temperature, 'number');
    assert.equal(typeof reading.fields.humidity, 'number');
  }
});

void test('simulated source does not advance seq when a commit fails', async () => {
  const seen: unknown[] = [];
  const source = new SimulatedSource({ name: 'sim', intervalMs: 1, count: 5 });
  let calls = 0;
  await assert.rejects(
    source.run({
      emit: (reading) => {
        seen.push((reading as Reading).fields.seq);
        return ++calls === 2 ? Promise.reject(new Error('disk full')) : Promise.resolve();
      },
      initialState: {},
      logger: silentLogger,
      signal: new AbortController().signal,
    }),
    /disk full/,
  );
  assert.deepEqual(seen, [1, 2]);
});

void test('flat out, the simulated source commits bursts whose state is the last seq of the burst', async () => {
  const calls: Array<{ seqs: unknown[]; state: unknown }> = [];
  const source = new SimulatedSource({ name: 'sim', intervalMs: 0, count: 150 });
  await source.run({
    emit: (reading, state) => {
      const list = Array.isArray(reading) ? (reading as Reading[]) : [reading as Reading];
      calls.push({ seqs: list.map((r) => r.fields.seq), state });
      return Promise.resolve();
    },
    initialState: {},
    logger: silentLogger,
    signal: new AbortController().signal,
  });
  assert.deepEqual(calls.flatMap((c) => c.seqs), Array.from({ length: 150 }, (_, i) => i + 1));
  for (const c of calls) assert.deepEqual(c.state, { seq: c.seqs[c.seqs.length - 1] });
  assert.ok(calls.length < 10, `expected bursts, got ${calls.length} commits`);
});
