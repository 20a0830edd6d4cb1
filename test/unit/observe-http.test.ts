/** The metrics listener's routes, methods and bind failure, on a free loopback port. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startObserveServer } from '../../src/observe/http.js';
import type { ObserveRoutes } from '../../src/observe/http.js';
import type { LogFields, Logger } from '../../src/observe/logger.js';
import { silentLogger } from '../../src/observe/logger.js';

const T = { timeout: 15_000 };

let healthy = true;
const routes: ObserveRoutes = {
  metrics: () => '# HELP x y\n# TYPE x gauge\nx 1\n',
  health: () => ({ healthy, body: { status: healthy ? 'ok' : 'unhealthy' } }),
  status: () => ({ device: 'gw' }),
};

function call(port: number, method: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, timeout: 3_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

void test('routes: /metrics in the 0.0.4 media type, /healthz 200 or 503 with JSON, /status.json, 404, 405, HEAD without a body', T, async (t) => {
  const server = await startObserveServer({ host: '127.0.0.1', port: 0 }, routes, silentLogger);
  t.after(() => server.close());
  const port = server.address?.port ?? 0;
  assert.ok(port > 0);
  const metrics = await call(port, 'GET', '/metrics');
  assert.equal(metrics.status, 200);
  assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(metrics.body, '# HELP x y\n# TYPE x gauge\nx 1\n');
  assert.deepEqual(JSON.parse((await call(port, 'GET', '/healthz')).body), { status: 'ok' });
  healthy = false;
  const sick = await call(port, 'GET', '/healthz?verbose=1');
  assert.equal(sick.status, 503);
  assert.equal(sick.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(JSON.parse(sick.body), { status: 'unhealthy' });
  const head = await call(port, 'HEAD', '/healthz');
  assert.equal(head.status, 503);
  assert.equal(head.body, '');
  healthy = true;
  assert.deepEqual(JSON.parse((await call(port, 'GET', '/status.json')).body), { device: 'gw' });
  assert.equal((await call(port, 'GET', '/')).status, 404);
  const post = await call(port, 'POST', '/metrics');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

void test('a port in use: logged with a hint, no address, close() harmless', T, async (t) => {
  const first = await startObserveServer({ host: '127.0.0.1', port: 0 }, routes, silentLogger);
  t.after(() => first.close());
  const errors: Array<{ msg: string; fields?: LogFields }> = [];
  const logger: Logger = { ...silentLogger, error: (msg, fields) => errors.push({ msg, fields }), child: () => logger };
  const second = await startObserveServer({ host: '127.0.0.1', port: first.address?.port ?? 0 }, routes, logger);
  assert.equal(second.address, null);
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.msg ?? '', /could not bind; the agent runs on without/);
  assert.equal(errors[0]?.fields?.hint, 'another program uses this port');
  await second.close();
});
