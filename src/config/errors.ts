/** One problem in a config file, named by the field it concerns. */
export interface ConfigIssue {
  /** Field path like `mqtt.reconnect.maxDelay` or `sources[0].interval`; '' for the file as a whole. */
  path: string;
  /** Plain English, e.g. `must be a positive integer`. */
  message: string;
  /** 1-based line (and column, for syntax errors) in the config file, when known. */
  line?: number;
  column?: number;
}

export function formatIssue(issue: ConfigIssue): string {
  const column = issue.column === undefined ? '' : `, column ${issue.column}`;
  const where = issue.line === undefined ? '' : ` (line ${issue.line}${column})`;
  return issue.path === '' ? `${issue.message}${where}` : `${issue.path}: ${issue.message}${where}`;
}

/**
 * The config could not be read or is invalid. Carries every issue found, not just the first,
 * so one edit-check cycle fixes them all. The message lists each as `field.path: message`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  /** The config file, when the config came from one. */
  readonly file: string | undefined;

  constructor(issues: readonly ConfigIssue[], file?: string) {
    const head = file === undefined ? 'invalid config' : `invalid config ${file}`;
    super(`${head}:\n${issues.map((issue) => `  ${formatIssue(issue)}`).join('\n')}`);
    this.issues = issues;
    this.file = file;
  }
}

/** `['sources', 0, 'interval']` → `sources[0].interval`; odd keys are quoted: `a["b c"]`. */
export function formatPath(segments: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}
