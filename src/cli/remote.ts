// The CLI against a remote gateway's admin API (--url), token from $TOLLGATE_ADMIN_TOKEN.
import { request } from 'undici';
import { UsageError } from './shared.js';

export async function admin(url: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const token = process.env.TOLLGATE_ADMIN_TOKEN;
  if (!token) throw new UsageError('--url needs the admin token in $TOLLGATE_ADMIN_TOKEN');
  let res;
  try {
    res = await request(url.replace(/\/+$/, '') + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-tollgate-actor': `cli:${process.env.USER ?? 'unknown'}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
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
