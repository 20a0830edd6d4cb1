/** Loopback ports for brokers and proxies. */
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { sleep, TimeoutError } from './wait.js';

/**
 * A port that was free a moment ago. Another process can take it before the caller binds,
 * so launchers that cannot listen on port 0 themselves retry on "address in use".
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves true when a TCP connect to 127.0.0.1:port succeeds. */
export function canConnect(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Retries a TCP connect until it succeeds; `abort` lets a caller stop early (child exited). */
export async function waitForPort(port: number, timeoutMs: number, abort?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = abort?.();
    if (reason !== undefined) throw new Error(reason);
    if (await canConnect(port, Math.max(50, Math.min(1000, deadline - Date.now())))) return;
    if (Date.now() >= deadline) throw new TimeoutError(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** Listens on 127.0.0.1 on a free port; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
