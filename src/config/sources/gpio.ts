/**
 * `type: gpio`: one digital input line, reported on change and/or sampled (mode: input), or a
 * pulse counter (mode: counter). Built by a function for the reason given in publish.ts.
 */
import { resolve } from 'node:path';
import * as z from 'zod';
import { duration, integer, nonEmptyString, sourceName } from '../schema.js';
import type { SchemaContext } from '../schema.js';
import { sourcePublishSchema } from './publish.js';
import type { SourcePublishConfig } from './publish.js';

export type GpioBackendChoice = 'auto' | 'chardev' | 'sysfs';
export type GpioBias = 'as-is' | 'pull-up' | 'pull-down' | 'disabled';
export type GpioEdge = 'rising' | 'falling' | 'both';
export type RatePer = 'second' | 'minute' | 'hour';

export interface GpioSourceConfig {
  type: 'gpio';
  name: string;
  mode: 'input' | 'counter';
  /** Character device chip: `gpiochip0`, `0` or `/dev/gpiochip0`. */
  chip: string;
  /** Line offset on the chip. */
  line: number;
  backend: GpioBackendChoice;
  bias: GpioBias;
  /** The line reads 1 when it is low (a switch to ground with a pull-up). */
  activeLow: boolean;
  /** A level counts once it has held this long; 0 turns debouncing off. */
  debounceMs: number;
  /** input: the field that carries the level. */
  field: string;
  /** input: a reading on every (debounced) change. */
  onChange: boolean;
  /** input: also a reading this often, changed or not. */
  sampleMs?: number;
  /** counter: which edges are pulses. */
  edge: GpioEdge;
  /** counter: a reading this often. */
  intervalMs: number;
  ratePer: RatePer;
  /** counter: units per pulse (0.2794 mm per tip of a rain gauge). */
  scale?: number;
  unit?: string;
  /** sysfs backend: the gpio class directory (tests point it at a fixture tree). */
  sysfsRoot: string;
  /** sysfs backend: the global GPIO number; default `line` plus the lowest chip base under sysfsRoot. */
  sysfsNumber?: number;
  /** sysfs backend: how often the value file is read. */
  pollIntervalMs: number;
  publish?: SourcePublishConfig;
}

export const DEFAULT_GPIO_CHIP = 'gpiochip0';
export const DEFAULT_GPIO_DEBOUNCE_MS = 10;
export const DEFAULT_GPIO_FIELD = 'state';
export const DEFAULT_GPIO_COUNTER_INTERVAL_MS = 60_000;
export const DEFAULT_GPIO_EDGE: GpioEdge = 'rising';
export const DEFAULT_GPIO_RATE_PER: RatePer = 'second';
export const DEFAULT_GPIO_SYSFS_ROOT = '/sys/class/gpio';
/** A 100 ms rain-gauge pulse is seen 10 times; idle CPU is in the README (scripts/bench/gpio-idle-cpu.ts). */
export const DEFAULT_GPIO_POLL_INTERVAL_MS = 10;

const MODE_KEYS = {
  input: ['field', 'onChange', 'sample'],
  counter: ['edge', 'interval', 'ratePer', 'scale', 'unit'],
} as const;

const FIELD_NAME = /^[A-Za-z0-9_.-]+$/;
const LINE_HINT = 'must be a line offset (a whole number from 0)';

export function gpioSourceSchema(context: SchemaContext) {
  return z
    .strictObject({
      type: z.literal('gpio'),
      name: sourceName,
      mode: z.enum(['input', 'counter']).default('input'),
      chip: nonEmptyString()
        .refine((chip) => !chip.startsWith('-'), { error: 'must not start with - (it is passed to gpiomon/gpioget)' })
        .default(DEFAULT_GPIO_CHIP),
      line: z
        .number({ error: (issue) => (issue.input === undefined ? 'is required (the line offset on the chip: 17 for GPIO17 on a Pi)' : LINE_HINT) })
        .int({ error: LINE_HINT })
        .min(0, { error: LINE_HINT })
        .max(65_535, { error: 'must be at most 65535' }),
      backend: z.enum(['auto', 'chardev', 'sysfs']).default('auto'),
      bias: z.enum(['as-is', 'pull-up', 'pull-down', 'disabled']).default('as-is'),
      activeLow: z.boolean().default(false),
      // Capped low: `debounce: 10` is 10 seconds (plain numbers are seconds), surely meant as 10ms.
      debounce: duration({ max: 1_000, message: 'must be at most 1s (a plain number means seconds: write 20ms)' }).default(DEFAULT_GPIO_DEBOUNCE_MS),
      field: z.string().regex(FIELD_NAME, { error: 'must use only letters, digits, _ . and -' }).optional(),
      onChange: z.boolean().optional(),
      sample: duration({ min: 1 }).optional(),
      edge: z.enum(['rising', 'falling', 'both']).optional(),
      interval: duration({ min: 1 }).optional(),
      ratePer: z.enum(['second', 'minute', 'hour']).optional(),
      scale: z
        .number({ error: 'must be a number (units per pulse)' })
        .refine((n) => Number.isFinite(n) && n !== 0, { error: 'must be a number other than 0' })
        .optional(),
      unit: z.string().min(1, { error: 'must not be empty' }).max(32, { error: 'must be at most 32 characters' }).optional(),
      sysfsRoot: nonEmptyString().optional(),
      sysfsNumber: integer(0, 1_000_000, 'must be a GPIO number (a whole number from 0)').optional(),
      pollInterval: duration({ min: 1, max: 1_000, message: 'must be between 1ms and 1s (a plain number means seconds: write 5ms)' }).optional(),
      publish: sourcePublishSchema().optional(),
    })
    .superRefine((gpio, ctx) => {
      const other = gpio.mode === 'input' ? 'counter' : 'input';
      for (const key of MODE_KEYS[other]) {
        if (gpio[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `is only for mode: ${other} (this source is mode: ${gpio.mode})` });
      }
      if (gpio.mode === 'input' && gpio.onChange === false && gpio.sample === undefined) {
        ctx.addIssue({ code: 'custom', path: ['sample'], message: 'is required when onChange is false (otherwise nothing is ever reported)' });
      }
      if (gpio.unit !== undefined && gpio.scale === undefined) ctx.addIssue({ code: 'custom', path: ['unit'], message: 'needs scale (the unit is of the scaled values)' });
      if (gpio.backend === 'chardev') {
        for (const key of ['sysfsRoot', 'sysfsNumber', 'pollInterval'] as const) {
          if (gpio[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is only for the sysfs backend (backend is chardev)' });
        }
      }
      if (gpio.backend === 'sysfs' && gpio.bias !== 'as-is') {
        ctx.addIssue({ code: 'custom', path: ['bias'], message: 'cannot be set through sysfs: use backend chardev (libgpiod tools) or set it with dtoverlay/raspi-gpio' });
      }
    })
    .transform(
      (gpio): GpioSourceConfig => ({
        type: gpio.type,
        name: gpio.name,
        mode: gpio.mode,
        chip: gpio.chip,
        line: gpio.line,
        backend: gpio.backend,
        bias: gpio.bias,
        activeLow: gpio.activeLow,
        debounceMs: gpio.debounce,
        field: gpio.field ?? DEFAULT_GPIO_FIELD,
        onChange: gpio.onChange ?? true,
        ...(gpio.sample !== undefined && { sampleMs: gpio.sample }),
        edge: gpio.edge ?? DEFAULT_GPIO_EDGE,
        intervalMs: gpio.interval ?? DEFAULT_GPIO_COUNTER_INTERVAL_MS,
        ratePer: gpio.ratePer ?? DEFAULT_GPIO_RATE_PER,
        ...(gpio.scale !== undefined && { scale: gpio.scale }),
        ...(gpio.unit !== undefined && { unit: gpio.unit }),
        sysfsRoot: resolve(context.baseDir, gpio.sysfsRoot ?? DEFAULT_GPIO_SYSFS_ROOT),
        ...(gpio.sysfsNumber !== undefined && { sysfsNumber: gpio.sysfsNumber }),
        pollIntervalMs: gpio.pollInterval ?? DEFAULT_GPIO_POLL_INTERVAL_MS,
        ...(gpio.publish !== undefined && { publish: gpio.publish }),
      }),
    );
}
