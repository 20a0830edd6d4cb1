/**
 * The GPIO source over a scripted line (counter totals, clean-stop flush, failures, input mode),
 * and the two real backends in-process: the character device through stand-in libgpiod tools
 * (v1 and v2), and sysfs over a fixture tree. No GPIO hardware is involved anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GpioSourceConfig } from '../../src/config/sources/gpio.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { Reading } from '../../src/pipeline/reading.js';
import type { Level } from '../../src/sources/gpio/events.js';
import { GpioSource } from '../../src/sources/gpio/gpio-source.js';
import { monotonicNowMs } from '../../src/sources/gpio/line.js';
import type { GpioLine, LevelEvent } from '../../src/sources/gpio/line.js';
import { openGpioLine } from '../../src/sources/gpio/open.js';
import type { GpioLineConfig } from '../../src/sources/gpio/open.js';
import type { SourceContext, SourceStateValues } from '../../src/sources/source.js';
import { exportGpio, installGpioTools, makeSysfsTree } from '../support/gpio-standins.js';
import { sleep, waitUntil, waitUntilAsync } from '../support/wait.js';

/** A line the test drives by hand. */
class ScriptedLine implements GpioLine {
  readonly description = 'scripted line';
  initial: Level = 0;
  reads = 0;
  watching = false;
  private onLevel: ((event: LevelEvent) => void) | undefined;
  private fail: ((err: Error) => void) | undefined;

  read(): Promise<Level> {
    this.reads++;
    return Promise.resolve(this.initial);
  }

  watch(onLevel: (event: LevelEvent) => void, signal: AbortSignal): Promise<void> {
    this.watching = true;
    this.onLevel = onLevel;
    onLevel({ level: this.initial, atMs: monotonicNowMs() });
    return new Promise<void>((resolve, reject) => {
      this.fail = reject;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  level(level: Level): void {
    assert.ok(this.onLevel, 'not watching');
    this.onLevel({ level, atMs: monotonicNowMs() });
  }

  pulses(n: number): void {
    for (let i = 0; i < n; i++) {
      this.level(1);
      this.level(0);
    }
  }

  breakDown(message: string): void {
    this.fail?.(new Error(message));
  }
}

interface Emitted {
  reading: Reading;
  state: SourceStateValues | undefined;
}

function harness(initialState: SourceStateValues = {}) {
  const emitted: Emitted[] = [];
  const controller = new AbortController();
  let failNext: Error | undefined;
  const context: SourceContext = {
    emit: (readings, state) => {
      if (failNext !== undefined) {
        const err = failNext;
        failNext = undefined;
        return Promise.reject(err);
      }
      for (const reading of Array.isArray(readings) ? (readings as Reading[]) : [readings as Reading]) emitted.push({ reading, state });
      return Promise.resolve();
    },
    initialState,
    logger: silentLogger,
    signal: controller.signal,
  };
  return {
    emitted,
    context,
    stop: () => controller.abort(),
    failNextEmit: (err: Error) => {
      failNext = err;
    },
  };
}

const BASE: GpioSourceConfig = {
  type: 'gpio',
  name: 'g',
  mode: 'counter',
  chip: 'gpiochip0',
  line: 17,
  backend: 'auto',
  bias: 'as-is',
  activeLow: false,
  debounceMs: 0,
  field: 'state',
  onChange: true,
  edge: 'rising',
  intervalMs: 60_000,
  ratePer: 'second',
  sysfsRoot: '/nonexistent',
  pollIntervalMs: 5,
};

const source = (line: GpioLine, config: Partial<GpioSourceConfig>) => new GpioSource({ ...BASE, ...config }, { openLine: () => Promise.resolve(line) });

void test('counter: the total continues from the committed state and rides with each reading; a clean stop commits the unfinished interval', { timeout: 10_000 }, async () => {
  const line = new ScriptedLine();
  const h = harness({ total: 40 });
  const run = source(line, { intervalMs: 150 }).run(h.context);
  await waitUntil(() => line.watching, 2_000, 'watching');
  line.pulses(3);
  await waitUntil(() => h.emitted.length >= 1, 2_000, 'first interval');
  line.pulses(2);
  h.stop();
  await run;
  const counts = h.emitted.map((e) => [e.reading.fields.count, e.reading.fields.total, e.state?.total]);
  // Intervals without pulses may come in between under load; the totals are what matter.
  assert.deepEqual(counts[0], [3, 43, 43]);
  assert.deepEqual(counts.at(-1), [2, 45, 45], 'the pulses of the unfinished interval were committed at the stop');
  assert.equal(counts.reduce((n, [count]) => n + (count as number), 0), 5);
  assert.equal(typeof h.emitted[0]?.reading.fields.rate, 'number');
});

void test('counter: active-low counts the physical falling edges as rising; edge: both counts both', { timeout: 10_000 }, async () => {
  for (const [config, expected] of [
    [{ activeLow: true, edge: 'rising' }, 3],
    [{ edge: 'falling' }, 3],
    [{ edge: 'both' }, 6],
  ] as const) {
    const line = new ScriptedLine();
    line.initial = 1;
    const h = harness();
    const run = source(line, config).run(h.context);
    await waitUntil(() => line.watching, 2_000, 'watching');
    // Physical: three pulses low (1 → 0 → 1).
    for (let i = 0; i < 3; i++) {
      line.level(0);
      line.level(1);
    }
    h.stop();
    await run;
    assert.equal(h.emitted.at(-1)?.reading.fields.total, expected, JSON.stringify(config));
  }
});

void test('counter: when the line fails, the pulses counted so far are committed before the error ends the run', { timeout: 10_000 }, async () => {
  const line = new ScriptedLine();
  const h = harness({ total: 7 });
  const run = source(line, {}).run(h.context);
  await waitUntil(() => line.watching, 2_000, 'watching');
  line.pulses(4);
  line.breakDown('gpiomon exited (code 1)');
  await assert.rejects(run, /gpiomon exited/);
  assert.deepEqual(
    h.emitted.map((e) => e.state),
    [{ total: 11 }],
  );
});

void test('counter: a failed commit ends the run without advancing the total', { timeout: 10_000 }, async () => {
  const line = new ScriptedLine();
  const h = harness({ total: 7 });
  const run = source(line, { intervalMs: 50 }).run(h.context);
  await waitUntil(() => line.watching, 2_000, 'watching');
  h.failNextEmit(new Error('disk full'));
  line.pulses(2);
  await assert.rejects(run, /disk full/);
  assert.equal(h.emitted.length, 0);
});

void test('input: the initial level and every change, debounced, in the named field; active-low inverts', { timeout: 10_000 }, async () => {
  const line = new ScriptedLine();
  line.initial = 1;
  const h = harness();
  const run = source(line, { mode: 'input', field: 'door', activeLow: true, debounceMs: 20 }).run(h.context);
  await waitUntil(() => line.watching, 2_000, 'watching');
  // A bounce that settles back to 1 (no change), then a real change to 0.
  line.level(0);
  line.level(1);
  await sleep(60);
  line.level(0);
  await waitUntil(() => h.emitted.length >= 2, 2_000, 'the change');
  h.stop();
  await run;
  assert.deepEqual(
    h.emitted.map((e) => e.reading.fields),
    [{ door: 0 }, { door: 1 }],
  );
  assert.equal(h.emitted[0]?.state, undefined, 'input mode keeps no state');
});

void test('input with sample: the current level is reported periodically as well as on change', { timeout: 10_000 }, async () => {
  const line = new ScriptedLine();
  const h = harness();
  const run = source(line, { mode: 'input', sampleMs: 40 }).run(h.context);
  await waitUntil(() => h.emitted.length >= 4, 3_000, 'samples');
  h.stop();
  await run;
  assert.ok(h.emitted.every((e) => e.reading.fields.state === 0));
  assert.equal(line.reads, 0, 'while watching, samples report the watched level; the line is not read twice');
});

void test('input with onChange false: the line is read at start and every sample, never watched', { timeout: 10_000 }, async () => {
  const line = new ScriptedLine();
  line.initial = 1;
  const h = harness();
  const run = source(line, { mode: 'input', onChange: false, sampleMs: 40 }).run(h.context);
  await waitUntil(() => h.emitted.length >= 3, 3_000, 'samples');
  h.stop();
  await run;
  assert.equal(line.watching, false);
  assert.ok(line.reads >= 3);
  assert.deepEqual(h.emitted[0]?.reading.fields, { state: 1 });
});

// ---------------------------------------------------------------------------------------------
// Backends

const LINE_CONFIG: GpioLineConfig = { chip: 'gpiochip0', line: 17, backend: 'auto', bias: 'pull-up', debounceMs: 5, sysfsRoot: '/nonexistent', pollIntervalMs: 5 };

async function collect(line: GpioLine, until: (events: LevelEvent[]) => boolean, timeoutMs: number): Promise<{ events: LevelEvent[]; done: Promise<void>; stop: () => void }> {
  const events: LevelEvent[] = [];
  const controller = new AbortController();
  const done = line.watch((e) => events.push(e), controller.signal);
  done.catch(() => undefined);
  await Promise.race([waitUntil(() => until(events), timeoutMs, 'level events', { detail: () => JSON.stringify(events) }), done]);
  return { events, done, stop: () => controller.abort() };
}

for (const version of [1, 2] as const) {
  void test(`chardev with libgpiod v${version} stand-ins: version detected, the right command lines, gpioget then gpiomon events`, { timeout: 20_000 }, async (t) => {
    const tools = await installGpioTools(t, { version, level: 1, garbage: ['Monitoring line 17...'], pulses: { count: 2, periodMs: 30, widthMs: 10, bounces: 1 }, then: 'idle' });
    const line = await openGpioLine(LINE_CONFIG, silentLogger, tools.path);
    assert.match(line.description, new RegExp(`chardev \\(libgpiod v${version === 1 ? '1.6.3' : '2.1.2'}\\) gpiochip0 line 17`));
    // Initial level 1, then per pulse: rising, (falling, rising) bounce, falling, (rising, falling) bounce.
    const { events, done, stop } = await collect(line, (e) => e.length >= 13, 10_000);
    assert.deepEqual(
      events.map((e) => e.level),
      [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
    );
    const bounceGap = (events[2]?.atMs ?? 0) - (events[1]?.atMs ?? 0);
    assert.ok(Math.abs(bounceGap - 0.2) < 0.01, `kernel timestamps kept: bounce 0.2 ms apart, got ${bounceGap}`);
    stop();
    await done;
    const calls = (await tools.calls()).filter((c) => !c.args.includes('--version'));
    const expected =
      version === 1
        ? [
            { tool: 'gpioget', args: ['--bias=pull-up', 'gpiochip0', '17'] },
            { tool: 'gpiomon', args: ['--bias=pull-up', '--line-buffered', '--format=%e %s %n', 'gpiochip0', '17'] },
          ]
        : [
            { tool: 'gpioget', args: ['--consumer', 'sensorgate', '--chip', 'gpiochip0', '--bias', 'pull-up', '17'] },
            {
              tool: 'gpiomon',
              args: ['--consumer', 'sensorgate', '--chip', 'gpiochip0', '--bias', 'pull-up', '--debounce-period', '5000us', '--format', '%e %S', '17'],
            },
          ];
    assert.deepEqual(
      calls.map(({ tool, args }) => ({ tool, args })),
      expected,
    );
    assert.equal((line as unknown as { garbageLines: number }).garbageLines, 1, 'the banner line was counted as garbage, not parsed');
    await waitUntilAsync(async () => (await tools.liveMonitors()).length === 0, 5_000, 'gpiomon stopped with the watch');
  });
}

void test('chardev: gpiomon exiting is a watch failure that carries its stderr', { timeout: 20_000 }, async (t) => {
  const tools = await installGpioTools(t, {
    version: 2,
    then: 'exit',
    exitCode: 1,
    exitMessage: "gpiomon: unable to request lines on chip '/dev/gpiochip0': Device or resource busy",
  });
  const line = await openGpioLine(LINE_CONFIG, silentLogger, tools.path);
  await assert.rejects(line.watch(() => undefined, new AbortController().signal), /gpiomon exited \(code 1\): .*Device or resource busy/);
});

void test('chardev: garbage and overlong output never stops the watch', { timeout: 20_000 }, async (t) => {
  const tools = await installGpioTools(t, {
    version: 1,
    garbage: ['', 'x'.repeat(5_000), '7 7 7', '\u0000\u00ff', 'event: nothing'],
    pulses: { count: 1, periodMs: 20, widthMs: 5, startDelayMs: 50 },
    then: 'idle',
  });
  const line = await openGpioLine({ ...LINE_CONFIG, bias: 'as-is' }, silentLogger, tools.path);
  const { events, done, stop } = await collect(line, (e) => e.length >= 3, 10_000);
  assert.deepEqual(
    events.map((e) => e.level),
    [0, 1, 0],
  );
  stop();
  await done;
});

void test('auto backend: no tools on the PATH and no sysfs is a clear error; chardev forced without tools too', async (t) => {
  const emptyPath = (await makeSysfsTree(t, { bases: [] })).root;
  await assert.rejects(openGpioLine(LINE_CONFIG, silentLogger, emptyPath), /gpiomon and gpioget were not found on the PATH \(install the libgpiod tools: apt install gpiod\), and \/nonexistent does not exist/);
  await assert.rejects(openGpioLine({ ...LINE_CONFIG, backend: 'chardev' }, silentLogger, emptyPath), /apt install gpiod/);
  const tree = await makeSysfsTree(t, { bases: [0] });
  const line = await openGpioLine({ ...LINE_CONFIG, sysfsRoot: tree.root }, silentLogger, emptyPath);
  assert.match(line.description, /^sysfs /);
});

void test('sysfs: an exported line is made an input and its value polled; each change is one event', { timeout: 10_000 }, async (t) => {
  const tree = await makeSysfsTree(t, { bases: [512, 570], exported: [529] });
  const line = await openGpioLine({ ...LINE_CONFIG, backend: 'sysfs', sysfsRoot: tree.root, bias: 'as-is' }, silentLogger);
  const { events, done, stop } = await collect(line, (e) => e.length >= 1, 5_000);
  assert.equal((await tree.direction(529)).trim(), 'in');
  for (const level of [1, 0, 1] as const) {
    await tree.setValue(529, level);
    await waitUntil(() => events.at(-1)?.level === level, 2_000, `level ${level}`);
  }
  // Unchanged polls add nothing.
  await sleep(50);
  assert.deepEqual(
    events.map((e) => e.level),
    [0, 1, 0, 1],
  );
  stop();
  await done;
  assert.equal(await line.read(), 1);
});

void test('sysfs: an unexported line is exported as line + lowest chip base, and waited for', { timeout: 10_000 }, async (t) => {
  const tree = await makeSysfsTree(t, { bases: [570, 512] });
  const line = await openGpioLine({ ...LINE_CONFIG, backend: 'sysfs', sysfsRoot: tree.root, bias: 'as-is' }, silentLogger);
  const reading = line.read();
  // Play the kernel: the number written to export appears as a directory.
  const number = await waitUntilAsync(async () => (await tree.exported()).trim() || undefined, 2_000, 'export written');
  assert.equal(number, '529');
  await exportGpio(tree.root, 529);
  assert.equal(await reading, 0);
});

void test('sysfs: without a chip base or sysfsNumber it says what to set', async (t) => {
  const tree = await makeSysfsTree(t, { bases: [] });
  const line = await openGpioLine({ ...LINE_CONFIG, backend: 'sysfs', sysfsRoot: tree.root }, silentLogger);
  await assert.rejects(line.read(), /set sysfsNumber/);
  const explicit = await openGpioLine({ ...LINE_CONFIG, backend: 'sysfs', sysfsRoot: tree.root, sysfsNumber: 4 }, silentLogger);
  await exportGpio(tree.root, 4);
  assert.equal(await explicit.read(), 0);
});
