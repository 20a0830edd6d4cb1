/** A TCP relay that counts the bytes crossing it in each direction (MQTT bytes, no TCP/IP headers). */
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface CountingRelay {
  readonly port: number;
  /** Client → broker bytes since start. */
  readonly up: number;
  /** Broker → client bytes since start. */
  readonly down: number;
  close(): Promise<void>;
}

export async function startCountingRelay(targetPort: number): Promise<CountingRelay> {
  const sockets = new Set<Socket>();
  const counts = { up: 0, down: 0 };
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort, noDelay: true });
    track(client);
    track(upstream);
    client.on('data', (chunk: Buffer) => (counts.up += chunk.length));
    upstream.on('data', (chunk: Buffer) => (counts.down += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get up() {
      return counts.up;
    },
    get down() {
      return counts.down;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
