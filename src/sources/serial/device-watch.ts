/**
 * A safety net for an unplug the port itself does not report: while a port is open, its path
 * is checked every few seconds. When the path is gone, or now names a different device (a
 * /dev/serial/by-id link pointing elsewhere, a new device node), the port we hold is dead or
 * the wrong one, whatever the binding says. One stat per check, following the link.
 */
import { stat } from 'node:fs/promises';

export const DEVICE_CHECK_INTERVAL_MS = 2_000;

/** What a device node is, as far as stat can tell: the node (dev, ino) and the device it stands for (rdev). */
interface DeviceIdentity {
  dev: number;
  ino: number;
  rdev: number;
}

/** `gone`: the path (or the link's target) does not exist; undefined: stat failed otherwise, no verdict. */
async function identify(path: string): Promise<DeviceIdentity | 'gone' | undefined> {
  try {
    const { dev, ino, rdev } = await stat(path);
    return { dev, ino, rdev };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'gone' : undefined;
  }
}

/**
 * Takes the identity of what `path` names now, then checks it every `intervalMs`. Calls
 * `onLost` once, with why, when the path is gone or names something else; then stops. The
 * returned function stops it (safe to call any time, also after onLost).
 */
export function watchDevicePath(path: string, intervalMs: number, onLost: (reason: Error) => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let opened: DeviceIdentity | undefined;
  const check = async (): Promise<void> => {
    const now = await identify(path);
    if (stopped) return;
    if (now === 'gone') return lost(`serial device path ${path} is gone`);
    if (now !== undefined) {
      opened ??= now;
      if (now.rdev !== opened.rdev || now.ino !== opened.ino || now.dev !== opened.dev) return lost(`serial device path ${path} now names a different device`);
    }
    // One check at a time: the next is scheduled after this one, so a slow stat cannot pile up checks.
    timer = setTimeout(() => void check(), intervalMs);
    timer.unref();
  };
  const lost = (message: string): void => {
    stopped = true;
    onLost(Object.assign(new Error(message), { disconnect: true }));
  };
  void check();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
