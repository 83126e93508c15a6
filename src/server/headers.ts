// Header handling shared by every route: what may cross the gateway in each direction.
import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus ones the HTTP client sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'http2-settings',
]);

/** The client's credentials are for the gateway only and never travel upstream. */
const CLIENT_CREDENTIALS = new Set(['authorization', 'x-api-key', 'cookie']);

/** Content codings the meter can decode; an upstream is only ever offered these. */
export const DECODABLE_ENCODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'identity']);

function connectionTokens(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Set<string> {
  const c = h.connection;
  const v = Array.isArray(c) ? c.join(',') : (c ?? '');
  return new Set(
    v
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Filters Accept-Encoding to codings the meter can read, keeping the client's order and q-values. */
export function filterAcceptEncoding(v: string): string | null {
  const kept = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => DECODABLE_ENCODINGS.has(s.split(';')[0]!.trim().toLowerCase()));
  return kept.length ? kept.join(', ') : null;
}

/** End-to-end request headers to forward upstream, minus hop-by-hop and client credentials. */
export function forwardRequestHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const conn = connectionTokens(h);
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || CLIENT_CREDENTIALS.has(k) || conn.has(k)) continue;
    const value = Array.isArray(v) ? v.join(', ') : v;
    if (k === 'accept-encoding') {
      const f = filterAcceptEncoding(value);
      if (f) out[k] = f;
      continue;
    }
    out[k] = value;
  }
  return out;
}

/** Response headers to return to the client: everything but hop-by-hop. */
export function forwardResponseHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const conn = connectionTokens(h);
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || conn.has(k)) continue;
    if (HOP_BY_HOP.has(k) && k !== 'content-length') continue;
    out[k] = v;
  }
  return out;
}

export function headerValue(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}
