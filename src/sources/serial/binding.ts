/**
 * The device seam (node-serialport's own model): the source talks to a `SerialBinding`, which is
 * node-serialport's native binding in production and a fake in unit tests. Reads are pulled,
 * so a source that is busy committing simply does not read: the OS buffer (and RTS/CTS, when
 * enabled) holds the device back instead of our memory.
 */
import type { SerialPortSettings } from './spec.js';
import { hangupAwareLink, isUnixPortBinding } from './unix-link.js';

export type SerialOpenOptions = SerialPortSettings;

export interface SerialLink {
  /** Resolves with at least one byte. Rejects when the port fails or is unplugged, and (with `canceled`) after close(). */
  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number }>;
  /** Resolves once the bytes are handed to the OS. */
  write(data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface SerialBinding {
  /** Rejects when the port cannot be opened (absent, no permission, busy). */
  open(options: SerialOpenOptions): Promise<SerialLink>;
}

/**
 * node-serialport's binding for this platform, with a read that rejects on a hangup on unix
 * (see unix-link.ts). Loaded on first use: the native module costs memory and start-up time.
 */
export async function systemBinding(): Promise<SerialBinding> {
  const { SerialPort } = await import('serialport');
  const binding = SerialPort.binding;
  return {
    async open(options) {
      const port = await binding.open(options);
      return isUnixPortBinding(port) ? hangupAwareLink(port) : port;
    },
  };
}
