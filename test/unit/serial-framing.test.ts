/** Byte-level steps of the serial source: line framing, decoding, poll command escapes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLine } from '../../src/sources/serial/decode.js';
import { decodeEscapes } from '../../src/sources/serial/escapes.js';
import { LineFramer } from '../../src/sources/serial/framer.js';
import type { FramedEvent } from '../../src/sources/serial/framer.js';

/** Events as short strings: `line:abc`, `partial:3`, `oversize:20`. */
function show(events: readonly FramedEvent[]): string[] {
  return events.map((e) => (e.kind === 'line' ? `line:${e.bytes.toString('latin1')}` : `${e.kind}:${e.bytes}`));
}

function framer(maxLineLength = 16, synced = true): LineFramer {
  const f = new LineFramer({ maxLineLength });
  if (synced) f.restart();
  return f;
}

void test('framer: LF, CRLF and CR all end a line; empty lines are skipped', () => {
  const f = framer();
  assert.deepEqual(show(f.push(Buffer.from('a\nb\r\nc\rd\n\n\r\n'))), ['line:a', 'line:b', 'line:c', 'line:d']);
});

void test('framer: lines split across chunks are joined, and the read buffer may be reused', () => {
  const f = framer();
  const buffer = Buffer.from('T=2');
  assert.deepEqual(show(f.push(buffer)), []);
  buffer.write('XXX'); // the caller reuses its buffer: the framer must have copied
  assert.deepEqual(show(f.push(Buffer.from('1.5\r'))), ['line:T=21.5']);
  assert.deepEqual(show(f.push(Buffer.from('\nH=40'))), [], 'the LF of a split CRLF is not an empty line event');
  assert.deepEqual(show(f.push(Buffer.from('\n'))), ['line:H=40']);
});

void test('framer: the first partial line after open is dropped, a line starting at the first byte is not lost when the device is quiet first', () => {
  const f = framer(16, false);
  assert.deepEqual(show(f.push(Buffer.from('ail of a line\nnext\n'))), ['partial:13', 'line:next']);
  const quiet = framer(16, false);
  assert.deepEqual(show(quiet.push(Buffer.from('\nfull\n'))), ['line:full'], 'nothing before the first line end: nothing dropped');
});

void test('framer: lines over maxLineLength are discarded up to the next line end, however long', () => {
  const f = framer(8);
  assert.deepEqual(show(f.push(Buffer.from('12345678\n123456789\nok\n'))), ['line:12345678', 'oversize:9', 'line:ok']);
  // A flood without line ends: nothing is kept, and it is reported once when the line finally ends.
  for (let i = 0; i < 1000; i++) assert.deepEqual(f.push(Buffer.alloc(1024, 0x41)), []);
  assert.deepEqual(show(f.push(Buffer.from('A\nafter\n'))), ['oversize:1024001', 'line:after']);
});

void test('framer: restart drops a partial line so a poll reply starts clean', () => {
  const f = framer();
  f.push(Buffer.from('stale bytes'));
  assert.equal(f.restart(), 11);
  assert.equal(f.restart(), 0);
  assert.deepEqual(show(f.push(Buffer.from('reply\n'))), ['line:reply']);
});

void test('framer: maxLineLength is validated', () => {
  assert.throws(() => new LineFramer({ maxLineLength: 0 }), RangeError);
  assert.throws(() => new LineFramer({ maxLineLength: 1.5 }), RangeError);
});

void test('decodeLine: UTF-8 text passes; invalid UTF-8 and control bytes are noise', () => {
  assert.deepEqual(decodeLine(Buffer.from('T=21.5°C\tok')), { text: 'T=21.5°C\tok' });
  assert.deepEqual(decodeLine(Buffer.from([0x54, 0x3d, 0xff, 0x31])), { noise: 'invalid-utf8' });
  assert.deepEqual(decodeLine(Buffer.from([0xe2, 0x82])), { noise: 'invalid-utf8' }, 'truncated sequence');
  assert.deepEqual(decodeLine(Buffer.from([0x54, 0x00, 0x31])), { noise: 'binary' });
  assert.deepEqual(decodeLine(Buffer.from([0x1b, 0x5b, 0x41])), { noise: 'binary' });
  assert.deepEqual(decodeLine(Buffer.from([0x41, 0x7f])), { noise: 'binary' });
});

void test('decodeEscapes: \\r \\n \\t \\0 \\\\ \\xHH; other characters as UTF-8', () => {
  assert.deepEqual(decodeEscapes('R\\r'), Buffer.from('R\r'));
  assert.deepEqual(decodeEscapes('*IDN?\\n'), Buffer.from('*IDN?\n'));
  assert.deepEqual(decodeEscapes('\\x02READ\\x03\\t\\0\\\\'), Buffer.from([0x02, 0x52, 0x45, 0x41, 0x44, 0x03, 0x09, 0x00, 0x5c]));
  assert.deepEqual(decodeEscapes('\\xfF'), Buffer.from([0xff]));
  assert.deepEqual(decodeEscapes('R\r'), Buffer.from('R\r'), 'already decoded by YAML double quotes');
  assert.deepEqual(decodeEscapes('°😀'), Buffer.from('°😀', 'utf8'));
  assert.match(String(decodeEscapes('R\\q')), /unknown escape "\\q"/);
  assert.match(String(decodeEscapes('R\\x4')), /\\x needs two hex digits/);
  assert.match(String(decodeEscapes('R\\xZZ')), /\\x needs two hex digits/);
  assert.match(String(decodeEscapes('R\\')), /lone backslash/);
});
