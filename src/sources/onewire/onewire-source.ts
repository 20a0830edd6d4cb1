/**
 * `type: onewire`: DS18B20 probes under /sys/bus/w1/devices. Every interval each probe's
 * w1_slave is read (the kernel converts on read: ~0.75 s per probe, one probe after another,
 * as the bus does anyway) and one reading carries a field per probe, in °C. A probe that fails
 * (CRC, the 85 °C power-on value, unplugged) is left out of that reading, counted and logged at
 * most once a minute per probe and problem; the others are published.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OneWireProbeConfig, OneWireSourceConfig } from '../../config/sources/onewire.js';
import { RateLimitedLog } from '../../observe/logger.js';
import type { FieldValue } from '../../pipeline/reading.js';
import { sleep } from '../sleep.js';
import type { Source, SourceContext } from '../source.js';
import { parseW1Slave } from './w1-slave.js';
import type { ProbeProblem, ProbeResult } from './w1-slave.js';

const PROBLEM_LOG_INTERVAL_MS = 60_000;
/** Discovery finds DS18B20s only; other families are read when listed in `probes`. */
const DISCOVERED = /^28-[0-9a-f]{12}$/i;

export type OneWireOptions = Pick<OneWireSourceConfig, 'name' | 'intervalMs' | 'baseDir' | 'probes'>;

export class OneWireSource implements Source {
  readonly name: string;
  /** Failed probe reads by problem, since the agent started. */
  readonly problems: Record<ProbeProblem, number> = { crc: 0, 'power-on': 0, 'no-response': 0, 'out-of-range': 0, garbage: 0, missing: 0 };
  private readonly problemLog = new RateLimitedLog(PROBLEM_LOG_INTERVAL_MS);

  constructor(private readonly options: OneWireOptions) {
    this.name = options.name;
  }

  /** For metrics: rejected probe reads by problem, and `parseErrors`, those the probe's data was bad for (not a vanished probe). */
  stats(): Readonly<Record<string, number>> {
    const p = this.problems;
    return { ...p, parseErrors: p.crc + p['power-on'] + p['no-response'] + p['out-of-range'] + p.garbage };
  }

  async run(context: SourceContext): Promise<void> {
    const { intervalMs } = this.options;
    let due = Date.now();
    do {
      const fields = await this.readAll(context);
      if (context.signal.aborted) break;
      if (Object.keys(fields).length > 0) await context.emit({ source: this.name, ts: Date.now(), fields });
      due += intervalMs;
      if (due < Date.now()) due = Date.now() + intervalMs;
    } while (await sleep(due - Date.now(), context.signal));
  }

  private async probes(): Promise<OneWireProbeConfig[]> {
    let entries: string[];
    try {
      entries = await readdir(this.options.baseDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Thrown: the supervisor retries with backoff and says so; nothing can be read until it exists.
      throw new Error(`cannot list ${this.options.baseDir} (${code ?? String(err)}): is 1-Wire enabled (dtoverlay=w1-gpio in /boot/firmware/config.txt)?`);
    }
    if (this.options.probes !== undefined) return this.options.probes;
    return entries
      .filter((entry) => DISCOVERED.test(entry))
      .sort()
      .map((id) => ({ id, name: id }));
  }

  private async readAll(context: SourceContext): Promise<Record<string, FieldValue>> {
    const probes = await this.probes();
    if (probes.length === 0) {
      this.problemLog.maybe('none', (suppressed) => context.logger.warn('no DS18B20 probe found', { baseDir: this.options.baseDir, suppressed }));
    }
    const fields: Record<string, FieldValue> = {};
    for (const probe of probes) {
      if (context.signal.aborted) break;
      const result = await this.readProbe(probe.id);
      if (result.ok) {
        fields[probe.name] = result.celsius;
        continue;
      }
      this.problems[result.problem]++;
      this.problemLog.maybe(`${probe.id}\u0000${result.problem}`, (suppressed) =>
        context.logger.warn('1-Wire probe reading rejected', {
          probe: probe.id,
          name: probe.name,
          problem: result.problem,
          detail: result.detail,
          count: this.problems[result.problem],
          suppressed,
        }),
      );
    }
    return fields;
  }

  private async readProbe(id: string): Promise<ProbeResult> {
    let text: string;
    try {
      text = await readFile(join(this.options.baseDir, id, 'w1_slave'), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      return { ok: false, problem: code === 'ENOENT' ? 'missing' : 'garbage', detail: code };
    }
    return parseW1Slave(text);
  }
}
