/**
 * Which fields each configured source publishes, with what unit and kind, as far as the config
 * says. Sources whose field names are only known from the data (the json and kv parsers beyond
 * their `fields:` map, 1-Wire without a `probes` list) get a `dynamic` rule: a field is
 * announced when it is first seen.
 */
import type { GpioSourceConfig, OneWireSourceConfig, SerialSourceConfig, SourceConfig } from '../config/types.js';
import type { FieldSpecs } from '../sources/fields.js';
import { inferSensorClass } from './device-class.js';
import type { StateClass } from './device-class.js';

export type Component = 'sensor' | 'binary_sensor';

export interface AnnouncedField {
  /** The field's name in the payload (after rename). */
  name: string;
  component: Component;
  unit?: string;
  deviceClass?: string;
  stateClass?: StateClass;
}

export interface SourceFields {
  fields: AnnouncedField[];
  /** For a field not in `fields`, seen in a reading: how to announce it. Absent: announce nothing more. */
  dynamic?: (name: string) => AnnouncedField;
}

/** A numeric sensor; without a unit it has no device class (see device-class.ts). */
function sensor(name: string, unit?: string, opts: { total?: boolean; source?: string } = {}): AnnouncedField {
  return { name, component: 'sensor', ...inferSensorClass(name, unit, opts) };
}

/** A plain value with no unit or class: a text, a flag, a count of something. */
function plain(name: string): AnnouncedField {
  return { name, component: 'sensor' };
}

const NMEA_FIELDS: Readonly<Record<'GGA' | 'RMC', ReadonlyArray<readonly [string, string | undefined]>>> = {
  GGA: [
    ['fix', undefined],
    ['satellites', undefined],
    ['hdop', undefined],
    ['lat', '°'],
    ['lon', '°'],
    ['alt', 'm'],
  ],
  RMC: [
    ['valid', undefined],
    ['lat', '°'],
    ['lon', '°'],
    ['speed', 'km/h'],
    ['course', '°'],
  ],
};

/** Names of the named groups of a (config-validated) pattern. */
function regexGroups(pattern: string, flags: string): string[] {
  try {
    return Object.keys(new RegExp(`(?:${pattern})|`, flags).exec('')?.groups ?? {});
  } catch {
    return [];
  }
}

/** A raw parser field through the `fields:` map: its payload name and unit. */
function shaped(source: string, raw: string, specs: FieldSpecs, builtInUnit?: string): AnnouncedField {
  const spec = Object.hasOwn(specs, raw) ? specs[raw] : undefined;
  const name = spec?.rename ?? raw;
  if (spec?.type === 'string') return plain(name);
  return sensor(name, spec?.unit ?? builtInUnit, { source });
}

function serialFields(config: SerialSourceConfig): SourceFields {
  const { parser, fields: specs } = config;
  const declared = (raw: ReadonlyArray<readonly [string, string | undefined]>): AnnouncedField[] => {
    const seen = new Set<string>();
    const out: AnnouncedField[] = [];
    for (const [name, unit] of raw) {
      const field = shaped(config.name, name, specs, unit);
      if (seen.has(field.name)) continue;
      seen.add(field.name);
      out.push(field);
    }
    return out;
  };
  const none = undefined;
  switch (parser.type) {
    case 'lines':
      return { fields: declared([[parser.field, none]]) };
    case 'csv':
      return { fields: declared(parser.columns.filter((c): c is string => c !== null).map((c) => [c, none])) };
    case 'regex':
      return { fields: declared(regexGroups(parser.pattern, parser.flags).map((g) => [g, none])) };
    case 'nmea':
      return { fields: declared(parser.sentences.flatMap((sentence) => NMEA_FIELDS[sentence])) };
    case 'json':
    case 'kv':
      // Only the fields the config names are known in advance; the rest are whatever the device sends.
      return { fields: declared(Object.keys(specs).map((raw) => [raw, none])), dynamic: plain };
  }
}

function gpioFields(config: GpioSourceConfig): SourceFields {
  if (config.mode === 'input') {
    const n = `${config.name} ${config.field}`.toLowerCase();
    const deviceClass = /garage/.test(n)
      ? 'garage_door'
      : /door|gate/.test(n)
        ? 'door'
        : /window/.test(n)
          ? 'window'
          : /motion|pir/.test(n)
            ? 'motion'
            : /leak|flood/.test(n)
              ? 'moisture'
              : undefined;
    return { fields: [{ name: config.field, component: 'binary_sensor', ...(deviceClass !== undefined && { deviceClass }) }] };
  }
  const { unit, scale, ratePer } = config;
  if (scale === undefined) {
    return { fields: [plain('count'), sensor('total', undefined, { total: true }), plain('rate')] };
  }
  const perUnit = unit === undefined ? undefined : `${unit}/${{ second: 's', minute: 'min', hour: 'h' }[ratePer]}`;
  const source = config.name;
  return {
    fields: [sensor('count', unit, { source }), sensor('total', unit, { total: true, source }), sensor('rate', perUnit, { source }), plain('pulses'), sensor('pulsesTotal', undefined, { total: true })],
  };
}

function oneWireFields(config: OneWireSourceConfig): SourceFields {
  const probe = (name: string): AnnouncedField => sensor(name, '°C');
  if (config.probes !== undefined) return { fields: config.probes.map((p) => probe(p.name)) };
  return { fields: [], dynamic: probe };
}

export function sourceFields(config: SourceConfig): SourceFields {
  switch (config.type) {
    case 'simulated':
      return { fields: [sensor('seq', undefined, { total: true }), sensor('temperature', '°C'), sensor('humidity', '%')] };
    case 'serial':
      return serialFields(config);
    case 'gpio':
      return gpioFields(config);
    case 'onewire':
      return oneWireFields(config);
  }
}
