/**
 * Security checks on a loaded config that are warnings, not errors: files holding secrets that
 * other users can read, files other users can change, a store directory open to others, and
 * TLS with verification switched off. The agent still runs (a gateway that refuses to start
 * over a chmod would lose readings); `run` logs each warning and `check` prints it.
 */
import { readFile, stat } from 'node:fs/promises';
import type { AgentConfig } from './types.js';

export interface SecurityWarning {
  message: string;
  /** The file or directory concerned, when there is one. */
  path?: string;
}

export interface Identity {
  /** The group the agent runs as: a file group-readable by this group only is fine (0640 root:sensorgate). */
  gid: number;
}

interface CheckedFile {
  path: string;
  /** What the file is, for the message: "the config file", "mqtt.tls.key". */
  what: string;
  /** Holds a secret: nobody else may read it. Otherwise only writing by others is a problem. */
  secret: boolean;
}

const OTHER_READ = 0o004;
const OTHER_WRITE = 0o002;
const GROUP_READ = 0o040;
const GROUP_WRITE = 0o020;

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

async function groupNames(): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  try {
    for (const line of (await readFile('/etc/group', 'utf8')).split('\n')) {
      const [name, , gid] = line.split(':');
      if (name && gid !== undefined && /^\d+$/.test(gid)) names.set(Number(gid), name);
    }
  } catch {
    // No /etc/group (a container, a test root): groups are shown by number.
  }
  return names;
}

async function modeOf(path: string): Promise<{ mode: number; gid: number; isDirectory: boolean } | undefined> {
  try {
    const st = await stat(path);
    return { mode: st.mode & 0o777, gid: st.gid, isDirectory: st.isDirectory() };
  } catch {
    // Missing or unreadable: the config loader reports what matters; nothing to warn about here.
    return undefined;
  }
}

function filesOf(config: AgentConfig, configPath: string): CheckedFile[] {
  const { mqtt } = config;
  const files: CheckedFile[] = [{ path: configPath, what: 'the config file', secret: mqtt.passwordSource === 'config' }];
  if (mqtt.passwordFile !== undefined) files.push({ path: mqtt.passwordFile, what: 'mqtt.passwordFile', secret: true });
  if (mqtt.protocol === 'mqtts') {
    if (mqtt.tls.key !== undefined) files.push({ path: mqtt.tls.key, what: 'mqtt.tls.key (the client private key)', secret: true });
    if (mqtt.tls.cert !== undefined) files.push({ path: mqtt.tls.cert, what: 'mqtt.tls.cert', secret: false });
    if (mqtt.tls.ca !== undefined) files.push({ path: mqtt.tls.ca, what: 'mqtt.tls.ca (the CAs trusted to vouch for the broker)', secret: false });
  }
  return files;
}

export async function securityWarnings(
  config: AgentConfig,
  configPath: string,
  identity: Identity = { gid: process.getegid?.() ?? 0 },
): Promise<SecurityWarning[]> {
  const warnings: SecurityWarning[] = [];
  const { mqtt } = config;
  if (mqtt.protocol === 'mqtts' && !mqtt.tls.rejectUnauthorized) {
    warnings.push({
      message:
        'INSECURE: mqtt.tls.rejectUnauthorized is false, so the broker certificate is not verified: anyone on the network path can pose as the broker and read the password and every reading. Use it only for testing; set mqtt.tls.ca to the CA that signed the broker certificate instead',
    });
  }

  const groups = await groupNames();
  const groupName = (gid: number): string => groups.get(gid) ?? `gid ${gid}`;
  const seen = new Set<string>();
  for (const file of filesOf(config, configPath)) {
    if (seen.has(file.path)) continue;
    seen.add(file.path);
    const st = await modeOf(file.path);
    if (st === undefined) continue;
    const foreignGroup = st.gid !== identity.gid;
    const fix = `fix: chmod ${file.secret ? '600' : '644'} ${file.path} (or chmod 640 with the file's group set to the group the agent runs as)`;
    const readers: string[] = [];
    if (file.secret && st.mode & OTHER_READ) readers.push('every user on this machine');
    if (file.secret && st.mode & GROUP_READ && foreignGroup) readers.push(`group ${groupName(st.gid)}`);
    if (readers.length > 0) {
      const holds = file.path === configPath ? ', which holds mqtt.password,' : '';
      warnings.push({ path: file.path, message: `${file.what} ${file.path}${holds} is readable by ${readers.join(' and ')} (mode ${octal(st.mode)}); ${fix}` });
      continue;
    }
    const writers: string[] = [];
    if (st.mode & OTHER_WRITE) writers.push('every user on this machine');
    if (st.mode & GROUP_WRITE && foreignGroup) writers.push(`group ${groupName(st.gid)}`);
    if (writers.length > 0) {
      warnings.push({ path: file.path, message: `${file.what} ${file.path} can be changed by ${writers.join(' and ')} (mode ${octal(st.mode)}); ${fix}` });
    }
  }

  // A store created by the agent is 0700; an existing one may have been made by hand.
  const store = await modeOf(config.store.path);
  if (store?.isDirectory === true && (store.mode & 0o077) !== 0) {
    warnings.push({
      path: config.store.path,
      message: `the store directory ${config.store.path} is open to other users (mode ${octal(store.mode)}): they can read the queued readings; fix: chmod 700 ${config.store.path}`,
    });
  }
  return warnings;
}
