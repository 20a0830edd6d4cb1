/** Turns measured outcomes into the comparison table (rows with targets and verdicts). */
import type { ChildResult, ClientKind } from './types.js';

export type Outcome = { ok: true; result: ChildResult } | { ok: false; error: string };

export interface WireCount {
  n: number;
  up: number;
  down: number;
  /** Largest number of unacknowledged QoS 1 ids the fault proxy saw on one connection. */
  maxInflight: number;
}

export interface Measurements {
  inflight: number;
  rttMs: number;
  /** The median (by rate) of the bulk repeats. */
  bulk: Partial<Record<ClientKind, Outcome>>;
  /** Every bulk repeat's rate, msg/s (failed repeats omitted). */
  bulkRates: Partial<Record<ClientKind, number[]>>;
  live: Partial<Record<ClientKind, Outcome>>;
  latency: Partial<Record<ClientKind, Outcome>>;
  wire: Partial<Record<ClientKind, WireCount>>;
  /** sensorgate with N readings per message (publish.batch), keyed by N. */
  wireBatched: Record<number, WireCount>;
  /** A backlog stored while the link was down, replayed over the 100 ms RTT link. */
  replay: Partial<Record<ClientKind, Outcome>>;
  replayInflight: Partial<Record<ClientKind, number>>;
  backlogSmall: Partial<Record<ClientKind, Outcome>>;
  backlogLarge: Partial<Record<ClientKind, Outcome>>;
  smallN: number;
  largeN: number;
}

export interface Row {
  metric: string;
  sensorgate: string;
  levelStore: string;
  memory: string;
  target: string;
  /** 'yes' | 'NO' | '' (informational) | 'n/a' (could not be measured). */
  pass: string;
}

export const CLIENTS: readonly ClientKind[] = ['sensorgate', 'mqttjs-level', 'mqttjs-memory'];

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const mb = (x: number): string => x.toFixed(1);
const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'n/a' : ok ? 'yes' : 'NO');

function res(o: Outcome | undefined): ChildResult | undefined {
  return o?.ok === true ? o.result : undefined;
}

/** A cell for one client: the formatted value, 'error' when the run failed, '-' when not run. */
function cell(o: Outcome | undefined, pick: (r: ChildResult) => number | undefined, fmt: (x: number) => string): string {
  if (o === undefined) return '-';
  if (!o.ok) return 'error';
  const v = pick(o.result);
  return v === undefined || !Number.isFinite(v) ? '-' : fmt(v);
}

function cells(
  by: Partial<Record<ClientKind, Outcome>>,
  pick: (r: ChildResult) => number | undefined,
  fmt: (x: number) => string,
): Pick<Row, 'sensorgate' | 'levelStore' | 'memory'> {
  return {
    sensorgate: cell(by.sensorgate, pick, fmt),
    levelStore: cell(by['mqttjs-level'], pick, fmt),
    memory: cell(by['mqttjs-memory'], pick, fmt),
  };
}

function peak(r: ChildResult): number {
  return Math.max(r.rssFillPeakMb ?? 0, r.rssDrainPeakMb ?? 0);
}

function ratioRow(metric: string, by: Partial<Record<ClientKind, Outcome>>): Row {
  const sg = res(by.sensorgate);
  const ls = res(by['mqttjs-level']);
  const ratio = sg && ls ? sg.rate / ls.rate : undefined;
  const row = { metric, ...cells(by, (r) => r.rate, int), target: '≥3× level-store', pass: verdict(ratio === undefined ? undefined : ratio >= 3) };
  if (ratio !== undefined) row.sensorgate += ` (${ratio.toFixed(1)}×)`;
  return row;
}

function perMsg(r: ChildResult, field: 'writeBytes' | 'wchar'): number | undefined {
  return r.io === null ? undefined : r.io[field] / r.n;
}

export function buildRows(m: Measurements): Row[] {
  const rows: Row[] = [];
  const info = (metric: string, c: Pick<Row, 'sensorgate' | 'levelStore' | 'memory'>): void => {
    rows.push({ metric, ...c, target: '', pass: '' });
  };

  // 1. Durable QoS 1 throughput.
  const repeats = Math.max(0, ...Object.values(m.bulkRates).map((r) => r.length));
  rows.push(ratioRow(`QoS1 msg/s, bulk (first publish→last ack${repeats > 1 ? `, median of ${repeats}` : ''})`, m.bulk));
  if (repeats > 1) {
    const range = (k: ClientKind): string => {
      const r = m.bulkRates[k];
      return r === undefined || r.length === 0 ? '-' : `${int(Math.min(...r))}–${int(Math.max(...r))}`;
    };
    info('  bulk min–max', { sensorgate: range('sensorgate'), levelStore: range('mqttjs-level'), memory: range('mqttjs-memory') });
  }
  // One reading at a time, each awaited until durable: bound by one disk write per reading for
  // any durable store, so it is shown for reference, without a target.
  const live = ratioRow('  QoS1 msg/s, live (await each commit; latency-bound)', m.live);
  rows.push({ ...live, target: '', pass: '' });
  info('  commit msg/s, bulk fill (before connecting)', { sensorgate: cell(m.bulk.sensorgate, (r) => r.fillRate, int), levelStore: '-', memory: '-' });
  info('  commit msg/s, live (await each store put)', cells(m.live, (r) => r.fillRate, int));
  info('  CPU ms per 1k msgs (bulk, whole child)', cells(m.bulk, (r) => ((r.cpuUserMs + r.cpuSystemMs) * 1000) / r.n, (x) => x.toFixed(0)));
  info('  peak RSS MB (bulk)', cells(m.bulk, (r) => r.rssPeakMb, mb));

  // 2. Throughput over a slow link.
  const ideal = (m.inflight * 1000) / m.rttMs;
  const sgLat = res(m.latency.sensorgate);
  const latRatio = sgLat ? sgLat.rate / ideal : undefined;
  rows.push({
    metric: `${m.rttMs} ms RTT msg/s (inflight ${m.inflight} → ideal ${int(ideal)})`,
    ...cells(m.latency, (r) => r.rate, int),
    target: `≥${int(ideal * 0.9)} (0.9× ideal)`,
    pass: verdict(latRatio === undefined ? undefined : latRatio >= 0.9),
  });
  info('  ratio to inflight/RTT', cells(m.latency, (r) => r.rate / ideal, (x) => x.toFixed(2)));
  info('  max unacked on the wire (proxy)', {
    sensorgate: m.wire.sensorgate ? String(m.wire.sensorgate.maxInflight) : '-',
    levelStore: m.wire['mqttjs-level'] ? String(m.wire['mqttjs-level'].maxInflight) : '-',
    memory: m.wire['mqttjs-memory'] ? String(m.wire['mqttjs-memory'].maxInflight) : '-',
  });

  const sgReplay = res(m.replay.sensorgate);
  const replayRatio = sgReplay ? sgReplay.rate / ideal : undefined;
  const replayN = sgReplay?.n ?? res(m.replay['mqttjs-level'])?.n;
  rows.push({
    metric: `${m.rttMs} ms RTT, replay of ${replayN ?? '?'} stored offline, msg/s`,
    ...cells(m.replay, (r) => r.rate, int),
    target: `≥${int(ideal * 0.9)} (0.9× ideal)`,
    pass: verdict(replayRatio === undefined ? undefined : replayRatio >= 0.9),
  });
  info('  replay: ratio to inflight/RTT', cells(m.replay, (r) => r.rate / ideal, (x) => x.toFixed(2)));
  info('  replay: max unacked on the wire (proxy)', {
    sensorgate: m.replayInflight.sensorgate === undefined ? '-' : String(m.replayInflight.sensorgate),
    levelStore: m.replayInflight['mqttjs-level'] === undefined ? '-' : String(m.replayInflight['mqttjs-level']),
    memory: m.replayInflight['mqttjs-memory'] === undefined ? '-' : String(m.replayInflight['mqttjs-memory']),
  });

  // 3. Memory with a backlog, and draining it.
  const small = `${int(m.smallN)}`;
  const large = `${int(m.largeN)}`;
  const sgSmall = res(m.backlogSmall.sensorgate);
  const sgLarge = res(m.backlogLarge.sensorgate);
  rows.push({ metric: `peak RSS MB, ${small} backlog fill`, ...cells(m.backlogSmall, (r) => r.rssFillPeakMb, mb), target: '≤100', pass: verdict(sgSmall && (sgSmall.rssFillPeakMb ?? 0) <= 100) });
  rows.push({ metric: `peak RSS MB, ${small} backlog drain`, ...cells(m.backlogSmall, (r) => r.rssDrainPeakMb, mb), target: '≤100', pass: verdict(sgSmall && (sgSmall.rssDrainPeakMb ?? 0) <= 100) });
  rows.push({ metric: `peak RSS MB, ${large} backlog fill`, ...cells(m.backlogLarge, (r) => r.rssFillPeakMb, mb), target: '≤100', pass: verdict(sgLarge && (sgLarge.rssFillPeakMb ?? 0) <= 100) });
  rows.push({ metric: `peak RSS MB, ${large} backlog drain`, ...cells(m.backlogLarge, (r) => r.rssDrainPeakMb, mb), target: '≤100', pass: verdict(sgLarge && (sgLarge.rssDrainPeakMb ?? 0) <= 100) });
  const growth = sgSmall && sgLarge ? peak(sgLarge) / peak(sgSmall) - 1 : undefined;
  rows.push({
    metric: `peak RSS growth ${small}→${large} backlog`,
    sensorgate: growth === undefined ? 'error' : `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(0)}%`,
    levelStore: '-',
    memory: '-',
    target: '≤+25%',
    pass: verdict(growth === undefined ? undefined : growth <= 0.25),
  });
  rows.push({
    metric: `drain msg/s, ${large} backlog (from CONNACK)`,
    ...cells(m.backlogLarge, (r) => r.rate, int),
    target: '≥5,000',
    pass: verdict(sgLarge === undefined ? undefined : sgLarge.rate >= 5000),
  });
  info(`  drain msg/s, ${small} backlog`, cells(m.backlogSmall, (r) => r.rate, int));
  info(`  fill msg/s, ${large} backlog (groups of 1000)`, cells(m.backlogLarge, (r) => r.fillRate, int));

  // 4. Bytes per reading.
  const wire = (k: ClientKind, f: (w: WireCount) => number): string => {
    const w = m.wire[k];
    return w === undefined ? '-' : f(w).toFixed(1);
  };
  info('wire bytes/reading up+down (relay)', {
    sensorgate: wire('sensorgate', (w) => (w.up + w.down) / w.n),
    levelStore: wire('mqttjs-level', (w) => (w.up + w.down) / w.n),
    memory: wire('mqttjs-memory', (w) => (w.up + w.down) / w.n),
  });
  info('  client→broker bytes/reading', {
    sensorgate: wire('sensorgate', (w) => w.up / w.n),
    levelStore: wire('mqttjs-level', (w) => w.up / w.n),
    memory: wire('mqttjs-memory', (w) => w.up / w.n),
  });
  for (const [size, w] of Object.entries(m.wireBatched)) {
    info(`  client→broker bytes/reading, batch of ${size}`, { sensorgate: (w.up / w.n).toFixed(1), levelStore: '-', memory: '-' });
  }
  info('disk write_bytes/reading (bulk run)', cells(m.bulk, (r) => perMsg(r, 'writeBytes'), (x) => x.toFixed(0)));
  info('  wchar/reading (all write()s incl. socket)', cells(m.bulk, (r) => perMsg(r, 'wchar'), (x) => x.toFixed(0)));
  info('  write syscalls/reading (incl. socket)', cells(m.bulk, (r) => (r.io === null ? undefined : r.io.syscw / r.n), (x) => x.toFixed(2)));
  info('disk write_bytes/reading (live run)', cells(m.live, (r) => perMsg(r, 'writeBytes'), (x) => x.toFixed(0)));
  return rows;
}

export function formatTable(rows: readonly Row[]): string {
  const header: Row = { metric: 'metric', sensorgate: 'sensorgate', levelStore: 'mqtt.js+level-store', memory: 'mqtt.js memory', target: 'target', pass: 'pass?' };
  const all = [header, ...rows];
  const keys: Array<keyof Row> = ['metric', 'sensorgate', 'levelStore', 'memory', 'target', 'pass'];
  const width = keys.map((k) => Math.max(...all.map((r) => [...r[k]].length)));
  const line = (r: Row): string =>
    keys
      .map((k, i) => {
        const w = width[i] ?? 0;
        const v = r[k];
        const pad = ' '.repeat(Math.max(0, w - [...v].length));
        return k === 'metric' || k === 'target' || k === 'pass' ? v + pad : pad + v;
      })
      .join(' | ');
  const rule = width.map((w) => '-'.repeat(w)).join('-+-');
  return [line(header), rule, ...rows.map(line)].join('\n');
}
