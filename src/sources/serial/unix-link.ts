/**
 * node-serialport's unix port as a SerialLink, with a read that reports a hangup.
 *
 * The binding's own read (@serialport/bindings-cpp 13, unix-read) takes a read of 0 bytes as
 * "nothing yet" and reads again at once. The binding opens the tty non-blocking with VMIN=1,
 * so "nothing yet" is EAGAIN; 0 bytes is end of file: the line hung up (a USB unplug, the
 * master side of a pty closing). The binding only notices a hangup when its poller reports
 * POLLERR while a read waits for 'readable'. When the hangup lands while no read waits there
 * (the source is committing, or a read is in flight) or the poller first sees a bare POLLHUP
 * (the kernel wakes readers before it switches the tty to its hung-up state: a window that
 * widens under CPU load), every later read returns 0 bytes and the binding spins on them,
 * thousands of reads a second, and never rejects (serialport/bindings-cpp#162). This read is
 * the binding's, except that 0 bytes rejects.
 */
import { read as fsRead } from 'node:fs';
import { promisify } from 'node:util';
import type { SerialLink } from './binding.js';

const readAsync = promisify(fsRead);

/** What the linux and darwin port bindings expose (public fields of LinuxPortBinding / DarwinPortBinding). */
export interface UnixPortBinding extends SerialLink {
  /** null once closed. */
  readonly fd: number | null;
  readonly poller: { once(event: 'readable', listener: (err: Error | null) => void): unknown };
}

/** The errnos that mean "no data yet": wait for the poller, then read again (as the binding does). */
const RETRY_CODES = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);

export function isUnixPortBinding(port: SerialLink): port is UnixPortBinding {
  const candidate = port as Partial<UnixPortBinding>;
  return (candidate.fd === null || typeof candidate.fd === 'number') && typeof candidate.poller?.once === 'function';
}

/** The port, with read replaced; write and close stay the binding's. */
export function hangupAwareLink(port: UnixPortBinding): SerialLink {
  return {
    read: (buffer, offset, length) => readUntilData(port, buffer, offset, length),
    write: (data) => port.write(data),
    close: () => port.close(),
  };
}

async function readUntilData(port: UnixPortBinding, buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number }> {
  for (;;) {
    const fd = port.fd;
    if (fd === null) throw notOpen();
    let bytesRead: number;
    try {
      ({ bytesRead } = await readAsync(fd, buffer, offset, length, null));
    } catch (err) {
      if (!RETRY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      if (port.fd === null) throw notOpen();
      await readable(port);
      continue;
    }
    if (bytesRead > 0) return { bytesRead };
    throw Object.assign(new Error('serial port hung up (read returned end of file): unplugged or line closed'), { disconnect: true });
  }
}

/** Rejects when the poller reports an error, or is stopped by close() (then `canceled`). */
function readable(port: UnixPortBinding): Promise<void> {
  return new Promise((resolve, reject) => {
    port.poller.once('readable', (err) => (err ? reject(err) : resolve()));
  });
}

function notOpen(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}
