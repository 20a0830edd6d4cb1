/**
 * Command lines for the libgpiod tools. The v1 and v2 tools take different arguments:
 *
 *   v1: gpiomon [--bias=B] --line-buffered --format=FMT CHIP LINE     gpioget [--bias=B] CHIP LINE
 *   v2: gpiomon --chip CHIP [--bias B] [--debounce-period P] --format FMT LINE
 *       gpioget --chip CHIP [--bias B] LINE
 *
 * v1 block-buffers its output into a pipe unless told --line-buffered; v2 flushes after every
 * poll. v1's bias values say `disable` where v2's say `disabled`, and v1 has --bias only from
 * 1.5 on. Only v2 can ask the kernel to debounce. Both edges are always watched: the debouncer
 * needs the level, and the counter picks its edges after debouncing.
 */
import type { GpioBias } from '../../config/sources/gpio.js';

export type ToolMajor = 1 | 2;

export interface LineRequest {
  chip: string;
  line: number;
  bias: GpioBias;
  debounceMs: number;
}

const CONSUMER = 'sensorgate';

function biasArgs(major: ToolMajor, bias: GpioBias): string[] {
  if (bias === 'as-is') return [];
  if (major === 1) return [`--bias=${bias === 'disabled' ? 'disable' : bias}`];
  return ['--bias', bias];
}

/** Arguments for gpiomon; its output is parsed by `parseMonitorLine`. */
export function monitorArgs(major: ToolMajor, request: LineRequest): string[] {
  if (major === 1) return [...biasArgs(1, request.bias), '--line-buffered', '--format=%e %s %n', request.chip, String(request.line)];
  return [
    '--consumer',
    CONSUMER,
    '--chip',
    request.chip,
    ...biasArgs(2, request.bias),
    ...(request.debounceMs > 0 ? ['--debounce-period', `${Math.round(request.debounceMs * 1_000)}us`] : []),
    '--format',
    '%e %S',
    String(request.line),
  ];
}

/** Arguments for gpioget; its output is parsed by `parseGetOutput`. */
export function getArgs(major: ToolMajor, request: LineRequest): string[] {
  if (major === 1) return [...biasArgs(1, request.bias), request.chip, String(request.line)];
  return ['--consumer', CONSUMER, '--chip', request.chip, ...biasArgs(2, request.bias), String(request.line)];
}
