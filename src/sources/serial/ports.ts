/**
 * `sensorgate ports`: the serial ports of this machine, with their stable /dev/serial/by-id
 * names and USB vendor/product where known.
 *
 * Read straight from /dev and sysfs. node-serialport's `SerialPort.list()` spawns `udevadm`,
 * which minimal images and containers lack (it then fails with `spawn udevadm ENOENT`); udev
 * reads the same sysfs attributes we read here.
 */
import { access, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface SerialPortEntry {
  /** /dev/ttyUSB0 */
  path: string;
  /** /dev/serial/by-id/... links to it: the names to put in a config, stable across replugs. */
  byId: string[];
  /** Kernel driver (ftdi_sio, cp210x, cdc_acm, pl2303, serial8250, uart-pl011, ...). */
  driver?: string;
  /** USB ids, 4 hex digits each. */
  vendorId?: string;
  productId?: string;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  /** Whether this process may open it for reading and writing. */
  accessible: boolean;
}

/** Device names that are serial ports (by-id links add whatever they point to). */
const PORT_NAME = /^tty(USB|ACM|AMA|S)\d+$/;
/** How far up from the tty's sysfs device to look for the USB device's attributes. */
const USB_ANCESTOR_LEVELS = 5;
/** serial-base port → ctrl → UART. */
const SERIAL_BASE_LEVELS = 2;
/** 8250 `type` 0: the kernel probed no UART there (most ttyS* on a PC). */
const NO_UART = '0';

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** by-id link → the device path it points to (relative links resolved). */
async function byIdLinks(devDir: string): Promise<Map<string, string[]>> {
  const byIdDir = join(devDir, 'serial', 'by-id');
  const links = new Map<string, string[]>();
  for (const name of (await list(byIdDir)).sort()) {
    const link = join(byIdDir, name);
    let target: string;
    try {
      target = resolve(dirname(link), await readlink(link));
    } catch {
      continue; // not a link, or gone meanwhile
    }
    links.set(target, [...(links.get(target) ?? []), link]);
  }
  return links;
}

type UsbInfo = Pick<SerialPortEntry, 'vendorId' | 'productId' | 'manufacturer' | 'product' | 'serialNumber'>;

/** The USB device's attributes, from the nearest ancestor of the tty's device that has idVendor. */
async function usbInfo(deviceDir: string): Promise<UsbInfo> {
  let dir = deviceDir;
  for (let level = 0; level <= USB_ANCESTOR_LEVELS; level++) {
    const vendorId = await readText(join(dir, 'idVendor'));
    if (vendorId !== undefined) {
      const info: UsbInfo = { vendorId };
      const fields = [
        ['productId', 'idProduct'],
        ['manufacturer', 'manufacturer'],
        ['product', 'product'],
        ['serialNumber', 'serial'],
      ] as const;
      for (const [key, file] of fields) {
        const value = await readText(join(dir, file));
        if (value !== undefined && value !== '') info[key] = value;
      }
      return info;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return {};
}

/**
 * What sysfs says about a tty: `undefined` when it is not real hardware (no `device`, or an
 * 8250 slot without a UART); `{}` when sysfs has nothing on it (no sysfs, e.g. in some containers).
 */
async function sysfsInfo(sysClassTty: string, name: string): Promise<Omit<SerialPortEntry, 'path' | 'byId' | 'accessible'> | undefined> {
  const ttyDir = join(sysClassTty, name);
  if (!(await exists(ttyDir))) return {};
  let deviceDir: string;
  try {
    deviceDir = await realpath(join(ttyDir, 'device'));
  } catch {
    return undefined; // virtual tty (console, pty, ...)
  }
  if ((await readText(join(ttyDir, 'type'))) === NO_UART) return undefined;
  const driver = await driverOf(deviceDir);
  return { ...(driver !== undefined && { driver }), ...(await usbInfo(deviceDir)) };
}

/** Newer kernels put generic serial-base `port`/`ctrl` devices between the tty and the UART: name the UART's driver. */
async function driverOf(deviceDir: string): Promise<string | undefined> {
  let dir = deviceDir;
  for (let level = 0; level <= SERIAL_BASE_LEVELS; level++) {
    try {
      const driver = await realpath(join(dir, 'driver'));
      if (!driver.includes('/bus/serial-base/')) return basename(driver);
    } catch {
      return undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * Serial ports under `root` (default `/`): /dev/ttyUSB*, ttyACM*, ttyAMA*, ttyS* that are real
 * hardware, plus whatever /dev/serial/by-id points to. Never throws for a missing or unreadable
 * directory: it just finds less.
 */
export async function listSerialPorts(root = '/'): Promise<SerialPortEntry[]> {
  const devDir = join(root, 'dev');
  const sysClassTty = join(root, 'sys', 'class', 'tty');
  const links = await byIdLinks(devDir);
  const candidates = new Set<string>([...(await list(devDir)).filter((name) => PORT_NAME.test(name)).map((name) => join(devDir, name)), ...links.keys()]);
  const entries: SerialPortEntry[] = [];
  for (const path of candidates) {
    if (!(await exists(path))) continue; // a by-id link left behind by an unplug
    const byId = links.get(path) ?? [];
    const info = await sysfsInfo(sysClassTty, basename(path));
    if (info === undefined && byId.length === 0) continue;
    let accessible = true;
    try {
      await access(path, constants.R_OK | constants.W_OK);
    } catch {
      accessible = false;
    }
    entries.push({ path, byId, ...info, accessible });
  }
  return entries.sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
}

/** One block per port, for people. */
export function formatPortList(entries: readonly SerialPortEntry[], root = '/'): string {
  const devDir = join(root, 'dev');
  if (entries.length === 0) {
    const looked = ['serial/by-id/*', 'ttyUSB*', 'ttyACM*', 'ttyAMA*', 'ttyS*'].map((p) => join(devDir, p)).join(', ');
    return `No serial ports found (looked at ${looked}).\n`;
  }
  const lines: string[] = [];
  for (const entry of entries) {
    const usb = entry.vendorId === undefined ? undefined : `${entry.vendorId}:${entry.productId ?? '????'}`;
    const name = [entry.manufacturer, entry.product].filter((part) => part !== undefined).join(' ');
    const details = [
      usb,
      name === '' ? undefined : name,
      entry.serialNumber === undefined ? undefined : `serial ${entry.serialNumber}`,
      entry.driver === undefined ? undefined : `driver ${entry.driver}`,
      entry.accessible ? undefined : 'no read/write permission: add the user to the dialout group',
    ].filter((part) => part !== undefined);
    lines.push(details.length === 0 ? entry.path : `${entry.path}  ${details.join(', ')}`);
    for (const link of entry.byId) lines.push(`  ${link}`);
  }
  const hint = entries.some((e) => e.byId.length > 0)
    ? `\nPut the ${join(devDir, 'serial', 'by-id')}/... name in sources[].path: it stays the same when the device is replugged.\n`
    : '';
  return `${lines.join('\n')}\n${hint}`;
}
