/**
 * The real CLI and file modes: secrets other users can read are warned about with the fix, the
 * store directory is private, the password has no command-line flag and reaches no log line
 * in either log format, and the text format is what a terminal gets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI_PATH, PROJECT_ROOT, runAgent, runCli, writeConfig } from '../support/cli.js';
import { startBroker } from '../support/broker.js';
import { trackChild } from '../support/cleanup.js';
import { freePort } from '../support/ports.js';
import { startSubscriber } from '../support/subscriber.js';
import { makeTempDir } from '../support/temp.js';
import { agentFixture, logMsg, waitForAllSeqs } from './harness.js';
import { sleep } from '../support/wait.js';

const isRoot = process.getuid?.() === 0;

async function secretFile(dir: string, name: string, text: string, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

void test('check warns, naming the file and the fix, when a file holding a secret is readable by other users', { timeout: 30_000 }, async (t) => {
  const dir = await makeTempDir('sg-perm-', t);
  const key = await secretFile(dir, 'client.key', 'not really a key\n', 0o644);
  const cert = await secretFile(dir, 'client.pem', 'not really a cert\n', 0o644);
  const ca = await secretFile(dir, 'ca.pem', 'not really a CA\n', 0o666);
  const passwordFile = await secretFile(dir, 'mqtt-password', 'pw-from-file\n', 0o604);
  const withFile = await writeConfig(dir, { device: { id: 'gw' }, mqtt: { url: 'mqtts://broker.example', passwordFile, tls: { ca, cert, key } } }, { name: 'files.yaml' });
  await chmod(withFile, 0o644);

  const r = await runCli(['check', '--config', withFile]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('sensorgate: warning: '));
  assert.equal(warnings.length, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`mqtt\\.passwordFile ${passwordFile} is readable by every user on this machine \\(mode 0604\\); fix: chmod 600 ${passwordFile}`));
  assert.match(r.stderr, new RegExp(`mqtt\\.tls\\.key \\(the client private key\\) ${key} is readable by every user on this machine \\(mode 0644\\); fix: chmod 600 ${key}`));
  assert.match(r.stderr, new RegExp(`mqtt\\.tls\\.ca .* ${ca} can be changed by every user on this machine \\(mode 0666\\); fix: chmod 644 ${ca}`));
  // A public certificate and a config file without a password may be readable by anyone.
  assert.doesNotMatch(r.stderr, /client\.pem|files\.yaml/);

  // Inline password: now the config file itself is the secret.
  const inline = await writeConfig(dir, { device: { id: 'gw' }, mqtt: { url: 'mqtt://broker.example', password: 'inline-pw' } }, { name: 'inline.yaml' });
  await chmod(inline, 0o644);
  const loose = await runCli(['check', '--config', inline]);
  assert.equal(loose.code, 0, loose.stderr);
  assert.match(loose.stderr, new RegExp(`the config file ${inline}, which holds mqtt.password, is readable by every user on this machine \\(mode 0644\\); fix: chmod 600 ${inline}`));
  await chmod(inline, 0o600);
  const tight = await runCli(['check', '--config', inline]);
  assert.equal(tight.code, 0, tight.stderr);
  assert.equal(tight.stderr, '');
  assert.doesNotMatch(loose.stdout + loose.stderr, /inline-pw/);
});

void test('group-readable is fine for the group the agent runs as, and warned about for any other group', { timeout: 30_000, skip: !isRoot && 'needs root to chown' }, async (t) => {
  const dir = await makeTempDir('sg-perm-', t);
  const passwordFile = await secretFile(dir, 'mqtt-password', 'pw\n', 0o640);
  const config = await writeConfig(dir, { device: { id: 'gw' }, mqtt: { url: 'mqtt://broker.example', passwordFile } });
  await chmod(config, 0o600);
  await chown(passwordFile, 0, process.getegid?.() ?? 0);
  const own = await runCli(['check', '--config', config]);
  assert.equal(own.stderr, '');
  const stranger = 54_321;
  await chown(passwordFile, 0, stranger);
  const foreign = await runCli(['check', '--config', config]);
  assert.match(foreign.stderr, new RegExp(`mqtt\\.passwordFile ${passwordFile} is readable by group gid ${stranger} \\(mode 0640\\); fix: chmod 600`));
});

void test('run logs the same warnings at warn level, and warns about an existing store directory open to others', { timeout: 30_000 }, async (t) => {
  const dir = await makeTempDir('sg-perm-', t);
  const store = join(dir, 'store');
  await mkdir(store, { mode: 0o755 });
  await chmod(store, 0o755);
  const passwordFile = await secretFile(dir, 'mqtt-password', 'pw\n', 0o644);
  const config = await writeConfig(dir, {
    device: { id: 'gw' },
    mqtt: { url: `mqtt://127.0.0.1:${await freePort()}`, passwordFile },
    store: { path: store },
    log: { level: 'info' },
  });
  const agent = runAgent({ configPath: config, t });
  const storeWarning = await agent.waitForLog(logMsg(`the store directory ${store} is open to other users (mode 0755)`), 10_000);
  assert.equal(storeWarning.json?.level, 'warn');
  assert.equal(storeWarning.json?.path, store);
  assert.match(String(storeWarning.json?.msg), new RegExp(`fix: chmod 700 ${store}$`));
  const fileWarning = await agent.waitForLog(logMsg(`mqtt.passwordFile ${passwordFile} is readable by every user`), 10_000);
  assert.equal(fileWarning.json?.level, 'warn');
  await agent.waitForLog(logMsg('store opened'), 10_000);
  assert.equal(await agent.stop('SIGTERM', 10_000), 0);
});

void test('a new store directory is created 0700 even under umask 000', { timeout: 30_000 }, async (t) => {
  const dir = await makeTempDir('sg-perm-', t);
  const store = join(dir, 'nested', 'store');
  const config = await writeConfig(dir, { device: { id: 'gw' }, mqtt: { url: `mqtt://127.0.0.1:${await freePort()}` }, store: { path: store } });
  // The CLI behind a umask that would leave a plain mkdir world-writable.
  const entry = join(dir, 'umask-000.mjs');
  await writeFile(entry, `process.umask(0);\nawait import(${JSON.stringify(new URL(`file://${CLI_PATH}`).href)});\n`);
  const agent = runAgent({ configPath: config, entry, t });
  await agent.waitForLog(logMsg('store opened'), 10_000);
  assert.equal((await stat(store)).mode & 0o777, 0o700);
  assert.equal(await agent.stop('SIGTERM', 10_000), 0);
});

void test('the password has no command-line flag', { timeout: 30_000 }, async () => {
  const help = await runCli(['--help']);
  assert.doesNotMatch(help.stdout, /--pass/i);
  for (const flag of ['--password', '--password-file', '-p']) {
    const r = await runCli(['run', flag, 'hunter2', '--config', 'x.yaml']);
    assert.equal(r.code, 2, `${flag}: ${r.stderr}`);
    assert.match(r.stderr, /Unknown option/);
  }
});

void test('the password reaches no log line, in JSON or text, even where it appears inside another logged value', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const password = 'pw-Zq81-secret';
  for (const format of ['json', 'text'] as const) {
    const fx = await agentFixture({ url: broker.url, count: 10, t, mqtt: { username: 'gw', passwordFile: 'mqtt-password' } });
    await secretFile(fx.dir, 'mqtt-password', `${password}\n`, 0o600);
    // The store path is logged at start ("store opened path=..."): here it contains the password.
    const config = await writeConfig(fx.dir, {
      device: { id: fx.deviceId },
      mqtt: { url: broker.url, username: 'gw', passwordFile: 'mqtt-password', reconnect: { minDelay: '100ms', maxDelay: '1s' } },
      store: { path: join(fx.dir, `store-${password}`) },
      sources: [{ type: 'simulated', name: 'sim', interval: '0ms', count: 10 }],
      log: { level: 'debug', format },
    });
    const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
    const agent = runAgent({ configPath: config, t });
    await waitForAllSeqs(sub, fx.dataTopic, 10, 20_000);
    assert.equal(await agent.stop('SIGTERM', 10_000), 0);
    const out = agent.output();
    assert.ok(out.includes('store-********'), `${format}: the store path is logged, masked\n${out}`);
    assert.equal(out.includes(password), false, `${format}: ${out}`);
    if (format === 'text') assert.match(out, /^\d\d:\d\d:\d\d INFO {2}connected to broker broker=127\.0\.0\.1:\d+ sessionPresent=(true|false) /m);
    else assert.ok(agent.lines.every((l) => l.json !== undefined), `every line is JSON:\n${out}`);
  }
});

void test('log.format auto: text lines on a terminal (run under script(1), a real pty)', { timeout: 30_000 }, async (t) => {
  const script = await import('node:fs').then((fs) => ['/usr/bin/script', '/bin/script'].find((p) => fs.existsSync(p)));
  if (script === undefined) {
    t.skip('script(1) from util-linux is not installed');
    return;
  }
  const dir = await makeTempDir('sg-tty-', t);
  const config = await writeConfig(dir, { device: { id: 'gw' }, mqtt: { url: `mqtt://127.0.0.1:${await freePort()}` }, store: { path: join(dir, 'store') } });
  const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_PATH)} run --config ${JSON.stringify(config)}`;
  const child = spawn(script, ['-qfec', command, '/dev/null'], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  trackChild(child);
  const kill = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  t.after(kill);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const deadline = Date.now() + 15_000;
  while (!/cannot reach broker/.test(out) && Date.now() < deadline) await sleep(50);
  kill();
  assert.match(out, /^\d\d:\d\d:\d\d INFO {2}store opened path=\S+ messages=0 bytes=0 device=gw\r?$/m, out);
  assert.match(out, /^\d\d:\d\d:\d\d WARN {2}cannot reach broker broker=127\.0\.0\.1:\d+ err="ECONNREFUSED: /m, out);
  assert.doesNotMatch(out, /^\{/m);
});

void test('a closed stdout (EPIPE) does not stop delivery', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const fx = await agentFixture({ url: broker.url, interval: '20ms', t });
  const sub = await startSubscriber({ url: broker.url, topic: fx.dataTopic, t });
  // `head -c 1` reads one byte and exits: every later log line meets a closed pipe.
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_PATH)} run --config ${JSON.stringify(fx.configPath)} | head -c 1 >/dev/null`;
  const child = spawn('sh', ['-c', command], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  trackChild(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  t.after(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  await sub.waitForCount(5, 15_000, fx.dataTopic);
  const before = sub.messages.length;
  await sleep(1_500);
  assert.ok(sub.messages.length > before + 20, `readings kept flowing after the log pipe closed (${before} → ${sub.messages.length})\n${stderr}`);
  assert.doesNotMatch(stderr, /unexpected error/);
});
