/**
 * Poll commands as written in a config file: `R\r`, `*IDN?\n`, `\x02READ\x03`. Escapes give raw
 * bytes; other characters are UTF-8. (YAML double quotes decode `\r` themselves; single quotes
 * and JSON's `\\r` leave the backslash for us. Both end up as the same bytes.)
 */

const SIMPLE: Readonly<Record<string, number>> = { r: 0x0d, n: 0x0a, t: 0x09, '0': 0x00, '\\': 0x5c };

/** The bytes `text` stands for, or a message saying which escape is wrong. */
export function decodeEscapes(text: string): Buffer | string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? '';
    if (char !== '\\') {
      // Whole code points, so a character outside the BMP is encoded once, not as two halves.
      const codePoint = text.codePointAt(i) ?? 0;
      const encoded = Buffer.from(String.fromCodePoint(codePoint), 'utf8');
      bytes.push(...encoded);
      if (codePoint > 0xffff) i++;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) return 'ends with a lone backslash (write \\\\ for a backslash)';
    const simple = SIMPLE[next];
    if (simple !== undefined) {
      bytes.push(simple);
      i++;
    } else if (next === 'x') {
      const hex = text.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return `\\x needs two hex digits (like \\x0D), got "\\x${hex}"`;
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      return `unknown escape "\\${next}" (known: \\r \\n \\t \\0 \\\\ \\xHH)`;
    }
  }
  return Buffer.from(bytes);
}
