/**
 * Reads the agent's HTTP listener (metrics.listen) the way Prometheus and a health checker
 * would. Every request is bounded.
 */
const REQUEST_TIMEOUT_MS = 3_000;

export interface HttpResult {
  status: number;
  contentType: string | null;
  text: string;
}

export async function httpGet(port: number, path: string): Promise<HttpResult> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

/** `name{labels}` → value, from the Prometheus text format. */
export function parseSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

export async function scrape(port: number): Promise<Map<string, number>> {
  const result = await httpGet(port, '/metrics');
  if (result.status !== 200) throw new Error(`/metrics answered ${result.status}: ${result.text}`);
  return parseSamples(result.text);
}

export async function healthz(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const result = await httpGet(port, '/healthz');
  return { status: result.status, body: JSON.parse(result.text) as Record<string, unknown> };
}
