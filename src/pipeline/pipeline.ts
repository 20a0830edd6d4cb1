/**
 * Shapes readings into MQTT messages. Pure: same reading and options, same messages.
 */
import type { Message, QoS } from '../outbox/outbox.js';
import type { Reading } from './reading.js';
import { expandTopic } from './topic.js';

export interface PublishRule {
  device: string;
  /** Template with {device} and {source}. */
  topic: string;
  qos: QoS;
  retain: boolean;
}

/** One JSON object per reading: `{"ts": <epoch ms>, ...fields}`. */
export function encodeReading(reading: Reading): Buffer {
  return Buffer.from(JSON.stringify({ ts: reading.ts, ...reading.fields }));
}

export function readingToMessages(reading: Reading, rule: PublishRule): Message[] {
  return [
    {
      topic: expandTopic(rule.topic, { device: rule.device, source: reading.source }),
      payload: encodeReading(reading),
      qos: rule.qos,
      retain: rule.retain,
    },
  ];
}
