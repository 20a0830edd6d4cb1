/** Temporary directories that are removed even when a test fails. */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCleanup, type AfterHook } from './cleanup.js';

// SENSORGATE_KEEP_TMP=1 keeps directories so a failed run's broker db / logs can be inspected.
const keep = process.env.SENSORGATE_KEEP_TMP === '1';
const pending = new Set<string>();
let exitHookInstalled = false;

export async function makeTempDir(prefix: string, t?: AfterHook): Promise<string> {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  const dir = await mkdtemp(join(tmpdir(), `sensorgate-${safe}-`));
  pending.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      if (keep) return;
      for (const d of pending) rmSync(d, { recursive: true, force: true });
    });
  }
  registerCleanup(t, () => removeTempDir(dir));
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  pending.delete(dir);
  if (keep) return;
  // Retries cover a child (broker, agent) that is still closing files as it exits.
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}
