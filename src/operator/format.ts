/** Text for operators: sizes, ages and aligned tables, in the style of `sensorgate ports`. */
export { formatAge } from '../observe/health.js';

/** 1536 → `1.5 KB`; 1024-based like every size in sensorgate's config. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? Math.round(value) : Number(value.toFixed(1))} ${units[unit]}`;
}

/** Left-aligned columns separated by two spaces; the header is the first row. */
export function formatTable(rows: ReadonlyArray<readonly string[]>): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

/** A payload as a person can read it in one line: text when it is printable UTF-8, else hex. */
export function previewPayload(payload: Buffer, max = 60): string {
  const text = payload.toString('utf8');
  // eslint-disable-next-line no-control-regex -- control characters are what makes text unprintable here
  const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text);
  if (printable) {
    const flat = text.replace(/\s+/g, ' ');
    return flat.length > max ? `${flat.slice(0, max)}…` : flat;
  }
  const hex = payload.subarray(0, Math.floor(max / 2)).toString('hex');
  return `0x${hex}${payload.length > max / 2 ? '…' : ''}`;
}
