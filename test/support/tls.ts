/**
 * A throwaway PKI made with the openssl command line, for TLS tests against a real broker:
 * a CA, a server certificate for localhost and 127.0.0.1, a client certificate signed by the
 * CA, an unrelated second CA (with a client certificate of its own), and an expired server
 * certificate. OpenSSL 3.0's `x509` cannot back-date a certificate, so the expired one is made
 * with `openssl ca -startdate/-enddate`.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AfterHook } from './cleanup.js';
import { makeTempDir } from './temp.js';

const run = promisify(execFile);
const OPENSSL_TIMEOUT_MS = 20_000;

export interface KeyPair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The CA that signed server, expiredServer and client. */
  ca: string;
  /** A CA that signed nothing the broker presents. */
  otherCa: string;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1, valid now. */
  server: KeyPair;
  /** Same names, valid only in January 2020. */
  expiredServer: KeyPair;
  /** Signed by `ca`. */
  client: KeyPair;
  /** Signed by `otherCa`: a broker trusting `ca` rejects it. */
  strangerClient: KeyPair;
  /** Signed by `ca` but only for elsewhere.invalid: a client dialling 127.0.0.1 or localhost rejects it. */
  wrongNameServer: KeyPair;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir, timeout: OPENSSL_TIMEOUT_MS });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

/** Serial numbers for certificates a CA signs here (two certificates with one serial confuse OpenSSL). */
let serial = 1;
/** P-256 keys: fast to make, and what AWS IoT and most brokers accept. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function selfSignedCa(dir: string, name: string): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  await openssl(dir, ['req', '-x509', ...NEW_KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '30', '-subj', `/CN=${name}`]);
  return pair;
}

async function request(dir: string, name: string, cn: string): Promise<{ csr: string; key: string }> {
  const files = { csr: join(dir, `${name}.csr`), key: join(dir, `${name}.key`) };
  await openssl(dir, ['req', ...NEW_KEY, '-keyout', files.key, '-out', files.csr, '-subj', `/CN=${cn}`]);
  return files;
}

async function sign(dir: string, ca: KeyPair, name: string, csr: string, extensions: string): Promise<string> {
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, `${extensions}\n`);
  await openssl(dir, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(++serial), '-out', cert, '-days', '30', '-extfile', extFile]);
  return cert;
}

const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth';

async function expiredCertificate(dir: string, ca: KeyPair, csr: string): Promise<string> {
  const db = join(dir, 'ca-db');
  await mkdir(db, { recursive: true });
  await writeFile(join(db, 'index.txt'), '');
  await writeFile(join(db, 'serial'), '1000\n');
  const config = join(dir, 'ca.cnf');
  await writeFile(
    config,
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `database = ${join(db, 'index.txt')}`,
      `new_certs_dir = ${db}`,
      `serial = ${join(db, 'serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '[server_ext]',
      SERVER_EXT,
      '',
    ].join('\n'),
  );
  const cert = join(dir, 'expired-server.pem');
  await openssl(dir, [
    'ca', '-batch', '-config', config, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert,
    '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extensions', 'server_ext', '-notext',
  ]);
  return cert;
}

export async function makeTestPki(t?: AfterHook): Promise<TestPki> {
  const dir = await makeTempDir('pki', t);
  const ca = await selfSignedCa(dir, 'ca');
  const other = await selfSignedCa(dir, 'other-ca');
  const serverReq = await request(dir, 'server', 'localhost');
  const server = { cert: await sign(dir, ca, 'server', serverReq.csr, SERVER_EXT), key: serverReq.key };
  const expiredServer = { cert: await expiredCertificate(dir, ca, serverReq.csr), key: serverReq.key };
  const clientReq = await request(dir, 'client', 'sensorgate-test-client');
  const client = { cert: await sign(dir, ca, 'client', clientReq.csr, CLIENT_EXT), key: clientReq.key };
  const strangerReq = await request(dir, 'stranger', 'stranger');
  const strangerClient = { cert: await sign(dir, other, 'stranger', strangerReq.csr, CLIENT_EXT), key: strangerReq.key };
  const wrongNameReq = await request(dir, 'wrong-name', 'elsewhere.invalid');
  const wrongNameServer = { cert: await sign(dir, ca, 'wrong-name', wrongNameReq.csr, 'subjectAltName=DNS:elsewhere.invalid'), key: wrongNameReq.key };
  return { dir, ca: ca.cert, otherCa: other.cert, server, expiredServer, client, strangerClient, wrongNameServer };
}

export interface TlsListener {
  port: number;
  server: KeyPair;
  /** CA to verify client certificates with; needed for requireCertificate. */
  ca?: string;
  requireCertificate?: boolean;
}

/** mosquitto config lines for one more TLS listener (pass to startBroker's extraConfig). */
export function mosquittoTlsListener(listener: TlsListener): string {
  const lines = [`listener ${listener.port} 127.0.0.1`, `certfile ${listener.server.cert}`, `keyfile ${listener.server.key}`];
  if (listener.ca !== undefined) lines.push(`cafile ${listener.ca}`);
  if (listener.requireCertificate === true) lines.push('require_certificate true');
  return lines.join('\n');
}
