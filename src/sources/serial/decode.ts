/**
 * A framed line's bytes → text, or why it is not text. Line noise (a loose connector, a wrong
 * baud rate, a device booting) shows up as control bytes or invalid UTF-8; such a line is
 * dropped whole rather than parsed into a wrong value.
 */

export type DecodedLine = { text: string } | { noise: 'invalid-utf8' | 'binary' };

// fatal: invalid sequences are reported, not replaced with U+FFFD. Stateless per call (no stream option).
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Control bytes other than TAB (line ends never reach here: the framer splits on them). */
function hasControlBytes(bytes: Uint8Array): boolean {
  for (const byte of bytes) if ((byte < 0x20 && byte !== 0x09) || byte === 0x7f) return true;
  return false;
}

export function decodeLine(bytes: Uint8Array): DecodedLine {
  if (hasControlBytes(bytes)) return { noise: 'binary' };
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { noise: 'invalid-utf8' };
  }
}
