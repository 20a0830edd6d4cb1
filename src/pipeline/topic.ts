/** Topic templates: `{device}`, `{source}` and `{field}` placeholders. */
export interface TopicVars {
  device: string;
  source: string;
  field?: string;
}

const PLACEHOLDER = /\{(device|source|field)\}/g;

export function expandTopic(template: string, vars: TopicVars): string {
  return template.replace(PLACEHOLDER, (_match, name: keyof TopicVars) => vars[name] ?? '');
}
