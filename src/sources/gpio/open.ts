/**
 * Picks how to reach a GPIO line: the character device through the libgpiod tools when they are
 * on the PATH, else the sysfs interface when it exists, else a clear error. `backend` in the
 * config forces one.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { GpioSourceConfig } from '../../config/sources/gpio.js';
import type { Logger } from '../../observe/logger.js';
import { ChardevLine, findTools, toolVersion } from './chardev.js';
import type { GpioLine } from './line.js';
import { SysfsLine } from './sysfs.js';

export type GpioLineConfig = Pick<
  GpioSourceConfig,
  'chip' | 'line' | 'backend' | 'bias' | 'debounceMs' | 'sysfsRoot' | 'sysfsNumber' | 'pollIntervalMs'
>;

const NO_TOOLS = 'gpiomon and gpioget were not found on the PATH (install the libgpiod tools: apt install gpiod)';

export async function openGpioLine(config: GpioLineConfig, logger: Logger, path = process.env.PATH): Promise<GpioLine> {
  const useSysfs = (): GpioLine =>
    new SysfsLine({ root: config.sysfsRoot, line: config.line, pollIntervalMs: config.pollIntervalMs, ...(config.sysfsNumber !== undefined && { number: config.sysfsNumber }) });

  if (config.backend === 'sysfs') return useSysfs();
  const tools = await findTools(path);
  if (tools === undefined) {
    if (config.backend === 'chardev') throw new Error(NO_TOOLS);
    const sysfs = await access(config.sysfsRoot, constants.F_OK).then(() => true, () => false);
    if (!sysfs) throw new Error(`no way to reach GPIO: ${NO_TOOLS}, and ${config.sysfsRoot} does not exist`);
    if (config.bias !== 'as-is') logger.warn('gpio bias is ignored: the sysfs backend cannot set it (install the gpiod package to use the character device)', { bias: config.bias });
    return useSysfs();
  }
  const { major, version } = await toolVersion(tools.gpiomon);
  return new ChardevLine(tools, major, version, { chip: config.chip, line: config.line, bias: config.bias, debounceMs: config.debounceMs }, logger);
}
