/**
 * Home Assistant MQTT discovery configs. Pure: a field of a source, with the source's publish
 * rule, becomes one retained message on `<prefix>/<component>/<node>/<object>/config` whose
 * state topic and value template read exactly what the pipeline publishes for that field, and
 * whose availability follows the agent's status topic (online, and offline by the will).
 */
import { createHash } from 'node:crypto';
import type { OutgoingMessage, QoS } from '../mqtt/store.js';
import type { PublishMode } from '../pipeline/pipeline.js';
import { expandTopic } from '../pipeline/topic.js';
import type { AnnouncedField } from './fields.js';

export interface DiscoveryDevice {
  /** device.id */
  id: string;
  /** sensorgate's version, shown as the device's software version. */
  version: string;
  /** homeassistant.prefix */
  prefix: string;
  status: { topic: string; online: string; offline: string };
}

/** Where one source's readings go: its effective publish rule. */
export interface SourceTopics {
  source: string;
  /** The topic template ({device}, {source}, and {field} in field mode). */
  topic: string;
  mode: PublishMode;
  qos: QoS;
  /** publish.batch applies: a reading-mode payload is a JSON array of readings. */
  batched: boolean;
}

const ID_CHARS = /[^a-zA-Z0-9_-]/g;

/**
 * Home Assistant allows only `[a-zA-Z0-9_-]` in node and object ids. Other characters become `_`;
 * then a short hash of the original keeps ids apart that would otherwise meet (`a.b` and `a_b`).
 */
export function discoveryId(text: string): string {
  const slug = text.replace(ID_CHARS, '_');
  if (slug === text) return slug;
  return `${slug}_${createHash('sha256').update(text).digest('hex').slice(0, 6)}`;
}

/** A Jinja string literal: single-quoted, with backslash and quote escaped. */
function jinjaString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Subscript form always: `value_json.values` would be the dict's method, and names with `.` or
 * `-` (the json parser's `bme.p`) are not identifiers. A batch is an array of readings in commit
 * order: the sensor shows the newest.
 */
export function valueTemplate(field: string, batched: boolean): string {
  return `{{ value_json${batched ? '[-1]' : ''}[${jinjaString(field)}] }}`;
}

export function discoveryTopic(device: DiscoveryDevice, source: string, field: AnnouncedField): string {
  return `${device.prefix}/${field.component}/${discoveryId(device.id)}/${discoveryId(`${device.id}_${source}_${field.name}`)}/config`;
}

export function discoveryPayload(device: DiscoveryDevice, topics: SourceTopics, field: AnnouncedField): Record<string, unknown> {
  const id = discoveryId(`${device.id}_${topics.source}_${field.name}`);
  const vars = { device: device.id, source: topics.source };
  const state =
    topics.mode === 'field'
      ? { state_topic: expandTopic(topics.topic, { ...vars, field: field.name }) }
      : { state_topic: expandTopic(topics.topic, vars), value_template: valueTemplate(field.name, topics.batched) };
  return {
    // No object_id/default_entity_id (renamed in 2025.10): the entity id then follows from the
    // device name and this name on every Home Assistant version.
    name: `${topics.source} ${field.name}`,
    unique_id: id,
    ...state,
    ...(field.unit !== undefined && { unit_of_measurement: field.unit }),
    ...(field.deviceClass !== undefined && { device_class: field.deviceClass }),
    ...(field.stateClass !== undefined && { state_class: field.stateClass }),
    // The GPIO input's level as published: the plain value in field mode, and the template's output in reading mode.
    ...(field.component === 'binary_sensor' && { payload_on: '1', payload_off: '0' }),
    availability_topic: device.status.topic,
    payload_available: device.status.online,
    payload_not_available: device.status.offline,
    qos: topics.qos,
    device: {
      identifiers: [`sensorgate_${device.id}`],
      name: device.id,
      manufacturer: 'sensorgate',
      model: 'sensorgate',
      sw_version: device.version,
    },
  };
}

/** The retained config message, QoS 1 (it is sent again on every connect, so it is not stored). */
export function discoveryMessage(device: DiscoveryDevice, topics: SourceTopics, field: AnnouncedField): OutgoingMessage {
  return {
    topic: discoveryTopic(device, topics.source, field),
    payload: Buffer.from(JSON.stringify(discoveryPayload(device, topics, field))),
    qos: 1,
    retain: true,
  };
}
