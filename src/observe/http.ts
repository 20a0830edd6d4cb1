/**
 * The optional HTTP listener (`metrics.listen`): GET /metrics (Prometheus text), /healthz (200
 * or 503 with a JSON reason) and /status.json (what `sensorgate status` prints). Nothing else:
 * 404. A listener that cannot bind is logged and left out; the agent runs on without it.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from './logger.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';

export interface ObserveRoutes {
  metrics(): string;
  health(): { healthy: boolean; body: unknown };
  status(): unknown;
}

export interface ObserveServer {
  /** The bound address (port 0 in the config gives a free port); null when binding failed. */
  readonly address: { host: string; port: number } | null;
  close(): Promise<void>;
}

/** A scraper or a curl, not a crowd: a few sockets, and none held open by a slow client. */
const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 5_000;
const JSON_TYPE = 'application/json; charset=utf-8';

function reply(res: ServerResponse, head: boolean, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

function handle(routes: ObserveRoutes, req: IncomingMessage, res: ServerResponse): void {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, false, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics':
      return reply(res, head, 200, METRICS_CONTENT_TYPE, routes.metrics());
    case '/healthz': {
      const { healthy, body } = routes.health();
      return reply(res, head, healthy ? 200 : 503, JSON_TYPE, `${JSON.stringify(body)}\n`);
    }
    case '/status.json':
      return reply(res, head, 200, JSON_TYPE, `${JSON.stringify(routes.status())}\n`);
    default:
      return reply(res, head, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /status.json\n');
  }
}

export async function startObserveServer(listen: { host: string; port: number }, routes: ObserveRoutes, logger: Logger): Promise<ObserveServer> {
  const server: Server = createServer((req, res) => {
    try {
      handle(routes, req, res);
    } catch (err) {
      logger.error('metrics listener: request failed', { url: req.url, err });
      if (!res.headersSent) reply(res, false, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
  const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  const bound = await new Promise<boolean>((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const hint = err.code === 'EADDRINUSE' ? 'another program uses this port' : err.code === 'EACCES' ? 'ports below 1024 need privileges' : undefined;
      logger.error('metrics listener could not bind; the agent runs on without /metrics and /healthz', { listen: where, err, hint });
      resolve(false);
    };
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      resolve(true);
    });
  });
  if (!bound) return { address: null, close: () => Promise.resolve() };
  server.on('error', (err) => logger.error('metrics listener error', { err }));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listen.port;
  logger.info('metrics listener started', { listen: where, port, paths: ['/metrics', '/healthz', '/status.json'] });
  return {
    address: { host: listen.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
