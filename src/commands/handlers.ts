/**
 * The built-in commands:
 * - `ping` → `{"ok": true, "pong": true, "ts": <epoch ms>}`: the agent is there and commands reach it.
 * - `status` → the agent's status (the same as /status.json).
 * - `serial-write` `{"source": "<serial source>", "data": "R\r"}` or `{"source": ..., "hex": "520d"}`
 *   → writes the bytes to that source's port: `{"ok": true, "source": ..., "bytes": n}`.
 */
import { decodeEscapes } from '../sources/serial/escapes.js';
import { CommandError } from './router.js';
import type { CommandArgs, CommandHandler } from './router.js';

export interface SerialWriter {
  write(data: Buffer): Promise<void>;
}

export interface HandlerDeps {
  status: () => Record<string, unknown>;
  /** Serial sources by name. */
  serial: ReadonlyMap<string, SerialWriter>;
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

function bytesToWrite(args: CommandArgs): Buffer {
  const { data, hex } = args;
  if ((data === undefined) === (hex === undefined)) throw new CommandError('give exactly one of "data" (text; escapes \\r \\n \\t \\0 \\\\ \\xHH) or "hex" (like "520d")');
  if (data !== undefined) {
    if (typeof data !== 'string' || data.length === 0) throw new CommandError('"data" must be a non-empty string');
    const bytes = decodeEscapes(data);
    if (typeof bytes === 'string') throw new CommandError(`"data": ${bytes}`);
    return bytes;
  }
  if (typeof hex !== 'string' || !HEX.test(hex.replace(/\s+/g, ''))) throw new CommandError('"hex" must be pairs of hex digits, like "520d"');
  return Buffer.from(hex.replace(/\s+/g, ''), 'hex');
}

export function builtInHandlers(deps: HandlerDeps): Record<string, CommandHandler> {
  return {
    ping: () => ({ pong: true, ts: Date.now() }),
    status: () => ({ status: deps.status() }),
    'serial-write': async (args) => {
      const { source } = args;
      const names = [...deps.serial.keys()];
      if (typeof source !== 'string') throw new CommandError(`"source" must name a serial source (${names.length === 0 ? 'none is configured' : names.join(', ')})`);
      const writer = deps.serial.get(source);
      if (writer === undefined) throw new CommandError(`no serial source "${source}" (${names.length === 0 ? 'none is configured' : `serial sources: ${names.join(', ')}`})`);
      const bytes = bytesToWrite(args);
      try {
        await writer.write(bytes);
      } catch (err) {
        throw new CommandError(err instanceof Error ? err.message : String(err));
      }
      return { source, bytes: bytes.length };
    },
  };
}
