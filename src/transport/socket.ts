/**
 * Opens the byte stream to the broker. Knows TCP and TLS, nothing about MQTT.
 */
import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { explainTlsError } from './tls-errors.js';

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

/**
 * A socket error the transport could explain: `hint` says in plain words what went wrong and
 * which setting to check. Set on errors the socket emits after the connection is handed over,
 * too: TLS 1.3 brokers refuse a missing client certificate only after our side has finished.
 */
export type ExplainedError = NodeJS.ErrnoException & { hint?: string };

async function readTlsFile(file: string | undefined, key: 'ca' | 'cert' | 'key'): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    // Read on every dial: a file removed or made unreadable since start is a failed dial, not a crash.
    const code = (err as NodeJS.ErrnoException).code;
    throw new TransportError(`cannot read mqtt.tls.${key} ${file} (${code ?? String(err)})`, code);
  }
}

async function tlsOptions(options: TransportOptions): Promise<tls.ConnectionOptions> {
  const t = options.tls;
  return {
    host: options.host,
    port: options.port,
    // SNI: cloud brokers (AWS IoT, HiveMQ Cloud) route on it; an IP literal must not be sent.
    servername: net.isIP(options.host) === 0 ? options.host : undefined,
    ca: await readTlsFile(t?.ca, 'ca'),
    cert: await readTlsFile(t?.cert, 'cert'),
    key: await readTlsFile(t?.key, 'key'),
    rejectUnauthorized: t?.rejectUnauthorized ?? true,
  };
}

async function connectTls(options: TransportOptions): Promise<tls.TLSSocket> {
  const connectOptions = await tlsOptions(options);
  let socket: tls.TLSSocket;
  try {
    // Throws at once on unusable material: a key that does not match the cert, a file that is not PEM.
    socket = tls.connect(connectOptions);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TransportError(explainTlsError(e, options.host) ?? e.message, e.code);
  }
  // First listener, so every later one (ours below, the MQTT connection's) sees the hint.
  socket.prependListener('error', (err: ExplainedError) => {
    err.hint ??= explainTlsError(err, options.host);
  });
  return socket;
}

/** Resolves with a connected (and for TLS, verified) socket, or rejects within connectTimeoutMs. */
export async function openTransport(options: TransportOptions): Promise<net.Socket> {
  const secure = options.protocol === 'mqtts';
  const socket: net.Socket = secure ? await connectTls(options) : net.connect({ host: options.host, port: options.port });
  const readyEvent = secure ? 'secureConnect' : 'connect';

  return new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new TransportError(`connect to ${options.host}:${options.port} timed out after ${options.connectTimeoutMs} ms`, 'ETIMEDOUT'));
    }, options.connectTimeoutMs);
    const fail = (err: ExplainedError): void => {
      clearTimeout(timer);
      socket.removeListener(readyEvent, ready);
      socket.destroy();
      const hint = err.hint ?? (secure ? explainTlsError(err, options.host, true) : undefined);
      reject(err instanceof TransportError ? err : new TransportError(hint ?? err.message, err.code));
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
