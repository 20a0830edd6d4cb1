/**
 * `sensorgate ports` (the real CLI): works without udevadm, reads /dev/serial/by-id and sysfs
 * from a fixture tree the way it reads the real ones, and skips what is not a serial port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCli } from '../support/cli.js';
import { makeTempDir } from '../support/temp.js';

const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

async function file(path: string, text = ''): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

async function link(path: string, target: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await symlink(target, path);
}

/**
 * A Pi-like tree: an FTDI adapter (ttyUSB0), an Arduino (ttyACM0), the Pi's UART (ttyAMA0), a
 * real 8250 UART (ttyS0), an empty 8250 slot (ttyS1), a virtual tty, and a stale by-id link.
 */
async function fixture(root: string): Promise<void> {
  const dev = join(root, 'dev');
  const sys = join(root, 'sys');
  for (const name of ['ttyUSB0', 'ttyACM0', 'ttyAMA0', 'ttyS0', 'ttyS1', 'tty0', 'ttyUSB1']) await file(join(dev, name));
  await link(join(dev, 'serial', 'by-id', 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0'), '../../ttyUSB0');
  await link(join(dev, 'serial', 'by-id', 'usb-Arduino__www.arduino.cc__0043_75833353035351F0F0B1-if00'), '../../ttyACM0');
  await link(join(dev, 'serial', 'by-id', 'usb-Prolific_PL2303-if00-port0'), '../../ttyUSB7'); // unplugged: stale

  const usb1 = join(sys, 'devices', 'platform', 'scb', 'usb1', '1-1');
  await file(join(usb1, 'idVendor'), '0403\n');
  await file(join(usb1, 'idProduct'), '6001\n');
  await file(join(usb1, 'manufacturer'), 'FTDI\n');
  await file(join(usb1, 'product'), 'FT232R USB UART\n');
  await file(join(usb1, 'serial'), 'A50285BI\n');
  await mkdir(join(usb1, '1-1:1.0', 'ttyUSB0'), { recursive: true });
  await mkdir(join(sys, 'bus', 'usb-serial', 'drivers', 'ftdi_sio'), { recursive: true });
  await link(join(usb1, '1-1:1.0', 'ttyUSB0', 'driver'), '../../../../../../../bus/usb-serial/drivers/ftdi_sio');
  await link(join(sys, 'class', 'tty', 'ttyUSB0', 'device'), '../../../devices/platform/scb/usb1/1-1/1-1:1.0/ttyUSB0');

  const usb2 = join(sys, 'devices', 'platform', 'scb', 'usb1', '1-2');
  await file(join(usb2, 'idVendor'), '2341\n');
  await file(join(usb2, 'idProduct'), '0043\n');
  await mkdir(join(usb2, '1-2:1.0'), { recursive: true });
  await link(join(sys, 'class', 'tty', 'ttyACM0', 'device'), '../../../devices/platform/scb/usb1/1-2/1-2:1.0');

  await mkdir(join(sys, 'devices', 'platform', 'fe201000.serial'), { recursive: true });
  await link(join(sys, 'class', 'tty', 'ttyAMA0', 'device'), '../../../devices/platform/fe201000.serial');

  await file(join(sys, 'class', 'tty', 'ttyS0', 'type'), '4\n');
  await mkdir(join(sys, 'devices', 'pnp0', '00:01'), { recursive: true });
  await link(join(sys, 'class', 'tty', 'ttyS0', 'device'), '../../../devices/pnp0/00:01');
  await file(join(sys, 'class', 'tty', 'ttyS1', 'type'), '0\n');
  await link(join(sys, 'class', 'tty', 'ttyS1', 'device'), '../../../devices/pnp0/00:01');

  // ttyUSB1 is in /dev but sysfs has no device behind it: a leftover node, not a port.
  await mkdir(join(sys, 'class', 'tty', 'ttyUSB1'), { recursive: true });
  await mkdir(join(sys, 'class', 'tty', 'tty0'), { recursive: true });
}

void test('ports: by-id names and USB details from the tree; virtual ttys, empty UART slots and stale links skipped', { timeout: 30_000 }, async (t) => {
  const root = await makeTempDir('ports', t);
  await fixture(root);
  const emptyPath = await makeTempDir('no-udevadm', t);
  const r = await runCli(['ports'], { env: { SENSORGATE_PORTS_ROOT: root, PATH: emptyPath } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const dev = join(root, 'dev');
  assert.equal(
    r.stdout,
    [
      `${dev}/ttyACM0  2341:0043`,
      `  ${dev}/serial/by-id/usb-Arduino__www.arduino.cc__0043_75833353035351F0F0B1-if00`,
      `${dev}/ttyAMA0`,
      `${dev}/ttyS0`,
      `${dev}/ttyUSB0  0403:6001, FTDI FT232R USB UART, serial A50285BI, driver ftdi_sio`,
      `  ${dev}/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0`,
      '',
      `Put the ${dev}/serial/by-id/... name in sources[].path: it stays the same when the device is replugged.`,
      '',
    ].join('\n'),
  );
});

void test('ports: an empty tree says where it looked; the real machine works without udevadm', { timeout: 30_000 }, async (t) => {
  const root = await makeTempDir('ports-empty', t);
  const emptyPath = await makeTempDir('no-udevadm', t);
  const empty = await runCli(['ports'], { env: { SENSORGATE_PORTS_ROOT: root, PATH: emptyPath } });
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^No serial ports found \(looked at .*\/dev\/serial\/by-id\/\*, .*\/dev\/ttyUSB\*/);

  // The real /dev and /sys, with no udevadm on the PATH (SerialPort.list() fails there: spawn udevadm ENOENT).
  const real = await runCli(['ports'], { env: { SENSORGATE_PORTS_ROOT: undefined, PATH: emptyPath } });
  assert.equal(real.code, 0, real.stderr);
  assert.equal(real.stderr, '');
  assert.doesNotMatch(real.stdout, STACK_FRAME);
  assert.ok(real.stdout.length > 0);
});
