/**
 * TLS and mutual TLS through the real CLI against mosquitto TLS listeners, with certificates
 * made by openssl for this run (test/support/tls.ts). Readings are read back on the broker's
 * plain listener. Plus the transport on its own against a node TLS server, for what mosquitto
 * cannot show: the SNI name sent, and plain-words errors for unusable certificate files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { openTransport, TransportError } from '../../src/transport/socket.js';
import type { TransportOptions } from '../../src/transport/socket.js';
import { startBroker } from '../support/broker.js';
import type { Broker } from '../support/broker.js';
import type { AfterHook } from '../support/cleanup.js';
import { runCli } from '../support/cli.js';
import type { AgentProcess, LogLine } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { startSubscriber } from '../support/subscriber.js';
import { makeTestPki, mosquittoTlsListener } from '../support/tls.js';
import type { TestPki, TlsListener } from '../support/tls.js';
import { agentFixture, logMsg, waitForAllSeqs } from './harness.js';

let pkiOnce: Promise<TestPki> | undefined;
/** One PKI for the file (openssl takes a moment); its temp dir goes at process exit. */
const pki = (): Promise<TestPki> => (pkiOnce ??= makeTestPki());

async function tlsBroker(t: AfterHook, listeners: ReadonlyArray<Omit<TlsListener, 'port'>>): Promise<{ broker: Broker; ports: number[] }> {
  const ports: number[] = [];
  for (let i = 0; i < listeners.length; i++) ports.push(await freePort());
  const extraConfig = listeners.map((l, i) => mosquittoTlsListener({ ...l, port: ports[i] ?? 0 })).join('\n');
  const broker = await startBroker({ t, verbose: false, extraConfig });
  return { broker, ports };
}

/** The agent's warn lines for failed dials whose error matches. */
function dialFailures(agent: AgentProcess, pattern: RegExp): LogLine[] {
  return agent.lines.filter((l) => l.json?.level === 'warn' && l.json.msg === 'cannot reach broker' && pattern.test(String(l.json.err)));
}

function lostBeforeConnack(agent: AgentProcess, pattern: RegExp): LogLine[] {
  return agent.lines.filter((l) => l.json?.msg === 'connection lost before CONNACK' && pattern.test(String(l.json.reason)));
}

async function waitForCount(what: () => number, n: number, timeoutMs: number, description: string, agent: AgentProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (what() < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} × ${description} (saw ${what()})\n${agent.output()}`);
    if (!agent.running) throw new Error(`agent exited while waiting for ${description}\n${agent.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

void test('server verification with the right CA: connects by IP (127.0.0.1) and by name (localhost) and delivers', { timeout: 60_000 }, async (t) => {
  const p = await pki();
  const { broker, ports } = await tlsBroker(t, [{ server: p.server }]);
  const byIp = await agentFixture({ url: `mqtts://127.0.0.1:${ports[0]}`, count: 20, mqtt: { tls: { ca: p.ca } }, t });
  const byName = await agentFixture({ url: `mqtts://localhost:${ports[0]}`, count: 20, mqtt: { tls: { ca: p.ca } }, t });
  const sub = await startSubscriber({ url: broker.url, topic: [byIp.dataTopic, byName.dataTopic], t });
  const agents = [byIp.start(), byName.start()];
  await waitForAllSeqs(sub, byIp.dataTopic, 20, 20_000);
  await waitForAllSeqs(sub, byName.dataTopic, 20, 20_000);
  for (const agent of agents) {
    assert.equal(agent.lines.filter((l) => l.json?.level === 'warn').length, 0, agent.output());
    assert.equal(await agent.stop('SIGTERM', 15_000), 0);
  }
});

void test('wrong CA: a clear error naming mqtt.tls.ca, retries with backoff, no crash; fixing the CA file reconnects without a restart and loses nothing', { timeout: 90_000 }, async (t) => {
  const p = await pki();
  const { broker, ports } = await tlsBroker(t, [{ server: p.server }]);
  const fx = await agentFixture({ url: `mqtts://127.0.0.1:${ports[0]}`, count: 30, minDelay: '100ms', maxDelay: '400ms', mqtt: { tls: { ca: 'broker-ca.pem' } }, t });
  await copyFile(p.otherCa, join(fx.dir, 'broker-ca.pem'));
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
  const agent = fx.start();

  const verifyFailed = /certificate verify failed .*not signed by a CA we trust; check mqtt\.tls\.ca/;
  await waitForCount(() => dialFailures(agent, verifyFailed).length, 3, 20_000, 'CA verify failure', agent);
  await agent.waitForLog(logMsg('simulated source finished'), 10_000);
  assert.ok(agent.running);
  assert.equal(sub.messages.length, 0, 'nothing reached the broker through an unverified connection');
  // Between failures the client waits its backoff; nothing else is logged as an error.
  assert.ok(agent.lines.some((l) => l.json?.msg === 'reconnecting' && typeof l.json.inMs === 'number'));
  assert.equal(agent.lines.filter((l) => l.json?.level === 'error').length, 0, agent.output());

  // Certificate files are read on every dial: the fix applies without a restart.
  await copyFile(p.ca, join(fx.dir, 'broker-ca.pem'));
  await agent.waitForLog(logMsg('connected to broker'), 15_000);
  await waitForAllSeqs(sub, fx.dataTopic, 30, 20_000);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);
});

void test('expired server certificate: a clear error that mentions the clock, retries, no crash, clean stop', { timeout: 60_000 }, async (t) => {
  const p = await pki();
  const { ports } = await tlsBroker(t, [{ server: p.expiredServer }]);
  const fx = await agentFixture({ url: `mqtts://127.0.0.1:${ports[0]}`, count: 5, minDelay: '100ms', maxDelay: '400ms', mqtt: { tls: { ca: p.ca } }, t });
  const agent = fx.start();
  await waitForCount(() => dialFailures(agent, /^CERT_HAS_EXPIRED: .*has expired, or this device's clock is wrong/).length, 3, 20_000, 'expired certificate', agent);
  assert.ok(agent.running);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);
});

void test('mutual TLS: with the client certificate it delivers; without one, or with one the broker does not trust, a clear refusal and retries', { timeout: 90_000 }, async (t) => {
  const p = await pki();
  const { broker, ports } = await tlsBroker(t, [{ server: p.server, ca: p.ca, requireCertificate: true }]);
  const url = `mqtts://127.0.0.1:${ports[0]}`;
  const timing = { minDelay: '100ms', maxDelay: '400ms', t };
  const withCert = await agentFixture({ url, count: 20, mqtt: { tls: { ca: p.ca, cert: p.client.cert, key: p.client.key } }, ...timing });
  const without = await agentFixture({ url, count: 5, mqtt: { tls: { ca: p.ca } }, ...timing });
  const stranger = await agentFixture({ url, count: 5, mqtt: { tls: { ca: p.ca, cert: p.strangerClient.cert, key: p.strangerClient.key } }, ...timing });
  const sub = await startSubscriber({ url: broker.url, topic: [withCert.dataTopic, without.dataTopic, stranger.dataTopic], t });
  const [good, none, wrong] = [withCert.start(), without.start(), stranger.start()];

  await waitForAllSeqs(sub, withCert.dataTopic, 20, 20_000);
  // TLS 1.3: the broker's refusal arrives after our side of the handshake, as a socket error.
  const required = /requires a client certificate: set mqtt\.tls\.cert and mqtt\.tls\.key \(mutual TLS\)/;
  await waitForCount(() => lostBeforeConnack(none, required).length + dialFailures(none, required).length, 3, 20_000, 'client certificate required', none);
  const rejected = /rejected our client certificate \(unknown ca\)/;
  await waitForCount(() => lostBeforeConnack(wrong, rejected).length + dialFailures(wrong, rejected).length, 3, 20_000, 'client certificate rejected', wrong);
  assert.ok(none.running && wrong.running);
  assert.ok(sub.messages.every((m) => m.topic === withCert.dataTopic), 'only the agent with a trusted certificate got through');
  for (const agent of [good, none, wrong]) assert.equal(await agent.stop('SIGTERM', 15_000), 0);
});

void test('rejectUnauthorized: false connects without verification and says once, at warn, that it is insecure; check says so too', { timeout: 60_000 }, async (t) => {
  const p = await pki();
  const { broker, ports } = await tlsBroker(t, [{ server: p.server }]);
  // The other CA: with verification this could not connect (the wrong-CA test shows it).
  const fx = await agentFixture({ url: `mqtts://127.0.0.1:${ports[0]}`, count: 10, mqtt: { tls: { ca: p.otherCa, rejectUnauthorized: false } }, t });
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
  const agent = fx.start();
  await waitForAllSeqs(sub, fx.dataTopic, 10, 20_000);
  const insecure = agent.lines.filter((l) => typeof l.json?.msg === 'string' && l.json.msg.includes('INSECURE'));
  assert.equal(insecure.length, 1, agent.output());
  assert.equal(insecure[0]?.json?.level, 'warn');
  assert.match(String(insecure[0]?.json?.msg), /rejectUnauthorized is false.*not verified/);
  assert.equal(await agent.stop('SIGTERM', 15_000), 0);

  const check = await runCli(['check', '--config', fx.configPath]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stderr, /^sensorgate: warning: INSECURE: mqtt\.tls\.rejectUnauthorized is false/m);
});

// ---------------------------------------------------------------------------------------------
// The transport alone, against a node TLS server

async function tlsServer(t: AfterHook, pair: { cert: string; key: string }): Promise<{ port: number; servernames: Array<string | false | null> }> {
  const { readFile } = await import('node:fs/promises');
  const servernames: Array<string | false | null> = [];
  const server = tls.createServer({ cert: await readFile(pair.cert), key: await readFile(pair.key) }, (socket) => {
    servernames.push(socket.servername);
    socket.end();
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, servernames };
}

function transport(port: number, host: string, files: { ca?: string; cert?: string; key?: string }): TransportOptions {
  return { protocol: 'mqtts', host, port, connectTimeoutMs: 5_000, tls: { ...files, rejectUnauthorized: true } };
}

async function dialError(options: TransportOptions): Promise<TransportError> {
  const err = await openTransport(options).then(
    (socket) => {
      socket.destroy();
      return undefined;
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof TransportError, `expected a TransportError, got ${String(err)}`);
  return err;
}

void test('SNI: the host name is sent as servername; an IP address is not', { timeout: 30_000 }, async (t) => {
  const p = await pki();
  const server = await tlsServer(t, p.server);
  for (const host of ['localhost', '127.0.0.1']) {
    const socket = await openTransport(transport(server.port, host, { ca: p.ca }));
    await new Promise((resolve) => socket.once('close', resolve));
  }
  assert.deepEqual(server.servernames, ['localhost', false]);
});

void test('unusable TLS settings fail the dial with plain words, never a crash', { timeout: 30_000 }, async (t) => {
  const p = await pki();
  const server = await tlsServer(t, p.wrongNameServer);
  const name = await dialError(transport(server.port, '127.0.0.1', { ca: p.ca }));
  assert.equal(name.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.match(name.message, /not issued for 127\.0\.0\.1 .*the host in mqtt\.url must be a name the certificate lists/);

  const mismatch = await dialError(transport(server.port, '127.0.0.1', { ca: p.ca, cert: p.client.cert, key: p.strangerClient.key }));
  assert.match(mismatch.message, /mqtt\.tls\.key is not the private key of the certificate in mqtt\.tls\.cert/);

  const notPem = join(p.dir, 'not-a-certificate.pem');
  await writeFile(notPem, 'hello\n');
  const garbage = await dialError(transport(server.port, '127.0.0.1', { ca: p.ca, cert: notPem, key: p.client.key }));
  assert.match(garbage.message, /not a valid PEM certificate or key/);

  const missing = await dialError(transport(server.port, '127.0.0.1', { ca: join(p.dir, 'gone.pem') }));
  assert.match(missing.message, /cannot read mqtt\.tls\.ca .*gone\.pem \(ENOENT\)/);

  // TLS spoken to a port that answers in plain text.
  const broker = await startBroker({ t, verbose: false });
  const plain = await dialError(transport(broker.port, '127.0.0.1', { ca: p.ca }));
  assert.match(plain.message, /closed the connection during the TLS handshake .*is the port in mqtt\.url a TLS port/);
});
