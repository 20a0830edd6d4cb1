/**
 * `type: onewire`: DS18B20 temperature probes through the kernel's w1 sysfs tree. Built by a
 * function for the reason given in publish.ts.
 */
import { resolve } from 'node:path';
import * as z from 'zod';
import { duration, nonEmptyString, sourceName } from '../schema.js';
import type { SchemaContext } from '../schema.js';
import { sourcePublishSchema } from './publish.js';
import type { SourcePublishConfig } from './publish.js';

export interface OneWireProbeConfig {
  /** Kernel device id: `28-0316a2791dff`. */
  id: string;
  /** The reading's field for this probe (default: the id). */
  name: string;
}

export interface OneWireSourceConfig {
  type: 'onewire';
  name: string;
  intervalMs: number;
  /** The w1 devices directory (tests point it at a fixture tree). */
  baseDir: string;
  /** Absent: every `28-*` probe found at each reading. */
  probes?: OneWireProbeConfig[];
  publish?: SourcePublishConfig;
}

export const DEFAULT_ONEWIRE_INTERVAL_MS = 30_000;
export const DEFAULT_ONEWIRE_BASE_DIR = '/sys/bus/w1/devices';

/** Families the kernel's w1_therm driver reads with the same w1_slave format: DS18S20, DS1822, DS18B20, DS1825, DS28EA00. */
const PROBE_ID = /^(10|22|28|3b|42)-[0-9a-f]{12}$/i;
const FIELD_NAME = /^[A-Za-z0-9_.-]+$/;

const probeSchema = () =>
  z.strictObject({
    id: z.string().regex(PROBE_ID, { error: 'must be a w1 device id like 28-0316a2791dff (see ls /sys/bus/w1/devices)' }),
    name: z.string().regex(FIELD_NAME, { error: 'must use only letters, digits, _ . and - (it is a field name and may be a topic level)' }).optional(),
  });

export function oneWireSourceSchema(context: SchemaContext) {
  return z
    .strictObject({
      type: z.literal('onewire'),
      name: sourceName,
      interval: duration({ min: 1_000, message: 'must be at least 1s (a DS18B20 takes 0.75 s per reading)' }).default(DEFAULT_ONEWIRE_INTERVAL_MS),
      baseDir: nonEmptyString().optional(),
      probes: z.array(probeSchema()).min(1, { error: 'must list at least one probe (leave it out to use every probe found)' }).optional(),
      publish: sourcePublishSchema().optional(),
    })
    .superRefine((onewire, ctx) => {
      const ids = new Set<string>();
      const names = new Set<string>();
      onewire.probes?.forEach((probe, i) => {
        const id = probe.id.toLowerCase();
        const name = probe.name ?? probe.id;
        if (ids.has(id)) ctx.addIssue({ code: 'custom', path: ['probes', i, 'id'], message: `duplicate probe id ${probe.id}` });
        if (names.has(name)) ctx.addIssue({ code: 'custom', path: ['probes', i, 'name'], message: `duplicate probe name ${name}` });
        ids.add(id);
        names.add(name);
      });
    })
    .transform(
      (onewire): OneWireSourceConfig => ({
        type: onewire.type,
        name: onewire.name,
        intervalMs: onewire.interval,
        baseDir: resolve(context.baseDir, onewire.baseDir ?? DEFAULT_ONEWIRE_BASE_DIR),
        ...(onewire.probes !== undefined && { probes: onewire.probes.map((p) => ({ id: p.id.toLowerCase(), name: p.name ?? p.id.toLowerCase() })) }),
        ...(onewire.publish !== undefined && { publish: onewire.publish }),
      }),
    );
}
