// The CLI against a remote gateway's admin API (--url or $TOLLGATE_URL), token from
// $TOLLGATE_ADMIN_TOKEN. The API answers what the local command would print with --json.
import { request } from 'undici';
import { UsageError } from './shared.js';

type Query = Record<string, string | number | boolean | undefined | null>;

function target(url: string, path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== false) qs.set(k, String(v));
  const s = qs.toString();
  return url.replace(/\/+$/, '') + path + (s ? `?${s}` : '');
}

export async function admin(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  opts: { query?: Query; raw?: Buffer } = {},
): Promise<unknown> {
  const token = process.env.TOLLGATE_ADMIN_TOKEN;
  if (!token) throw new UsageError('--url needs the admin token in $TOLLGATE_ADMIN_TOKEN');
  let res;
  try {
    res = await request(target(url, path, opts.query), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': opts.raw ? 'application/octet-stream' : 'application/json',
        'x-tollgate-actor': `cli:${process.env.USER ?? 'unknown'}`,
      },
      body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
  } catch (err) {
    throw new UsageError(`cannot reach ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  const text = await res.body.text();
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new UsageError(`${url}${path}: HTTP ${res.statusCode}, not JSON`);
  }
  if (res.statusCode >= 400) {
    const m = (j as { error?: { message?: string } }).error?.message ?? `HTTP ${res.statusCode}`;
    throw new UsageError(`${url}: ${m}`);
  }
  return j;
}
