/**
 * The config file schema: every key, its default and its rules, in one place. Parsing it yields
 * the resolved `AgentConfig` (durations in ms, sizes in bytes, paths absolute, secrets loaded).
 *
 * How issues are collected: zod reports every field-level problem in one pass. A refinement on an
 * object normally runs only when all of that object's fields are valid; the cross-field checks
 * below say with `when` which fields they need, so they are reported alongside unrelated typos.
 * File checks (TLS files, password file) are async transforms, so use `safeParseAsync`.
 */
import { resolve } from 'node:path';
import * as z from 'zod';
import type { DrainOrder, QoS } from '../mqtt/store.js';
import type { WhenFull } from '../outbox/outbox.js';
import { FileProblem, readTextFile, unreadableFileProblem } from './files.js';
import { gpioSourceSchema } from './sources/gpio.js';
import { oneWireSourceSchema } from './sources/onewire.js';
import { sourcePublishSchema } from './sources/publish.js';
import type { AgentConfig, BatchConfig, LogConfig, MqttConfig, PublishConfig, SimulatedSourceConfig, SourceConfig, TlsConfig } from './types.js';
import { formatDuration, formatSize, MAX_TIMER_MS, parseDuration, parseSize } from './units.js';
import { serialSourceSchema } from './sources/serial.js';
import { commandsSectionSchema, commandTopicClash, homeAssistantSectionSchema, metricsSectionSchema, resolveCommands } from './services.js';

// ---------------------------------------------------------------------------------------------
// Defaults

export const DEFAULT_MQTT_PORT = 1883;
export const DEFAULT_MQTTS_PORT = 8883;
export const DEFAULT_KEEPALIVE_MS = 60_000;
/** The ping timeout defaults to half the keepalive, but at most this. */
export const DEFAULT_PING_TIMEOUT_CAP_MS = 30_000;
export const DEFAULT_INFLIGHT = 20;
/** 0 = no limit on PUBLISH packets per second. */
export const DEFAULT_MAX_PUBLISH_RATE = 0;
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_RECONNECT_MIN_DELAY_MS = 1_000;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 120_000;
export const DEFAULT_MAX_INCOMING_PACKET_BYTES = 1024 * 1024;
export const DEFAULT_TLS_REJECT_UNAUTHORIZED = true;
export const DEFAULT_STATUS_TOPIC = 'sensorgate/{device}/status';
export const DEFAULT_STATUS_ONLINE = 'online';
export const DEFAULT_STATUS_OFFLINE = 'offline';
/** Store directory when the config has no store.path, relative to the config file's directory. */
export const DEFAULT_STORE_DIR = 'sensorgate-data';
export const DEFAULT_STORE_MAX_MESSAGES = 0;
export const DEFAULT_STORE_MAX_BYTES = 0;
export const DEFAULT_STORE_WHEN_FULL: WhenFull = 'drop-oldest';
/**
 * Free space the store leaves on its filesystem. A LevelDB compaction can need about
 * 25 table files (50 MB at the default 2 MB) of temporary space before it frees its inputs,
 * and the OS on a shared SD card (journald, apt) needs room too; 64 MB is under 1 % of an
 * 8 GB card.
 */
export const DEFAULT_STORE_MIN_FREE_SPACE = 64 * 1024 * 1024;
export const DEFAULT_STORE_SYNC = false;
export const DEFAULT_STORE_DRAIN = 'oldest-first' satisfies DrainOrder;
export const DEFAULT_PUBLISH_QOS: QoS = 1;
export const DEFAULT_PUBLISH_RETAIN = false;
export const DEFAULT_PUBLISH_TOPIC = 'sensorgate/{device}/{source}';
export const DEFAULT_PUBLISH_MODE: PublishConfig['mode'] = 'reading';
/**
 * publish.batch, when given. 50 readings of ~75 bytes make a ~4 KB message, where the ~35 bytes
 * a message costs (fixed header, topic, packet id, PUBACK) are under 1 % per reading; more
 * readings per message save almost nothing and put more at stake per resend.
 */
export const DEFAULT_BATCH_MAX_READINGS = 50;
/** Latency added to a slow source, and the most a crash (kill -9, power cut) can lose from memory. */
export const DEFAULT_BATCH_MAX_DELAY_MS = 10_000;
/** Room for big readings; far below any broker's limit (see MAX_BATCH_BYTES). */
export const DEFAULT_BATCH_MAX_BYTES = 16 * 1024;
export const DEFAULT_SOURCE_INTERVAL_MS = 1_000;
export const DEFAULT_LOG_LEVEL: LogConfig['level'] = 'info';
export const DEFAULT_LOG_FORMAT: LogConfig['format'] = 'auto';

/** Broker password, used when the config has neither mqtt.password nor mqtt.passwordFile. */
export const PASSWORD_ENV = 'SENSORGATE_MQTT_PASSWORD';

// ---------------------------------------------------------------------------------------------
// Limits

/** MQTT strings (topics, client id, username, password) are length-prefixed with 16 bits. */
const MQTT_STRING_MAX_BYTES = 65_535;
/** MQTT sends keepalive as 16-bit seconds. */
const MAX_KEEPALIVE_MS = 65_535_000;
/** Largest MQTT packet: 1 type byte, 4 length bytes, 268,435,455 bytes of body. */
const MQTT_MAX_PACKET_BYTES = 268_435_460;
/** Smallest incoming limit we accept: below this even small acks and pings would be refused. */
const MIN_INCOMING_PACKET_BYTES = 64;
/** Smallest publish.batch.maxBytes: room for one typical reading (~75 bytes) with margin. */
const MIN_BATCH_BYTES = 256;
/**
 * Largest publish.batch.maxBytes. Brokers cap message size (AWS IoT Core at 128 KB, Azure IoT
 * Hub at 256 KB, mosquitto's message_size_limit when set); one over the limit is refused or
 * gets the connection closed, and would block the outbox. 64 KiB passes them all, and bigger
 * batches would save nothing on the wire.
 */
const MAX_BATCH_BYTES = 64 * 1024;
const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** The rate limiter keeps one timestamp per send in its 1 s window; beyond this the agent could not keep up anyway. */
const MAX_PUBLISH_RATE = 10_000;

const WHEN_FULL = ['drop-oldest', 'drop-newest'] as const satisfies readonly WhenFull[];
const DRAIN_ORDERS = ['oldest-first', 'newest-first'] as const satisfies readonly DrainOrder[];
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies ReadonlyArray<LogConfig['level']>;
const LOG_FORMATS = ['auto', 'json', 'text'] as const satisfies ReadonlyArray<LogConfig['format']>;

/** Placeholders each topic template may use, with harmless sample values to validate it. */
const STATUS_TOPIC_PLACEHOLDERS = { device: 'device' } as const;
/** {field} only in field mode (one message per field); checked per source once modes are known. */
export const PUBLISH_TOPIC_PLACEHOLDERS = { device: 'device', source: 'source', field: 'field' } as const;
const PUBLISH_MODES = ['reading', 'field'] as const satisfies ReadonlyArray<PublishConfig['mode']>;

// ---------------------------------------------------------------------------------------------
// Field helpers

export interface SchemaContext {
  /** Relative paths (store.path, mqtt.passwordFile, mqtt.tls.*) resolve against this. */
  baseDir: string;
  env: Readonly<Record<string, string | undefined>>;
}

const DURATION_HINT = 'must be a duration like 200ms, 5s, 2m (a plain number means seconds)';
const SIZE_HINT = 'must be a size like 512KB, 1MB (1 KB = 1024 bytes; a plain number means bytes)';

export function fail(ctx: z.core.$RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

function rangeMessage(min: number, max: number, format: (n: number) => string, maxText?: string): string {
  const parts: string[] = [];
  if (min === 1) parts.push('greater than 0');
  else if (min > 0) parts.push(`at least ${format(min)}`);
  parts.push(`at most ${maxText ?? format(max)}`);
  return `must be ${parts.join(' and ')}`;
}

interface Range {
  min?: number;
  max?: number;
  /** Replaces the generated out-of-range message. */
  message?: string;
}

/** A duration (see units.ts) → whole milliseconds. */
export function duration({ min = 0, max = MAX_TIMER_MS, message }: Range = {}) {
  const outOfRange = message ?? rangeMessage(min, max, formatDuration, max === MAX_TIMER_MS ? '24 days' : undefined);
  return z.union([z.number(), z.string()], { error: DURATION_HINT }).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) return fail(ctx, DURATION_HINT);
    return ms < min || ms > max ? fail(ctx, outOfRange) : ms;
  });
}

/** A size (see units.ts) → bytes. */
function size({ min = 0, max = Number.MAX_SAFE_INTEGER, message }: Range = {}) {
  const outOfRange = message ?? rangeMessage(min, max, formatSize);
  return z.union([z.number(), z.string()], { error: SIZE_HINT }).transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined) return fail(ctx, SIZE_HINT);
    return bytes < min || bytes > max ? fail(ctx, outOfRange) : bytes;
  });
}

export function integer(min: number, max: number, message: string) {
  return z
    .number({ error: message })
    .int({ error: message })
    .min(min, { error: message })
    .max(max, { error: `must be at most ${max}` });
}

function mqttString() {
  return z.string().refine((text) => utf8Bytes(text) <= MQTT_STRING_MAX_BYTES, {
    error: `must be at most ${MQTT_STRING_MAX_BYTES} bytes (UTF-8)`,
  });
}

export function nonEmptyString() {
  return z.string().min(1, { error: 'must not be empty' });
}

/** Why `topic` cannot be published to, or undefined. */
export function topicProblem(topic: string): string | undefined {
  if (topic === '') return 'must not be empty';
  if (/[+#]/.test(topic)) return 'must not contain the wildcards + or #';
  if (topic.includes('\u0000')) return 'must not contain NUL characters';
  // A lone surrogate (possible from a JSON \ud800 escape) has no UTF-8 form; MQTT requires well-formed UTF-8.
  if (/[\uD800-\uDFFF]/u.test(topic)) return 'must be valid UTF-8 (it contains a lone surrogate)';
  if (utf8Bytes(topic) > MQTT_STRING_MAX_BYTES) return `must be at most ${MQTT_STRING_MAX_BYTES} bytes (UTF-8)`;
  return undefined;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Replaces `{name}` placeholders with `vars[name]`; unknown ones are left as they are. */
export function expandTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (match, name: string) => (Object.hasOwn(vars, name) ? (vars[name] ?? match) : match));
}

/** A topic template that may use only the given placeholders (kept unexpanded). */
export function topicTemplate(placeholders: Readonly<Record<string, string>>) {
  const known = Object.keys(placeholders);
  return z.string().superRefine((template, ctx) => {
    for (const [, name = ''] of template.matchAll(PLACEHOLDER)) {
      if (!known.includes(name)) {
        return fail(ctx, `unknown placeholder {${name}} (known: ${known.map((n) => `{${n}}`).join(', ')})`);
      }
    }
    const problem = topicProblem(expandTemplate(template, placeholders));
    if (problem !== undefined) fail(ctx, problem);
  });
}

/** A path to a file that must exist and be readable now → absolute path. */
function readableFile(context: SchemaContext) {
  return nonEmptyString().transform(async (path, ctx) => {
    const absolute = resolve(context.baseDir, path);
    const problem = await unreadableFileProblem(absolute);
    return problem === undefined ? absolute : fail(ctx, problem);
  });
}

/** A path to a file holding a secret → its path and contents (trailing newlines trimmed). */
function secretFile(context: SchemaContext) {
  return nonEmptyString().transform(async (path, ctx) => {
    const absolute = resolve(context.baseDir, path);
    let secret: string;
    try {
      secret = (await readTextFile(absolute, MAX_SECRET_FILE_BYTES)).replace(/[\r\n]+$/, '');
    } catch (err) {
      if (err instanceof FileProblem) return fail(ctx, err.message);
      throw err;
    }
    if (secret === '') return fail(ctx, `file is empty: ${absolute}`);
    if (utf8Bytes(secret) > MQTT_STRING_MAX_BYTES) return fail(ctx, `password in ${absolute} is longer than ${MQTT_STRING_MAX_BYTES} bytes`);
    return { path: absolute, secret };
  });
}

/** A section (mapping) that may be left out or left empty (`status:` with every key commented out). */
function section<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => value ?? {}, schema);
}

/** A `when` for refinements that only look at which keys are present: run even if fields are invalid. */
const whenMapping = (payload: z.core.ParsePayload): boolean =>
  typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value);
const whenList = (payload: z.core.ParsePayload): boolean => Array.isArray(payload.value);

/** A `when` for refinements: run once the named fields (of the mapping refined) are valid. */
function fieldsValid(...fields: string[]) {
  return (payload: z.core.ParsePayload): boolean =>
    whenMapping(payload) && !payload.issues.some((issue) => issue.path !== undefined && fields.includes(String(issue.path[0])));
}

// ---------------------------------------------------------------------------------------------
// device

const deviceSection = z.strictObject({
  id: z.string().superRefine((id, ctx) => {
    if (id === '') fail(ctx, 'must not be empty');
    else if (/[+#/]/.test(id)) fail(ctx, 'must not contain +, # or / (it is used as one MQTT topic level)');
    else if (id.includes('\u0000')) fail(ctx, 'must not contain NUL characters');
    else if (utf8Bytes(id) > MQTT_STRING_MAX_BYTES) fail(ctx, `must be at most ${MQTT_STRING_MAX_BYTES} bytes (UTF-8)`);
  }),
});

// ---------------------------------------------------------------------------------------------
// mqtt

interface BrokerAddress {
  url: string;
  protocol: 'mqtt' | 'mqtts';
  host: string;
  port: number;
}

const URL_HINT = 'must be mqtt://host[:port] or mqtts://host[:port]';
const BROKER_URL = /^(mqtts?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?\/?$/i;

/** `mqtt://Broker.local` → `{url: 'mqtt://broker.local:1883', protocol: 'mqtt', host: 'broker.local', port: 1883}`. */
export function parseBrokerUrl(text: string): BrokerAddress | string {
  const match = BROKER_URL.exec(text);
  if (match === null) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'mqtt' && scheme !== 'mqtts') return `${URL_HINT}; ${scheme}: is not supported`;
    if (/^mqtts?:\/\/[^/]*@/i.test(text)) return `${URL_HINT}; put credentials in mqtt.username and mqtt.password, not in the url`;
    return URL_HINT;
  }
  const [, scheme = '', hostPart = '', portText] = match;
  const protocol = scheme.toLowerCase() === 'mqtts' ? 'mqtts' : 'mqtt';
  const host = hostPart.toLowerCase();
  const port = portText === undefined ? (protocol === 'mqtts' ? DEFAULT_MQTTS_PORT : DEFAULT_MQTT_PORT) : Number(portText);
  if (port < 1 || port > 65_535) return `${URL_HINT}; the port must be between 1 and 65535`;
  return { url: `${protocol}://${host}:${port}`, protocol, host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

function tlsSection(context: SchemaContext) {
  return z
    .strictObject({
      ca: readableFile(context).optional(),
      cert: readableFile(context).optional(),
      key: readableFile(context).optional(),
      rejectUnauthorized: z.boolean().optional(),
    })
    .superRefine(
      (tls, ctx) => {
        if (tls.cert !== undefined && tls.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'is required when mqtt.tls.cert is given' });
        if (tls.key !== undefined && tls.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'is required when mqtt.tls.key is given' });
      },
      { when: whenMapping },
    );
}

function mqttSection(context: SchemaContext) {
  return z
    .strictObject({
      url: z.string().transform((text, ctx) => {
        const address = parseBrokerUrl(text);
        return typeof address === 'string' ? fail(ctx, address) : address;
      }),
      clientId: mqttString().min(1, { error: 'must not be empty' }).optional(),
      username: mqttString().optional(),
      password: mqttString().optional(),
      passwordFile: secretFile(context).optional(),
      keepalive: duration({
        min: 1_000,
        max: MAX_KEEPALIVE_MS,
        message: 'must be between 1s and 65535s (0 is not allowed: the keepalive is how a dead link is noticed)',
      })
        .refine((ms) => ms % 1_000 === 0, { error: 'must be a whole number of seconds (MQTT sends it in seconds)' })
        .default(DEFAULT_KEEPALIVE_MS),
      pingTimeout: duration({ min: 1 }).optional(),
      inflight: integer(1, 65_535, 'must be a positive integer').default(DEFAULT_INFLIGHT),
      maxPublishRate: integer(0, MAX_PUBLISH_RATE, 'must be a whole number of messages per second (0 = unlimited)').default(DEFAULT_MAX_PUBLISH_RATE),
      connectTimeout: duration({ min: 1 }).default(DEFAULT_CONNECT_TIMEOUT_MS),
      reconnect: section(
        z
          .strictObject({
            minDelay: duration({ min: 1 }).default(DEFAULT_RECONNECT_MIN_DELAY_MS),
            maxDelay: duration({ min: 1 }).default(DEFAULT_RECONNECT_MAX_DELAY_MS),
          })
          .superRefine((reconnect, ctx) => {
            if (reconnect.maxDelay < reconnect.minDelay) {
              ctx.addIssue({
                code: 'custom',
                path: ['maxDelay'],
                message: `must be at least mqtt.reconnect.minDelay (${formatDuration(reconnect.minDelay)})`,
              });
            }
          }),
      ),
      maxPacketSize: size({ min: MIN_INCOMING_PACKET_BYTES, max: MQTT_MAX_PACKET_BYTES }).default(DEFAULT_MAX_INCOMING_PACKET_BYTES),
      tls: z.preprocess((value) => value ?? undefined, tlsSection(context).optional()),
    })
    .superRefine(
      (mqtt, ctx) => {
        if (mqtt.password !== undefined && mqtt.passwordFile !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'cannot be used together with mqtt.password; give one of them' });
        }
      },
      { when: whenMapping },
    )
    .superRefine(
      (mqtt, ctx) => {
        if (mqtt.tls !== undefined && mqtt.url.protocol === 'mqtt') {
          ctx.addIssue({ code: 'custom', path: ['tls'], message: 'TLS settings need an mqtts:// url (mqtt.url uses mqtt://, which is plain TCP)' });
        }
      },
      { when: fieldsValid('url') },
    );
}

// ---------------------------------------------------------------------------------------------
// status, store, publish, log

/** An empty retained message deletes the retained status, so status payloads must not be empty. */
const statusPayload = z.string().min(1, { error: 'must not be empty (an empty retained message deletes the status)' });

const statusSection = z.strictObject({
  topic: topicTemplate(STATUS_TOPIC_PLACEHOLDERS).default(DEFAULT_STATUS_TOPIC),
  online: statusPayload.default(DEFAULT_STATUS_ONLINE),
  offline: statusPayload.default(DEFAULT_STATUS_OFFLINE),
});

function storeSection(context: SchemaContext) {
  return z.strictObject({
    path: nonEmptyString()
      .transform((path) => resolve(context.baseDir, path))
      .default(resolve(context.baseDir, DEFAULT_STORE_DIR)),
    maxMessages: integer(0, Number.MAX_SAFE_INTEGER, 'must be a whole number (0 = unlimited)').default(DEFAULT_STORE_MAX_MESSAGES),
    maxBytes: size().default(DEFAULT_STORE_MAX_BYTES),
    minFreeSpace: size().default(DEFAULT_STORE_MIN_FREE_SPACE),
    whenFull: z.enum(WHEN_FULL).default(DEFAULT_STORE_WHEN_FULL),
    sync: z.boolean().default(DEFAULT_STORE_SYNC),
    drain: z.enum(DRAIN_ORDERS).default(DEFAULT_STORE_DRAIN),
  });
}

const batchSection = z
  .strictObject({
    maxReadings: integer(1, Number.MAX_SAFE_INTEGER, 'must be a positive integer').default(DEFAULT_BATCH_MAX_READINGS),
    maxDelay: duration({ min: 1 }).default(DEFAULT_BATCH_MAX_DELAY_MS),
    maxBytes: size({
      min: MIN_BATCH_BYTES,
      max: MAX_BATCH_BYTES,
      message: `must be between ${formatSize(MIN_BATCH_BYTES)} (room for at least one reading) and ${formatSize(MAX_BATCH_BYTES)} (what every common broker accepts)`,
    }).default(DEFAULT_BATCH_MAX_BYTES),
  })
  .transform((batch): BatchConfig => ({ maxReadings: batch.maxReadings, maxDelayMs: batch.maxDelay, maxBytes: batch.maxBytes }));

const publishSection = z
  .strictObject({
    qos: z.literal([0, 1, 2], { error: 'must be 0, 1 or 2' }).default(DEFAULT_PUBLISH_QOS),
    retain: z.boolean().default(DEFAULT_PUBLISH_RETAIN),
    topic: topicTemplate(PUBLISH_TOPIC_PLACEHOLDERS).default(DEFAULT_PUBLISH_TOPIC),
    mode: z.enum(PUBLISH_MODES).default(DEFAULT_PUBLISH_MODE),
    // Left out: one message per reading. Given (even empty, every key commented out): batching with the defaults.
    batch: section(batchSection).optional(),
  })
  .transform(
    (publish): PublishConfig => ({
      qos: publish.qos,
      retain: publish.retain,
      topic: publish.topic,
      mode: publish.mode,
      ...(publish.batch !== undefined && { batch: publish.batch }),
    }),
  );

const logSection = z.strictObject({
  level: z.enum(LOG_LEVELS).default(DEFAULT_LOG_LEVEL),
  format: z.enum(LOG_FORMATS).default(DEFAULT_LOG_FORMAT),
});

// ---------------------------------------------------------------------------------------------
// sources: a union on `type`; a new kind of source is one more schema in SOURCE_SCHEMAS.

export const sourceName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, { error: 'must use only letters, digits, _ . and - (it is used in MQTT topics and store keys)' });

const simulatedSource = z
  .strictObject({
    type: z.literal('simulated'),
    name: sourceName,
    interval: duration().default(DEFAULT_SOURCE_INTERVAL_MS), // 0ms: as fast as the store takes them
    count: integer(1, Number.MAX_SAFE_INTEGER, 'must be a positive integer').optional(),
    publish: sourcePublishSchema().optional(),
  })
  .transform(
    (source): SimulatedSourceConfig => ({
      type: source.type,
      name: source.name,
      intervalMs: source.interval,
      ...(source.count !== undefined && { count: source.count }),
      ...(source.publish !== undefined && { publish: source.publish }),
    }),
  );

// Built when a config is parsed, not at import: the source modules use this module's field helpers.
const sourceSchemas = (context: SchemaContext) =>
  [simulatedSource, serialSourceSchema({ sourceName, duration }), gpioSourceSchema(context), oneWireSourceSchema(context)] as const;

const sourcesSchema = (context: SchemaContext) => z.array(z.discriminatedUnion('type', sourceSchemas(context))).superRefine(
  (sources: readonly unknown[], ctx) => {
    // Runs even when some entries are invalid (so it sees raw entries): reads only their names.
    const seen = new Set<string>();
    sources.forEach((source, i) => {
      const name = typeof source === 'object' && source !== null ? (source as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') return;
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate source name "${name}"` });
      seen.add(name);
    });
  },
  { when: whenList },
);

// ---------------------------------------------------------------------------------------------
// The whole file

export function configSchema(context: SchemaContext) {
  return z
    .strictObject({
      device: section(deviceSection),
      mqtt: section(mqttSection(context)),
      status: section(statusSection),
      store: section(storeSection(context)),
      publish: section(publishSection),
      metrics: section(metricsSectionSchema()),
      homeassistant: section(homeAssistantSectionSchema()),
      commands: section(commandsSectionSchema()),
      sources: z.preprocess((value) => value ?? [], sourcesSchema(context)),
      log: section(logSection),
    })
    .superRefine(
      (file, ctx) => {
        // Templates were checked with sample values; check the real topics too (length only can fail).
        const device = file.device.id;
        const statusProblem = topicProblem(expandTemplate(file.status.topic, { device }));
        if (statusProblem !== undefined) ctx.addIssue({ code: 'custom', path: ['status', 'topic'], message: statusProblem });
        file.sources.forEach((source, i) => {
          const issue = sourceTopicIssue(file.publish, source, i, device);
          if (issue !== undefined) ctx.addIssue({ code: 'custom', path: issue.own ? ['sources', i, 'publish', issue.key] : ['publish', issue.key], message: issue.message });
        });
      },
      { when: fieldsValid('device', 'status', 'publish', 'sources') },
    )
    .superRefine(
      (file, ctx) => {
        if (!file.commands.enabled) return;
        const device = file.device.id;
        const commandTopic = resolveCommands(file.commands, device).topic;
        const published = [expandTemplate(file.status.topic, { device })];
        for (const source of file.sources) published.push(expandTemplate(source.publish?.topic ?? file.publish.topic, { device, source: source.name, field: 'field' }));
        const clash = published.map((topic) => commandTopicClash(commandTopic, topic)).find((problem) => problem !== undefined);
        if (clash !== undefined) ctx.addIssue({ code: 'custom', path: ['commands', 'topic'], message: clash });
      },
      { when: fieldsValid('device', 'status', 'publish', 'sources', 'commands') },
    )
    .transform((file): AgentConfig => {
      const { mqtt } = file;
      const tls: TlsConfig = {
        ...(mqtt.tls?.ca !== undefined && { ca: mqtt.tls.ca }),
        ...(mqtt.tls?.cert !== undefined && { cert: mqtt.tls.cert }),
        ...(mqtt.tls?.key !== undefined && { key: mqtt.tls.key }),
        rejectUnauthorized: mqtt.tls?.rejectUnauthorized ?? DEFAULT_TLS_REJECT_UNAUTHORIZED,
      };
      const sources: SourceConfig[] = file.sources;
      return {
        device: { id: file.device.id },
        mqtt: {
          ...mqtt.url,
          clientId: mqtt.clientId ?? file.device.id,
          ...(mqtt.username !== undefined && { username: mqtt.username }),
          ...password(mqtt.password, mqtt.passwordFile, context.env),
          keepaliveMs: mqtt.keepalive,
          pingTimeoutMs: mqtt.pingTimeout ?? Math.min(Math.floor(mqtt.keepalive / 2), DEFAULT_PING_TIMEOUT_CAP_MS),
          inflight: mqtt.inflight,
          maxPublishRate: mqtt.maxPublishRate,
          connectTimeoutMs: mqtt.connectTimeout,
          reconnect: { minDelayMs: mqtt.reconnect.minDelay, maxDelayMs: mqtt.reconnect.maxDelay },
          maxIncomingPacketBytes: mqtt.maxPacketSize,
          tls,
        },
        status: { ...file.status, topic: expandTemplate(file.status.topic, { device: file.device.id }) },
        store: file.store,
        publish: file.publish,
        metrics: file.metrics,
        homeassistant: file.homeassistant,
        commands: resolveCommands(file.commands, file.device.id),
        sources,
        log: file.log,
      };
    });
}

/**
 * What is wrong with a source's topic once its mode is known: field mode needs {field} (one topic
 * per field), reading mode must not have it, and the expanded topic must be publishable. `own`:
 * the source's publish section holds the offending key, else the global publish section does.
 */
function sourceTopicIssue(
  publish: PublishConfig,
  source: SourceConfig,
  index: number,
  device: string,
): { own: boolean; key: 'topic' | 'mode'; message: string } | undefined {
  const own = source.publish;
  const topic = own?.topic ?? publish.topic;
  const mode = own?.mode ?? publish.mode;
  const topicIsOwn = own?.topic !== undefined;
  const hasField = /\{field\}/.test(topic);
  if (mode === 'field' && !hasField) {
    // Blame the key the user set for this source: its mode when it inherits the topic.
    if (!topicIsOwn && own?.mode !== undefined) {
      return { own: true, key: 'mode', message: `field mode needs {field} in the topic, and publish.topic "${topic}" has none: set sources[${index}].publish.topic too` };
    }
    return { own: topicIsOwn, key: 'topic', message: `must contain {field} in field mode (one message per field; source ${source.name})` };
  }
  if (mode === 'reading' && hasField) {
    return { own: topicIsOwn, key: 'topic', message: `{field} is only for field mode (publish.mode or sources[].publish.mode: field; source ${source.name} publishes readings)` };
  }
  const problem = topicProblem(expandTemplate(topic, { device, source: source.name, field: 'field' }));
  return problem === undefined ? undefined : { own: topicIsOwn, key: 'topic', message: `${problem} (for source ${source.name})` };
}

/** mqtt.password, else mqtt.passwordFile, else $SENSORGATE_MQTT_PASSWORD (empty counts as unset). */
function password(
  inline: string | undefined,
  file: { path: string; secret: string } | undefined,
  env: SchemaContext['env'],
): Pick<MqttConfig, 'password' | 'passwordSource' | 'passwordFile'> {
  if (inline !== undefined) return { password: inline, passwordSource: 'config' };
  if (file !== undefined) return { password: file.secret, passwordSource: 'passwordFile', passwordFile: file.path };
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { password: fromEnv, passwordSource: 'env' };
  return {};
}
