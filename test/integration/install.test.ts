/**
 * scripts/install.sh and scripts/uninstall.sh run for real into a temporary root (--destdir),
 * from this built checkout. Stand-ins for useradd, usermod, chown, chgrp and systemctl come
 * first on PATH and record any call: a --destdir run must touch nothing outside its root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { appendFile, chmod, lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AfterHook } from '../support/cleanup.js';
import { PROJECT_ROOT } from '../support/cli.js';
import { shippedNodeFlags } from '../support/node-flags.js';
import { makeTempDir } from '../support/temp.js';

const INSTALL = join(PROJECT_ROOT, 'scripts', 'install.sh');
const UNINSTALL = join(PROJECT_ROOT, 'scripts', 'uninstall.sh');
const EXAMPLE = join(PROJECT_ROOT, 'config', 'sensorgate.example.yaml');
const SYSTEM_COMMANDS = ['useradd', 'usermod', 'userdel', 'chown', 'chgrp', 'systemctl'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, cwd: PROJECT_ROOT }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Sandbox {
  root: string;
  /** Calls the stand-ins recorded, one per line. */
  calls(): Promise<string>;
  env: NodeJS.ProcessEnv;
  install(...args: string[]): Promise<Run>;
  uninstall(...args: string[]): Promise<Run>;
}

async function sandbox(t: AfterHook): Promise<Sandbox> {
  const dir = await makeTempDir('sg-install-', t);
  const root = join(dir, 'root');
  const fakeBin = join(dir, 'bin');
  const callLog = join(dir, 'calls.log');
  await mkdir(fakeBin);
  await writeFile(callLog, '');
  for (const name of SYSTEM_COMMANDS) {
    const path = join(fakeBin, name);
    await writeFile(path, `#!/bin/sh\necho "${name} $*" >> '${callLog}'\n`);
    await chmod(path, 0o755);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  delete env.DESTDIR;
  return {
    root,
    env,
    calls: () => readFile(callLog, 'utf8'),
    install: (...args) => run(INSTALL, ['--destdir', root, '--skip-npm', ...args], env),
    uninstall: (...args) => run(UNINSTALL, ['--destdir', root, ...args], env),
  };
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** The installed app needs its runtime dependencies; the checkout's serve (no network in tests). */
async function linkNodeModules(root: string): Promise<void> {
  await symlink(join(PROJECT_ROOT, 'node_modules'), join(root, 'opt/sensorgate/node_modules'));
}

void test('install into a temporary root: files, modes, config from the example, nothing done outside the root', { timeout: 120_000 }, async (t) => {
  const box = await sandbox(t);
  const r = await box.install();
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const app = join(box.root, 'opt/sensorgate');
  for (const file of ['package.json', 'package-lock.json', 'README.md', 'dist/src/cli.js', 'dist/src/agent.js', 'config/sensorgate.example.yaml', 'scripts/install.sh', 'scripts/uninstall.sh', 'scripts/systemd/sensorgate.service']) {
    assert.ok(existsSync(join(app, file)), `${file} installed`);
  }
  assert.equal(await mode(join(app, 'dist/src/cli.js')), 0o755);
  const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { scripts?: unknown; dependencies: Record<string, string> };
  assert.equal(pkg.scripts, undefined, 'no build scripts: `prepare` would run tsc during npm ci --omit=dev');
  assert.ok('level' in pkg.dependencies);

  assert.equal(await mode(join(box.root, 'var/lib/sensorgate')), 0o700);
  assert.equal(await mode(join(box.root, 'etc/sensorgate/sensorgate.yaml')), 0o640);
  assert.equal(await readFile(join(box.root, 'etc/sensorgate/sensorgate.yaml'), 'utf8'), await readFile(EXAMPLE, 'utf8'));
  assert.equal(await readlink(join(box.root, 'usr/local/bin/sensorgate')), '/opt/sensorgate/dist/src/cli.js');
  assert.ok(existsSync(join(box.root, 'etc/systemd/system/sensorgate.service')));

  assert.equal(await box.calls(), '', 'no useradd, chown or systemctl in a --destdir install');
  assert.match(r.stdout, /skipped \(--destdir\): useradd --system --user-group --home-dir \/var\/lib\/sensorgate --no-create-home --shell \/usr\/sbin\/nologin sensorgate/);
  assert.match(r.stdout, /skipped \(--destdir\): chown sensorgate:sensorgate \/var\/lib\/sensorgate/);
  assert.match(r.stdout, /systemctl enable --now sensorgate/);
  // Nothing else appeared in the root.
  assert.deepEqual((await readdir(box.root)).sort(), ['etc', 'opt', 'usr', 'var']);
});

void test('the installed CLI runs through its own first line (node flags kept): --version and check', { timeout: 60_000 }, async (t) => {
  const box = await sandbox(t);
  assert.equal((await box.install()).code, 0);
  await linkNodeModules(box.root);
  const cli = join(box.root, 'opt/sensorgate/dist/src/cli.js');
  // A `node` first on PATH that records its arguments: what `#!/usr/bin/env -S node ...` passes.
  const argLog = join(box.root, 'node-args.log');
  const wrapperDir = join(box.root, 'wrapper');
  await mkdir(wrapperDir);
  await writeFile(join(wrapperDir, 'node'), `#!/bin/sh\necho "$@" >> '${argLog}'\nexec '${process.execPath}' "$@"\n`);
  await chmod(join(wrapperDir, 'node'), 0o755);
  const env = { ...box.env, PATH: `${wrapperDir}:${box.env.PATH ?? ''}` };

  const version = await run(cli, ['--version'], env);
  assert.equal(version.code, 0, version.stderr);
  const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
  const flags = shippedNodeFlags(cli);
  assert.ok(flags.includes('--max-old-space-size=64'), `shipped flags: ${flags.join(' ')}`);
  assert.equal((await readFile(argLog, 'utf8')).split('\n')[0], [...flags, cli, '--version'].join(' '));

  const check = await run(cli, ['check', '--config', join(box.root, 'etc/sensorgate/sensorgate.yaml')], env);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /path: \/var\/lib\/sensorgate/);
});

function parseUnit(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key = '', value = ''] = match;
    directives.set(key, [...(directives.get(key) ?? []), value]);
  }
  return directives;
}

const groupExists = (name: string): boolean => spawnSync('getent', ['group', name]).status === 0;

void test('the unit: hardening and restart directives, paths for --prefix, only groups that exist, systemd-analyze verify', { timeout: 60_000 }, async (t) => {
  const box = await sandbox(t);
  const r = await box.install('--prefix', '/srv/sensorgate');
  assert.equal(r.code, 0, r.stderr);
  const unitPath = join(box.root, 'etc/systemd/system/sensorgate.service');
  const text = await readFile(unitPath, 'utf8');
  const unit = parseUnit(text);
  const one = (key: string): string | undefined => {
    const values = unit.get(key);
    assert.equal(values?.length, 1, `${key} given once: ${JSON.stringify(values)}`);
    return values?.[0];
  };
  // Through the script itself, so its first line's node flags apply (not `node cli.js`).
  assert.equal(one('ExecStart'), '/srv/sensorgate/dist/src/cli.js run --config /etc/sensorgate/sensorgate.yaml');
  assert.equal(existsSync(join(box.root, 'srv/sensorgate/dist/src/cli.js')), true);
  assert.doesNotMatch(text, /\/opt\/sensorgate/);
  const expected: Record<string, string> = {
    Type: 'simple',
    User: 'sensorgate',
    Restart: 'always',
    RestartSec: '5',
    KillSignal: 'SIGTERM',
    TimeoutStopSec: '15',
    StateDirectory: 'sensorgate',
    StateDirectoryMode: '0700',
    ConfigurationDirectory: 'sensorgate',
    ProtectSystem: 'strict',
    ProtectHome: 'true',
    PrivateTmp: 'true',
    NoNewPrivileges: 'true',
    ProtectKernelTunables: 'true',
    ProtectControlGroups: 'true',
    DevicePolicy: 'closed',
    RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
    Wants: 'network-online.target',
    WantedBy: 'multi-user.target',
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(one(key), value, key);
  assert.match(one('After') ?? '', /\bnetwork-online\.target\b/);
  assert.deepEqual(unit.get('DeviceAllow'), ['char-ttyUSB rw', 'char-ttyACM rw', 'char-ttyAMA rw', 'char-ttyS rw', 'char-gpiochip rw']);
  assert.equal(unit.has('MemoryDenyWriteExecute'), false, "V8's JIT needs W+X memory");
  const groups = ['dialout', 'gpio'].filter(groupExists);
  assert.deepEqual(unit.get('SupplementaryGroups') ?? [], groups.length === 0 ? [] : [groups.join(' ')]);
  assert.match(one('Environment') ?? '', /^PATH=(\S+:)?\/usr\/local\/bin:\/usr\/bin:\/bin$/);

  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  if (analyze === undefined) {
    t.diagnostic('systemd-analyze not installed: unit checked by parsing only');
    return;
  }
  // verify wants ExecStart to exist: point it at the copy in the temporary root.
  const verifyDir = join(box.root, 'verify');
  await mkdir(verifyDir);
  const copy = join(verifyDir, 'sensorgate.service');
  await writeFile(copy, text.replace('ExecStart=/srv/sensorgate/', `ExecStart=${box.root}/srv/sensorgate/`));
  const verify = await run(analyze, ['verify', '--man=no', copy]);
  assert.equal(verify.code, 0, verify.stderr);
  // Unknown keys and bad values are only warnings (exit code 0): none allowed.
  assert.equal(verify.stderr.trim(), '', verify.stderr);
});

void test('a second run upgrades in place: edited config kept, queue untouched, state dir back to 0700, old app files gone', { timeout: 120_000 }, async (t) => {
  const box = await sandbox(t);
  assert.equal((await box.install()).code, 0);
  await linkNodeModules(box.root);
  const config = join(box.root, 'etc/sensorgate/sensorgate.yaml');
  await appendFile(config, '# edited by the operator\n');
  const edited = await readFile(config, 'utf8');
  const state = join(box.root, 'var/lib/sensorgate');
  const queue = { 'CURRENT': 'MANIFEST-000004\n', '000005.log': Buffer.from([1, 2, 3, 250, 0, 7]), 'LOCK': '' };
  for (const [name, content] of Object.entries(queue)) await writeFile(join(state, name), content);
  await chmod(state, 0o755);
  await writeFile(join(box.root, 'opt/sensorgate/dist/src/left-over.js'), 'old');

  const again = await box.install();
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /keeping the existing config/);
  assert.equal(await readFile(config, 'utf8'), edited);
  for (const [name, content] of Object.entries(queue)) assert.deepEqual(await readFile(join(state, name)), Buffer.from(content), name);
  assert.equal(await mode(state), 0o700);
  assert.equal(existsSync(join(box.root, 'opt/sensorgate/dist/src/left-over.js')), false, 'the app is replaced, not overlaid');
  assert.ok((await lstat(join(box.root, 'opt/sensorgate/node_modules'))).isSymbolicLink(), '--skip-npm keeps the installed node_modules');
  assert.equal(existsSync(join(box.root, 'opt/sensorgate.new')) || existsSync(join(box.root, 'opt/sensorgate.old')), false);
  assert.equal(await box.calls(), '');
});

void test('uninstall keeps the config and the queue; --purge removes them', { timeout: 120_000 }, async (t) => {
  const box = await sandbox(t);
  assert.equal((await box.install()).code, 0);
  const queued = join(box.root, 'var/lib/sensorgate/000005.log');
  await writeFile(queued, 'queued readings');

  const keep = await box.uninstall();
  assert.equal(keep.code, 0, keep.stderr);
  assert.equal(existsSync(join(box.root, 'opt/sensorgate')), false);
  assert.equal(existsSync(join(box.root, 'etc/systemd/system/sensorgate.service')), false);
  assert.equal(existsSync(join(box.root, 'usr/local/bin/sensorgate')), false);
  assert.equal(await readFile(queued, 'utf8'), 'queued readings');
  assert.ok(existsSync(join(box.root, 'etc/sensorgate/sensorgate.yaml')));
  assert.match(keep.stdout, /kept \/etc\/sensorgate and the queue in \/var\/lib\/sensorgate \(remove them with --purge\)/);

  // Installing again carries on with the same queue.
  assert.equal((await box.install()).code, 0);
  assert.equal(await readFile(queued, 'utf8'), 'queued readings');

  const purge = await box.uninstall('--purge');
  assert.equal(purge.code, 0, purge.stderr);
  assert.equal(existsSync(join(box.root, 'var/lib/sensorgate')), false);
  assert.equal(existsSync(join(box.root, 'etc/sensorgate')), false);
  assert.match(purge.stdout, /skipped \(--destdir\): userdel sensorgate/);
  assert.equal(await box.calls(), '');
});

void test('Node.js older than 20, or none: refused with a clear message before anything is installed', { timeout: 60_000 }, async (t) => {
  const box = await sandbox(t);
  const fakeNode = join(box.root, '..', 'old-node');
  await mkdir(fakeNode);
  await writeFile(join(fakeNode, 'node'), '#!/bin/sh\necho v18.19.0\n');
  await chmod(join(fakeNode, 'node'), 0o755);
  const old = await run(INSTALL, ['--destdir', box.root, '--skip-npm'], { ...box.env, PATH: `${fakeNode}:${box.env.PATH ?? ''}` });
  assert.equal(old.code, 1);
  assert.match(old.stderr, /sensorgate needs Node\.js >= 20, but .*old-node\/node is v18\.19\.0\..*NodeSource/);
  assert.equal(existsSync(join(box.root, 'opt')), false);

  // No node at all: a PATH with only the tools the script needs before its Node check.
  const tools = join(box.root, '..', 'tools');
  await mkdir(tools);
  for (const tool of ['mkdir', 'dirname', 'uname', 'id', 'sed']) {
    const found = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (found !== undefined) await symlink(found, join(tools, tool));
  }
  const none = await run('/bin/bash', [INSTALL, '--destdir', box.root, '--skip-npm'], { ...box.env, PATH: tools });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /Node\.js not found on PATH\. sensorgate needs Node\.js >= 20/);
  assert.equal(existsSync(join(box.root, 'opt')), false);
});

void test('usage errors: unknown option, relative prefix, not root without --destdir', { timeout: 60_000 }, async (t) => {
  const box = await sandbox(t);
  for (const script of [INSTALL, UNINSTALL]) {
    const unknown = await run(script, ['--frobnicate'], box.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown option: --frobnicate/);
    const help = await run(script, ['--help'], box.env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--destdir DIR/);
    assert.doesNotMatch(help.stdout, /^#/m);
  }
  const relative = await run(INSTALL, ['--destdir', box.root, '--prefix', 'opt/sg'], box.env);
  assert.match(relative.stderr, /--prefix must be an absolute path/);
  if (process.getuid?.() === 0 && existsSync('/usr/bin/setpriv')) {
    for (const script of [INSTALL, UNINSTALL]) {
      const asNobody = await run('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', script], box.env);
      assert.equal(asNobody.code, 1, asNobody.stderr);
      assert.match(asNobody.stderr, /run as root \(sudo .*\), or use --destdir DIR/);
    }
    assert.equal(await box.calls(), '');
  }
});

void test('shellcheck: every script in scripts/ and .ci/run', { timeout: 60_000 }, async (t) => {
  const shellcheck = spawnSync('sh', ['-c', 'command -v shellcheck']).stdout.toString().trim();
  if (shellcheck === '') {
    t.skip('shellcheck is not installed (CI installs it)');
    return;
  }
  const scripts = (await readdir(join(PROJECT_ROOT, 'scripts'))).filter((f) => f.endsWith('.sh')).map((f) => join(PROJECT_ROOT, 'scripts', f));
  assert.ok(scripts.length >= 2, scripts.join(' '));
  const r = await run(shellcheck, [...scripts, join(PROJECT_ROOT, '.ci', 'run')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});
