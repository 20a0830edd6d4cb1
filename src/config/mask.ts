/**
 * The resolved config for people to read (`sensorgate check`): secrets masked, never printed.
 */
import { stringify } from 'yaml';
import type { AgentConfig } from './types.js';

export const MASK = '********';

/** Below this length a password is masked only where a value equals it, not inside other text. */
const MIN_SCRUB_LENGTH = 4;

/**
 * A copy of `config` safe to show: the password replaced by `********` (where it came from is
 * kept: mqtt.passwordSource), and, as a second line of defence, any other value that contains
 * the password (a username that equals it, say) masked as well.
 */
export function maskConfig(config: AgentConfig): unknown {
  const copy = structuredClone(config);
  const { password } = copy.mqtt;
  if (password === undefined) return copy;
  copy.mqtt.password = MASK;
  return scrub(copy, password);
}

function scrub(value: unknown, secret: string): unknown {
  if (typeof value === 'string') {
    if (value === secret) return MASK;
    return secret.length >= MIN_SCRUB_LENGTH ? value.replaceAll(secret, MASK) : value;
  }
  if (Array.isArray(value)) return value.map((item: unknown) => scrub(item, secret));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, scrub(item, secret)]));
  }
  return value;
}

/** The masked config as YAML, with a header saying what the units are. */
export function formatResolvedConfig(config: AgentConfig): string {
  const header = '# sensorgate resolved config: defaults applied, durations in ms, sizes in bytes, secrets masked\n';
  return header + stringify(maskConfig(config), { lineWidth: 0 });
}
