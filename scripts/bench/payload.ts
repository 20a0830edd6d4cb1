/** The reading every client publishes: the same topic and ~80-byte JSON payload for all. */

export const BENCH_TOPIC = 'sensorgate/bench/temperature';
export const STATUS_TOPIC = 'sensorgate/bench/status';

/** `{"ts":"<ISO>","seq":n,"temperature":<raw double>}`, 75-80 bytes. */
export function readingPayload(seq: number): Buffer {
  const temperature = 21 + Math.sin(seq / 50) * 4 + 0.000123;
  return Buffer.from(JSON.stringify({ ts: new Date().toISOString(), seq, temperature }));
}
