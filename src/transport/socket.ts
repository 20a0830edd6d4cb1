/**
 * Opens the byte stream to the broker. Knows TCP and TLS, nothing about MQTT.
 */
import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';

export interface TransportOptions {
  protocol: 'mqtt' | 'mqtts';
  host: string;
  port: number;
  connectTimeoutMs: number;
  tls?: {
    /** File paths, read on every dial so rotated certificates are picked up. */
    ca?: string;
    cert?: string;
    key?: string;
    rejectUnauthorized: boolean;
  };
}

export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

async function tlsOptions(options: TransportOptions): Promise<tls.ConnectionOptions> {
  const t = options.tls;
  const read = async (file: string | undefined): Promise<Buffer | undefined> =>
    file === undefined ? undefined : readFile(file);
  return {
    host: options.host,
    port: options.port,
    // SNI: cloud brokers (AWS IoT, HiveMQ Cloud) route on it; an IP literal must not be sent.
    servername: net.isIP(options.host) === 0 ? options.host : undefined,
    ca: await read(t?.ca),
    cert: await read(t?.cert),
    key: await read(t?.key),
    rejectUnauthorized: t?.rejectUnauthorized ?? true,
  };
}

/** Resolves with a connected (and for TLS, verified) socket, or rejects within connectTimeoutMs. */
export async function openTransport(options: TransportOptions): Promise<net.Socket> {
  const secure = options.protocol === 'mqtts';
  const socket: net.Socket = secure
    ? tls.connect(await tlsOptions(options))
    : net.connect({ host: options.host, port: options.port });
  const readyEvent = secure ? 'secureConnect' : 'connect';

  return new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new TransportError(`connect to ${options.host}:${options.port} timed out after ${options.connectTimeoutMs} ms`, 'ETIMEDOUT'));
    }, options.connectTimeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.removeListener(readyEvent, ready);
      socket.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      reject(err instanceof TransportError ? err : new TransportError(err.message, code));
    };
    const ready = (): void => {
      clearTimeout(timer);
      socket.removeListener('error', fail);
      // MQTT packets are small and latency-sensitive; Nagle would hold acks and pings.
      socket.setNoDelay(true);
      resolve(socket);
    };
    socket.once('error', fail);
    socket.once(readyEvent, ready);
  });
}
