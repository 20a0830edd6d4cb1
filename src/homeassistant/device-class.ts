/**
 * Home Assistant's device class, state class and unit for a field, inferred from its unit and,
 * where one unit means several things (`%`, `mm`, `ppm`), from its name. A unit we do not know
 * is passed through as it is, without a device class: the sensor still shows its number and
 * unit, and Home Assistant never rejects a config for an unknown class/unit pairing.
 */

export type StateClass = 'measurement' | 'total' | 'total_increasing';

export interface SensorClass {
  /** The unit as Home Assistant spells it (`°C`, not `C`). */
  unit?: string;
  deviceClass?: string;
  stateClass?: StateClass;
}

/** Common spellings in sensor configs → Home Assistant's spelling of the unit. */
const UNIT_ALIASES: Readonly<Record<string, string>> = {
  c: '°C',
  '°c': '°C',
  degc: '°C',
  celsius: '°C',
  f: '°F',
  '°f': '°F',
  degf: '°F',
  fahrenheit: '°F',
  k: 'K',
  kelvin: 'K',
  '%': '%',
  '%rh': '%',
  rh: '%',
  percent: '%',
  pa: 'Pa',
  hpa: 'hPa',
  kpa: 'kPa',
  mbar: 'mbar',
  bar: 'bar',
  psi: 'psi',
  mmhg: 'mmHg',
  inhg: 'inHg',
  lx: 'lx',
  lux: 'lx',
  v: 'V',
  mv: 'mV',
  a: 'A',
  ma: 'mA',
  w: 'W',
  kw: 'kW',
  wh: 'Wh',
  kwh: 'kWh',
  mwh: 'MWh',
  mm: 'mm',
  cm: 'cm',
  m: 'm',
  in: 'in',
  'mm/h': 'mm/h',
  'in/h': 'in/h',
  ppm: 'ppm',
  ppb: 'ppb',
  'µg/m³': 'µg/m³',
  'ug/m3': 'µg/m³',
  'µg/m3': 'µg/m³',
  db: 'dB',
  dba: 'dBA',
  dbm: 'dBm',
  hz: 'Hz',
  khz: 'kHz',
  'm/s': 'm/s',
  'km/h': 'km/h',
  kmh: 'km/h',
  mph: 'mph',
  kn: 'kn',
  l: 'L',
  'm³': 'm³',
  m3: 'm³',
  kg: 'kg',
  g: 'g',
};

/** Units with one meaning whatever the field is called. */
const BY_UNIT: Readonly<Record<string, string>> = {
  '°C': 'temperature',
  '°F': 'temperature',
  K: 'temperature',
  Pa: 'pressure',
  hPa: 'pressure',
  kPa: 'pressure',
  mbar: 'pressure',
  bar: 'pressure',
  psi: 'pressure',
  mmHg: 'pressure',
  inHg: 'pressure',
  lx: 'illuminance',
  V: 'voltage',
  mV: 'voltage',
  A: 'current',
  mA: 'current',
  W: 'power',
  kW: 'power',
  Wh: 'energy',
  kWh: 'energy',
  MWh: 'energy',
  'mm/h': 'precipitation_intensity',
  'in/h': 'precipitation_intensity',
  dB: 'sound_pressure',
  dBA: 'sound_pressure',
  dBm: 'signal_strength',
  Hz: 'frequency',
  kHz: 'frequency',
  kg: 'weight',
  g: 'weight',
  L: 'volume',
  'm³': 'volume',
};

/** Device classes whose values only grow (meter readings). */
const TOTALS = new Set(['energy']);

export function canonicalUnit(unit: string): string {
  return UNIT_ALIASES[unit.trim().toLowerCase()] ?? unit.trim();
}

/** Shared units whose name gave nothing away. */
const SHARED_DEFAULT: Readonly<Record<string, string>> = { mm: 'distance', cm: 'distance', in: 'distance', m: 'distance', 'm/s': 'speed', 'km/h': 'speed', mph: 'speed', kn: 'speed' };

/** Where a unit is shared, a name decides (undefined: this name does not tell). */
function byName(unit: string, name: string): string | undefined {
  const n = name.toLowerCase();
  switch (unit) {
    case '%':
      if (/hum|^rh$|^h$/.test(n)) return 'humidity';
      if (/bat/.test(n)) return 'battery';
      if (/moist|soil/.test(n)) return 'moisture';
      return undefined;
    case 'mm':
    case 'cm':
    case 'in':
      return /rain|precip/.test(n) ? 'precipitation' : undefined;
    case 'ppm':
      if (/co2/.test(n)) return 'carbon_dioxide';
      if (/^co$|carbon.?mon/.test(n)) return 'carbon_monoxide';
      return /voc/.test(n) ? 'volatile_organic_compounds_parts' : undefined;
    case 'µg/m³':
      if (/pm2|pm25/.test(n)) return 'pm25';
      if (/pm10/.test(n)) return 'pm10';
      if (/pm1/.test(n)) return 'pm1';
      return undefined;
    case 'm/s':
    case 'km/h':
    case 'mph':
    case 'kn':
      return /wind|gust/.test(n) ? 'wind_speed' : undefined;
    default:
      return undefined;
  }
}

/**
 * The classes for a numeric field. `total`: the field is a running total (a pulse counter's),
 * whatever its unit. `source`: the source's name, consulted when the field's name does not tell. Without a unit there is no device class: Home Assistant requires one for
 * every class but a few, and a guess from the name alone would often be wrong.
 */
export function inferSensorClass(field: string, unit: string | undefined, opts: { total?: boolean; source?: string } = {}): SensorClass {
  if (unit === undefined || unit.trim() === '') return opts.total === true ? { stateClass: 'total_increasing' } : {};
  const canonical = canonicalUnit(unit);
  // The field's name first, then the source's: a counter's `total` in mm on a source called rain is rain.
  const deviceClass = BY_UNIT[canonical] ?? byName(canonical, field) ?? (opts.source === undefined ? undefined : byName(canonical, opts.source)) ?? SHARED_DEFAULT[canonical];
  const growing = opts.total === true || (deviceClass !== undefined && TOTALS.has(deviceClass));
  return {
    unit: canonical,
    ...(deviceClass !== undefined && { deviceClass }),
    stateClass: growing ? 'total_increasing' : 'measurement',
  };
}
