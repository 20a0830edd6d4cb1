/**
 * Config of the optional services around the delivery core: the metrics/health listener
 * (`metrics`), Home Assistant discovery (`homeassistant`) and remote commands (`commands`).
 * Built by functions, when a config is parsed, for the reason given in sources/publish.ts.
 */
import * as z from 'zod';
import { duration, expandTemplate, topicProblem, topicTemplate } from './schema.js';

export interface MetricsConfig {
  /** Where the HTTP listener binds; absent: no listener. */
  listen?: { host: string; port: number };
  /** /healthz: how long a queued message may wait undelivered before the agent is unhealthy. */
  healthWindowMs: number;
}

export interface HomeAssistantConfig {
  discovery: boolean;
  /** Discovery prefix; Home Assistant announces itself on `<prefix>/status`. */
  prefix: string;
}

export interface CommandsConfig {
  enabled: boolean;
  /** Expanded ({device} replaced): commands arrive on `<topic>/<name>`, results go to `<topic>/<name>/result`. */
  topic: string;
}

export const DEFAULT_METRICS_HEALTH_WINDOW_MS = 5 * 60_000;
export const DEFAULT_HOMEASSISTANT_DISCOVERY = false;
export const DEFAULT_HOMEASSISTANT_PREFIX = 'homeassistant';
export const DEFAULT_COMMANDS_ENABLED = false;
export const DEFAULT_COMMANDS_TOPIC = 'sensorgate/{device}/cmd';
/** A bare port in metrics.listen binds here: metrics stay on the gateway unless asked otherwise. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

const LISTEN_HINT = 'must be host:port (127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464) or a port number';
const LISTEN = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/;

/** `127.0.0.1:9464`, `[::1]:9464` or `9464` → host and port; a string is the problem. */
export function parseListen(value: string | number): { host: string; port: number } | string {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 1 && value <= 65_535 ? { host: DEFAULT_METRICS_HOST, port: value } : `${LISTEN_HINT}; the port must be 1..65535`;
  }
  const match = LISTEN.exec(value.trim());
  if (match === null) return LISTEN_HINT;
  const [, v6, host, portText = ''] = match;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return `${LISTEN_HINT}; the port must be 1..65535`;
  return { host: v6 ?? host ?? '', port };
}

export function metricsSectionSchema() {
  return z
    .strictObject({
      // null (a key left empty) or false: no listener, the default.
      listen: z
        .union([z.string(), z.number(), z.literal(false), z.null()], { error: LISTEN_HINT })
        .transform((value, ctx) => {
          if (value === false || value === null) return undefined;
          const parsed = parseListen(value);
          if (typeof parsed !== 'string') return parsed;
          ctx.addIssue({ code: 'custom', message: parsed });
          return z.NEVER;
        })
        .optional(),
      healthWindow: duration({ min: 1_000, message: 'must be at least 1s' }).default(DEFAULT_METRICS_HEALTH_WINDOW_MS),
    })
    .transform((metrics): MetricsConfig => ({ ...(metrics.listen !== undefined && { listen: metrics.listen }), healthWindowMs: metrics.healthWindow }));
}

const PREFIX_HINT = 'must be a topic prefix like homeassistant (no + or #, no leading or trailing /)';

export function homeAssistantSectionSchema() {
  return z.strictObject({
    discovery: z.boolean().default(DEFAULT_HOMEASSISTANT_DISCOVERY),
    prefix: z
      .string()
      .superRefine((prefix, ctx) => {
        const problem = topicProblem(prefix);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        else if (prefix.startsWith('/') || prefix.endsWith('/')) ctx.addIssue({ code: 'custom', message: PREFIX_HINT });
      })
      .default(DEFAULT_HOMEASSISTANT_PREFIX),
  });
}

export function commandsSectionSchema() {
  return z.strictObject({
    enabled: z.boolean().default(DEFAULT_COMMANDS_ENABLED),
    topic: topicTemplate({ device: 'device' })
      .refine((topic) => !topic.endsWith('/'), { error: 'must not end with / (commands are <topic>/<name>)' })
      .default(DEFAULT_COMMANDS_TOPIC),
  });
}

/** commands.topic with {device} replaced. */
export function resolveCommands(commands: { enabled: boolean; topic: string }, device: string): CommandsConfig {
  return { enabled: commands.enabled, topic: expandTemplate(commands.topic, { device }) };
}

/**
 * Why a topic the agent publishes to would arrive back as a command, or undefined: the agent
 * subscribes to `<commands.topic>/+`, so one level below it is taken for a command name.
 */
export function commandTopicClash(commandTopic: string, published: string): string | undefined {
  if (!published.startsWith(`${commandTopic}/`) || published.slice(commandTopic.length + 1).includes('/')) return undefined;
  return `${published} is published by the agent and would arrive back as a command: choose another commands.topic`;
}
