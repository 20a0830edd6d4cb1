/**
 * The kernel w1_therm driver's `w1_slave` file, parsed:
 *
 *   72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
 *   72 01 4b 46 7f ff 0e 10 57 t=23125
 *
 * The first line says whether the scratchpad's CRC matched; the second gives the temperature in
 * milli-°C. Pure: every way the file can be wrong is a `problem`, never an exception.
 */

export type ProbeProblem =
  /** The CRC did not match: a noisy bus, a long cable, a missing pull-up. */
  | 'crc'
  /** 85000 (85 °C) is the power-on value: the probe reset (brown-out) before converting. */
  | 'power-on'
  /** Nine zero bytes pass the CRC check, but it is a probe that did not answer. */
  | 'no-response'
  /** Outside the DS18B20's −55..125 °C. */
  | 'out-of-range'
  /** Not the format above. */
  | 'garbage'
  /** The probe's directory or file is gone (unplugged). */
  | 'missing';

export type ProbeResult = { ok: true; celsius: number } | { ok: false; problem: ProbeProblem; detail: string };

const CRC_LINE = /^((?:[0-9a-f]{2} ){9}): crc=[0-9a-f]{2} (YES|NO)$/i;
const TEMP_LINE = /^(?:[0-9a-f]{2} ){9}t=(-?\d{1,6})$/i;
const POWER_ON_RESET = 85_000;
const MIN_MILLI = -55_000;
const MAX_MILLI = 125_000;

export function parseW1Slave(text: string): ProbeResult {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const crc = CRC_LINE.exec(lines[0] ?? '');
  const temp = TEMP_LINE.exec(lines[1] ?? '');
  if (lines.length !== 2 || crc === null || temp === null) return { ok: false, problem: 'garbage', detail: JSON.stringify(text.slice(0, 120)) };
  if ((crc[2] ?? '').toUpperCase() !== 'YES') return { ok: false, problem: 'crc', detail: lines[0] ?? '' };
  if (/^(00 ){9}$/.test(crc[1] ?? '')) return { ok: false, problem: 'no-response', detail: lines[0] ?? '' };
  const milli = Number(temp[1]);
  if (milli === POWER_ON_RESET) return { ok: false, problem: 'power-on', detail: 't=85000' };
  if (milli < MIN_MILLI || milli > MAX_MILLI) return { ok: false, problem: 'out-of-range', detail: `t=${milli}` };
  // Milli-degrees to degrees with no float noise: 21562 → 21.562.
  return { ok: true, celsius: Number((milli / 1_000).toFixed(3)) };
}
