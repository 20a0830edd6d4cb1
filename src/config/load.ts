/**
 * Loading a config file: read it (YAML or JSON by extension), parse it, validate it against the
 * schema, and resolve it into an `AgentConfig`. Every failure is a `ConfigError` naming the file
 * and, where possible, the field and line.
 */
import { dirname, extname, resolve } from 'node:path';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { ConfigIssue } from './errors.js';
import { ConfigError } from './errors.js';
import { FileProblem, readTextFile } from './files.js';
import { configSchema } from './schema.js';
import type { AgentConfig } from './types.js';
import { plainMessage, toConfigIssues } from './zod-issues.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Config files are small; anything bigger is a mistake (or /var/log/syslog passed by accident). */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases allowed when building the value (guards against "billion laughs" files). */
const MAX_YAML_ALIASES = 100;

type LineOf = (segments: ReadonlyArray<string | number>) => number | undefined;

export interface ParseOptions {
  /** Directory that relative paths in the config resolve against (the config file's directory). */
  baseDir: string;
  /** Environment for secrets (SENSORGATE_MQTT_PASSWORD). */
  env: Env;
  /** The file the config came from, for messages. */
  file?: string;
  /** Where a field sits in the file, for messages. */
  lineOf?: LineOf;
}

/**
 * Validates an already-parsed config value and resolves it. Collects every issue before failing.
 * @throws ConfigError
 */
export async function parseConfig(raw: unknown, options: ParseOptions): Promise<AgentConfig> {
  if (raw === null || raw === undefined) {
    throw new ConfigError([{ path: '', message: 'the config is empty (at least device.id and mqtt.url are required)' }], options.file);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'the config must be a mapping of sections (device:, mqtt:, ...)' }], options.file);
  }
  const schema = configSchema({ baseDir: resolve(options.baseDir), env: options.env });
  const result = await schema.safeParseAsync(raw, { error: plainMessage });
  if (result.success) return result.data;
  const issues = toConfigIssues(result.error.issues).map(({ segments, ...issue }): ConfigIssue => {
    const line = options.lineOf?.(segments);
    return line === undefined ? issue : { ...issue, line };
  });
  // In file order (zod finishes async checks last); issues without a line first. sort() is stable.
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  throw new ConfigError(issues, options.file);
}

/**
 * Reads, validates and resolves the config file at `path` (.yaml, .yml or .json).
 * @throws ConfigError
 */
export async function loadConfig(path: string, env: Env = process.env): Promise<AgentConfig> {
  const extension = extname(path).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(extension)) {
    const given = extension === '' ? 'no extension' : `"${extension}"`;
    throw new ConfigError([{ path: '', message: `unsupported config file type (${given}): use .yaml, .yml or .json` }], path);
  }
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readTextFile(absolute, MAX_CONFIG_BYTES);
  } catch (err) {
    if (err instanceof FileProblem) throw new ConfigError([{ path: '', message: err.message }], path);
    throw err;
  }
  text = text.replace(/^\uFEFF/, '');
  const { raw, lineOf } = extension === '.json' ? parseJson(text, path) : parseYaml(text, path);
  return parseConfig(raw, { baseDir: dirname(absolute), env, file: path, lineOf });
}

/** parseDocument, with parser crashes (say, a stack overflow on absurd nesting) as ConfigError. */
function parseYamlDocument(text: string, file: string): { doc: Document; lineCounter: LineCounter } {
  const lineCounter = new LineCounter();
  try {
    return { doc: parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true }), lineCounter };
  } catch (err) {
    throw new ConfigError([{ path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` }], file);
  }
}

function parseYaml(text: string, file: string): { raw: unknown; lineOf: LineOf } {
  const { doc, lineCounter } = parseYamlDocument(text, file);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((error) => ({ path: '', message: `YAML syntax error: ${error.message}`, ...where(lineCounter, error.pos[0]) })),
      file,
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    throw new ConfigError([{ path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` }], file);
  }
  return { raw, lineOf: lineFinder(doc, lineCounter) };
}

function parseJson(text: string, file: string): { raw: unknown; lineOf: LineOf | undefined } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const position = /at position (\d+)/.exec(message)?.[1];
    const at = position === undefined ? {} : positionOf(text, Number(position));
    const reason = message.replace(/ in JSON at position \d+.*$/s, '');
    throw new ConfigError([{ path: '', message: `JSON syntax error: ${reason}`, ...at }], file);
  }
  // JSON is YAML, so the YAML parser can tell where fields are, and catch duplicate keys
  // (JSON.parse silently keeps the last one; a config must not mean something else than it says).
  const { doc, lineCounter } = parseYamlDocument(text, file);
  const duplicates = doc.errors.filter((error) => error.code === 'DUPLICATE_KEY');
  if (duplicates.length > 0) {
    throw new ConfigError(
      duplicates.map((error) => ({ path: '', message: 'duplicate key (keys must be unique)', ...where(lineCounter, error.pos[0]) })),
      file,
    );
  }
  return { raw, lineOf: doc.errors.length === 0 ? lineFinder(doc, lineCounter) : undefined };
}

function where(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lastBreak = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - lastBreak };
}

/**
 * Line of a field in the document: its key for mapping entries, the item for list entries.
 * For a missing field (`is required`), the line of the closest enclosing one that exists.
 */
function lineFinder(doc: Document, lineCounter: LineCounter): LineOf {
  return (segments) => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const segment of segments) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (isScalar(item.key) ? item.key.value : item.key) === segment);
        if (pair === undefined) break;
        offset = isNode(pair.key) ? pair.key.range?.[0] : offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        offset = isNode(node) ? node.range?.[0] : offset;
      } else {
        break;
      }
    }
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
}
