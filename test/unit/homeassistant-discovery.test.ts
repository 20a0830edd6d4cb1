/**
 * Home Assistant discovery, pure parts: device classes from units and names, which fields each
 * source announces, and the config payloads for reading, batched and field mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import type { SourceConfig } from '../../src/config/types.js';
import { DiscoveryAnnouncer, MAX_SEEN_FIELDS_PER_SOURCE } from '../../src/homeassistant/announcer.js';
import { inferSensorClass } from '../../src/homeassistant/device-class.js';
import { discoveryId, discoveryMessage, discoveryPayload, valueTemplate } from '../../src/homeassistant/discovery.js';
import type { DiscoveryDevice, SourceTopics } from '../../src/homeassistant/discovery.js';
import { sourceFields } from '../../src/homeassistant/fields.js';
import type { AnnouncedField } from '../../src/homeassistant/fields.js';

const DEVICE: DiscoveryDevice = { id: 'gw-1', version: '9.9.9', prefix: 'homeassistant', status: { topic: 'sensorgate/gw-1/status', online: 'up', offline: 'down' } };
const READING: SourceTopics = { source: 'wx', topic: 'sensorgate/{device}/{source}', mode: 'reading', qos: 1, batched: false };

async function sources(list: unknown[]): Promise<SourceConfig[]> {
  const config = await parseConfig({ device: { id: 'gw-1' }, mqtt: { url: 'mqtt://b' }, sources: list }, { baseDir: '/tmp', env: {} });
  return config.sources;
}

const byName = (fields: readonly AnnouncedField[]): Record<string, Omit<AnnouncedField, 'name'>> =>
  Object.fromEntries(fields.map(({ name, ...rest }) => [name, rest]));

void test('device classes: from the unit, spelled as Home Assistant wants it; shared units decided by the name', () => {
  assert.deepEqual(inferSensorClass('t', 'C'), { unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' });
  assert.deepEqual(inferSensorClass('t', '°F'), { unit: '°F', deviceClass: 'temperature', stateClass: 'measurement' });
  assert.deepEqual(inferSensorClass('humidity', '%'), { unit: '%', deviceClass: 'humidity', stateClass: 'measurement' });
  assert.deepEqual(inferSensorClass('battery', '%'), { unit: '%', deviceClass: 'battery', stateClass: 'measurement' });
  assert.deepEqual(inferSensorClass('duty', '%'), { unit: '%', stateClass: 'measurement' }, 'a % that is neither: no class');
  assert.equal(inferSensorClass('p', 'hpa').deviceClass, 'pressure');
  assert.equal(inferSensorClass('p', 'hpa').unit, 'hPa');
  assert.equal(inferSensorClass('light', 'lux').unit, 'lx');
  assert.equal(inferSensorClass('light', 'lux').deviceClass, 'illuminance');
  assert.equal(inferSensorClass('v', 'V').deviceClass, 'voltage');
  assert.equal(inferSensorClass('i', 'A').deviceClass, 'current');
  assert.equal(inferSensorClass('p', 'W').deviceClass, 'power');
  assert.deepEqual(inferSensorClass('meter', 'kWh'), { unit: 'kWh', deviceClass: 'energy', stateClass: 'total_increasing' });
  assert.equal(inferSensorClass('rain', 'mm').deviceClass, 'precipitation');
  assert.equal(inferSensorClass('level', 'mm').deviceClass, 'distance');
  assert.equal(inferSensorClass('rainRate', 'mm/h').deviceClass, 'precipitation_intensity');
  assert.equal(inferSensorClass('co2', 'ppm').deviceClass, 'carbon_dioxide');
  assert.equal(inferSensorClass('pm25', 'ug/m3').deviceClass, 'pm25');
  assert.equal(inferSensorClass('wind', 'm/s').deviceClass, 'wind_speed');
  assert.deepEqual(inferSensorClass('x', 'furlongs'), { unit: 'furlongs', stateClass: 'measurement' }, 'unknown units pass through without a class');
  assert.deepEqual(inferSensorClass('temperature', undefined), {}, 'no unit, no class: a guess from the name alone would often be wrong');
  assert.deepEqual(inferSensorClass('total', undefined, { total: true }), { stateClass: 'total_increasing' });
});

void test('fields: simulated, serial csv/regex/lines/nmea with the fields map, json with dynamic fields', async () => {
  const [sim, csv, regex, lines, nmea, json] = await sources([
    { type: 'simulated', name: 'sim' },
    { type: 'serial', name: 'csv', path: '/dev/x', parser: { type: 'csv', columns: ['T', null, 'H', 'id'] }, fields: { T: { rename: 'temperature', unit: 'degC' }, H: { unit: '%' }, id: { type: 'string' } } },
    { type: 'serial', name: 're', path: '/dev/x', parser: { type: 'regex', pattern: '^P(?<pressure>[0-9.]+) L(?<lux>\\d+)$' }, fields: { pressure: { unit: 'hPa' }, lux: { unit: 'lx' } } },
    { type: 'serial', name: 'ln', path: '/dev/x', parser: { type: 'lines', field: 'co2' }, fields: { co2: { unit: 'ppm' } } },
    { type: 'serial', name: 'gps', path: '/dev/x', parser: { type: 'nmea' } },
    { type: 'serial', name: 'js', path: '/dev/x', parser: { type: 'json' }, fields: { t: { rename: 'temp', unit: '°C' } } },
  ]);
  assert.deepEqual(byName(sourceFields(sim as SourceConfig).fields), {
    seq: { component: 'sensor', stateClass: 'total_increasing' },
    temperature: { component: 'sensor', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' },
    humidity: { component: 'sensor', unit: '%', deviceClass: 'humidity', stateClass: 'measurement' },
  });
  assert.deepEqual(byName(sourceFields(csv as SourceConfig).fields), {
    temperature: { component: 'sensor', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' },
    H: { component: 'sensor', unit: '%', deviceClass: 'humidity', stateClass: 'measurement' },
    id: { component: 'sensor' },
  });
  assert.deepEqual(Object.keys(byName(sourceFields(regex as SourceConfig).fields)), ['pressure', 'lux']);
  assert.equal(byName(sourceFields(regex as SourceConfig).fields).lux?.deviceClass, 'illuminance');
  assert.equal(byName(sourceFields(lines as SourceConfig).fields).co2?.deviceClass, 'carbon_dioxide');
  assert.deepEqual(Object.keys(byName(sourceFields(nmea as SourceConfig).fields)), ['fix', 'satellites', 'hdop', 'lat', 'lon', 'alt', 'valid', 'speed', 'course']);
  assert.equal(byName(sourceFields(nmea as SourceConfig).fields).speed?.unit, 'km/h');
  const jsonFields = sourceFields(json as SourceConfig);
  assert.deepEqual(Object.keys(byName(jsonFields.fields)), ['temp']);
  assert.deepEqual(jsonFields.dynamic?.('bme.p'), { name: 'bme.p', component: 'sensor' });
  for (const declared of [sim, csv, regex, lines, nmea]) assert.equal(sourceFields(declared as SourceConfig).dynamic, undefined);
});

void test('fields: GPIO input is a binary sensor; a counter with scale and unit gets units per field; 1-Wire probes are temperatures', async () => {
  const [door, rain, pulses, probes, anyProbe] = await sources([
    { type: 'gpio', name: 'door', line: 17 },
    { type: 'gpio', name: 'rain', line: 5, mode: 'counter', scale: 0.2794, unit: 'mm', ratePer: 'hour' },
    { type: 'gpio', name: 'meter', line: 6, mode: 'counter' },
    { type: 'onewire', name: 'w1', probes: [{ id: '28-0316a2791dff', name: 'greenhouse' }] },
    { type: 'onewire', name: 'w1any' },
  ]);
  assert.deepEqual(sourceFields(door as SourceConfig).fields, [{ name: 'state', component: 'binary_sensor', deviceClass: 'door' }]);
  assert.deepEqual(byName(sourceFields(rain as SourceConfig).fields), {
    count: { component: 'sensor', unit: 'mm', deviceClass: 'precipitation', stateClass: 'measurement' },
    total: { component: 'sensor', unit: 'mm', deviceClass: 'precipitation', stateClass: 'total_increasing' },
    rate: { component: 'sensor', unit: 'mm/h', deviceClass: 'precipitation_intensity', stateClass: 'measurement' },
    pulses: { component: 'sensor' },
    pulsesTotal: { component: 'sensor', stateClass: 'total_increasing' },
  });
  assert.deepEqual(Object.keys(byName(sourceFields(pulses as SourceConfig).fields)), ['count', 'total', 'rate']);
  assert.deepEqual(sourceFields(probes as SourceConfig).fields, [{ name: 'greenhouse', component: 'sensor', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' }]);
  assert.deepEqual(sourceFields(anyProbe as SourceConfig).fields, []);
  assert.equal(sourceFields(anyProbe as SourceConfig).dynamic?.('28-0316a2791dff').deviceClass, 'temperature');
});

const TEMP: AnnouncedField = { name: 'temperature', component: 'sensor', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' };

void test('payload, reading mode: the reading topic, a template for the field, availability from the status topic, the device block', () => {
  const message = discoveryMessage(DEVICE, READING, TEMP);
  assert.equal(message.topic, 'homeassistant/sensor/gw-1/gw-1_wx_temperature/config');
  assert.equal(message.retain, true);
  assert.equal(message.qos, 1);
  assert.deepEqual(JSON.parse(message.payload.toString()), {
    name: 'wx temperature',
    unique_id: 'gw-1_wx_temperature',
    state_topic: 'sensorgate/gw-1/wx',
    value_template: "{{ value_json['temperature'] }}",
    unit_of_measurement: '°C',
    device_class: 'temperature',
    state_class: 'measurement',
    availability_topic: 'sensorgate/gw-1/status',
    payload_available: 'up',
    payload_not_available: 'down',
    qos: 1,
    device: { identifiers: ['sensorgate_gw-1'], name: 'gw-1', manufacturer: 'sensorgate', model: 'sensorgate', sw_version: '9.9.9' },
  });
});

void test('payload, field mode: the field topic, no template; batched reading mode reads the newest reading of the array', () => {
  const field = discoveryPayload(DEVICE, { ...READING, topic: 'home/{device}/{source}/{field}', mode: 'field', qos: 2 }, TEMP);
  assert.equal(field.state_topic, 'home/gw-1/wx/temperature');
  assert.equal('value_template' in field, false);
  assert.equal(field.qos, 2);
  const batched = discoveryPayload(DEVICE, { ...READING, batched: true }, TEMP);
  assert.equal(batched.value_template, "{{ value_json[-1]['temperature'] }}");
  const door = discoveryMessage(DEVICE, READING, { name: 'state', component: 'binary_sensor', deviceClass: 'door' });
  assert.equal(door.topic, 'homeassistant/binary_sensor/gw-1/gw-1_wx_state/config');
  const payload = JSON.parse(door.payload.toString()) as Record<string, unknown>;
  assert.deepEqual([payload.payload_on, payload.payload_off, payload.device_class], ['1', '0', 'door']);
});

void test('ids and templates: only [a-zA-Z0-9_-] in ids, kept apart by a hash when changed; field names quoted for Jinja', () => {
  assert.equal(discoveryId('gw-1_wx_t'), 'gw-1_wx_t');
  const dotted = discoveryId('gw_wx_bme.p');
  assert.match(dotted, /^gw_wx_bme_p_[0-9a-f]{6}$/);
  assert.notEqual(dotted, discoveryId('gw_wx_bme_p'));
  assert.notEqual(dotted, discoveryId('gw_wx_bme-p'));
  assert.equal(valueTemplate("it's", false), "{{ value_json['it\\'s'] }}");
  assert.equal(valueTemplate('values', false), "{{ value_json['values'] }}", 'not value_json.values (the dict method)');
  const message = discoveryMessage({ ...DEVICE, id: 'gw 1' }, READING, TEMP);
  assert.match(message.topic, /^homeassistant\/sensor\/gw_1_[0-9a-f]{6}\/gw_1_wx_temperature_[0-9a-f]{6}\/config$/);
});

void test('announcer: everything on all(); new fields of dynamic sources once each, bounded per source', () => {
  const announcer = new DiscoveryAnnouncer(DEVICE, [
    { topics: READING, fields: { fields: [TEMP] } },
    { topics: { ...READING, source: 'js' }, fields: { fields: [], dynamic: (name) => ({ name, component: 'sensor' }) } },
  ]);
  assert.deepEqual(announcer.all().map((m) => m.topic), ['homeassistant/sensor/gw-1/gw-1_wx_temperature/config']);
  assert.equal(announcer.watches('wx'), false, 'declared sources are not watched');
  assert.equal(announcer.watches('js'), true);
  assert.deepEqual(announcer.observe('wx', ['other']).messages, [], 'a declared source announces nothing new');
  const first = announcer.observe('js', ['a', 'b']);
  assert.deepEqual(first.messages.map((m) => m.topic), ['homeassistant/sensor/gw-1/gw-1_js_a/config', 'homeassistant/sensor/gw-1/gw-1_js_b/config']);
  assert.deepEqual(announcer.observe('js', ['a', 'b']).messages, [], 'once each');
  assert.equal(announcer.all().length, 3, 'seen fields are republished on the next connect');
  const names = Array.from({ length: MAX_SEEN_FIELDS_PER_SOURCE + 10 }, (_, i) => `f${i}`);
  const flood = announcer.observe('js', names);
  assert.equal(flood.messages.length, MAX_SEEN_FIELDS_PER_SOURCE - 2);
  assert.equal(flood.limitReached, true);
  assert.equal(announcer.watches('js'), false);
  assert.equal(announcer.observe('js', ['zzz']).limitReached, false, 'reported once');
  assert.equal(announcer.all().length, 1 + MAX_SEEN_FIELDS_PER_SOURCE);
});
