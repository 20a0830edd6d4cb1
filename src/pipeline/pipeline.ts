/**
 * Shapes readings into MQTT messages. Pure: same reading and rule, same messages.
 *
 * Two modes: `reading` (one JSON object per reading, the default) and `field` (one message per
 * field, its payload the plain value: what Home Assistant's MQTT sensors and Node-RED flows read
 * without a JSON template).
 */
import type { Message, QoS } from '../outbox/outbox.js';
import type { FieldValue, Reading } from './reading.js';
import { expandTopic } from './topic.js';

export type PublishMode = 'reading' | 'field';

export interface PublishRule {
  device: string;
  /** Template with {device} and {source}, and {field} in field mode (checked when the config is loaded). */
  topic: string;
  qos: QoS;
  retain: boolean;
  /** Default `reading`. */
  mode?: PublishMode;
}

/** One JSON object per reading: `{"ts": <epoch ms>, ...fields}`. */
export function encodeReading(reading: Reading): Buffer {
  return Buffer.from(JSON.stringify({ ts: reading.ts, ...reading.fields }));
}

/** A field's plain payload: a number as JSON writes it (21.5), true/false, or the string itself. */
export function encodeFieldValue(value: FieldValue): Buffer {
  return Buffer.from(typeof value === 'string' ? value : String(value));
}

/** Why `topic` cannot be published to, or undefined. Field names are only known at run time. */
export function runtimeTopicProblem(topic: string): string | undefined {
  if (topic === '') return 'is empty';
  if (/[+#]/.test(topic) || topic.includes('\u0000')) return 'contains + # or NUL';
  if (/[\uD800-\uDFFF]/u.test(topic)) return 'is not valid UTF-8 (lone surrogate)';
  if (Buffer.byteLength(topic, 'utf8') > 65_535) return 'is longer than 65535 bytes';
  return undefined;
}

export interface FieldTopicError {
  field: string;
  topic: string;
  problem: string;
}

/**
 * The messages for one reading. In field mode, a field whose name makes an unusable topic (a `+`
 * in a parsed serial field name, say) yields no message; it is reported through `onBadField`.
 */
export function readingToMessages(reading: Reading, rule: PublishRule, onBadField?: (error: FieldTopicError) => void): Message[] {
  const base = { device: rule.device, source: reading.source };
  if ((rule.mode ?? 'reading') === 'reading') {
    return [{ topic: expandTopic(rule.topic, base), payload: encodeReading(reading), qos: rule.qos, retain: rule.retain }];
  }
  const messages: Message[] = [];
  for (const [field, value] of Object.entries(reading.fields)) {
    const topic = expandTopic(rule.topic, { ...base, field });
    const problem = runtimeTopicProblem(topic);
    if (problem !== undefined) {
      onBadField?.({ field, topic, problem });
      continue;
    }
    messages.push({ topic, payload: encodeFieldValue(value), qos: rule.qos, retain: rule.retain });
  }
  return messages;
}
