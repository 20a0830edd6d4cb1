/**
 * A source's own `publish` section: overrides of the global publish defaults (topic, qos, retain,
 * mode) and the deadband that saves data on metered links. Shared by every source type.
 *
 * The schema is built by a function, when a config is parsed: this module and schema.ts import
 * each other, and schema.ts's helpers exist only once it has run.
 */
import * as z from 'zod';
import type { QoS } from '../../mqtt/store.js';
import type { PublishMode } from '../../pipeline/pipeline.js';
import { duration, PUBLISH_TOPIC_PLACEHOLDERS, topicTemplate } from '../schema.js';

export interface DeadbandConfig {
  /** Every numeric field (`deadband: 0.5`). */
  all?: number;
  /** Per field (`deadband: {temperature: 0.2, humidity: 1}`). */
  fields?: Record<string, number>;
}

export interface SourcePublishConfig {
  topic?: string;
  qos?: QoS;
  retain?: boolean;
  mode?: PublishMode;
  deadband?: DeadbandConfig;
  /** With deadband: publish a held-back field anyway this long after it last was. */
  maxIntervalMs?: number;
}

const DEADBAND_HINT = 'must be a number >= 0 (for every numeric field) or a mapping of field name to number >= 0';

function deadbandValue() {
  return z.number({ error: DEADBAND_HINT }).refine((n) => Number.isFinite(n) && n >= 0, { error: 'must be a number >= 0' });
}

export function sourcePublishSchema() {
  return z
    .strictObject({
      topic: topicTemplate(PUBLISH_TOPIC_PLACEHOLDERS).optional(),
      qos: z.literal([0, 1, 2], { error: 'must be 0, 1 or 2' }).optional(),
      retain: z.boolean().optional(),
      mode: z.enum(['reading', 'field']).optional(),
      deadband: z.union([deadbandValue(), z.record(z.string().min(1, { error: 'field names must not be empty' }), deadbandValue())], { error: DEADBAND_HINT }).optional(),
      maxInterval: duration({ min: 1 }).optional(),
    })
    .superRefine((publish, ctx) => {
      if (publish.maxInterval !== undefined && publish.deadband === undefined) {
        ctx.addIssue({ code: 'custom', path: ['maxInterval'], message: 'needs deadband (without a deadband every reading is published anyway)' });
      }
    })
    .transform(
      (publish): SourcePublishConfig => ({
        ...(publish.topic !== undefined && { topic: publish.topic }),
        ...(publish.qos !== undefined && { qos: publish.qos }),
        ...(publish.retain !== undefined && { retain: publish.retain }),
        ...(publish.mode !== undefined && { mode: publish.mode }),
        ...(publish.deadband !== undefined && { deadband: typeof publish.deadband === 'number' ? { all: publish.deadband } : { fields: publish.deadband } }),
        ...(publish.maxInterval !== undefined && { maxIntervalMs: publish.maxInterval }),
      }),
    );
}
