/**
 * Cleanup plumbing shared by the support helpers. Helpers accept an optional node:test
 * context so a failing assertion still tears down brokers, proxies and child processes.
 */
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';

/** The part of a node:test context the helpers need; a plain `{ after }` works too. */
export type AfterHook = Pick<TestContext, 'after'>;

export function registerCleanup(t: AfterHook | undefined, fn: () => Promise<void> | void): void {
  t?.after(async () => {
    await fn();
  });
}

// Last line of defence: if a test run dies without its after-hooks (uncaught error,
// process.exit), no broker or agent may outlive it and hold a port on the CI host.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // Already gone; nothing to do at exit time.
        }
      }
    });
  }
}
