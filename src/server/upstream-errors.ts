// How upstream failures read to the gateway: which are worth another attempt, which headers
// the client's own retry logic needs, and the gateway's code for a failed connection.
import { errors as undiciErrors } from 'undici';
import { redactText } from '../util/redact.js';
import type { ErrorCode } from './errors.js';

/** Statuses after which another upstream may do better: rate limits, overload, server errors. */
export function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Upstream headers the client's own retry logic reads; kept on every error it finally gets. */
const RETRY_HEADERS = ['retry-after', 'retry-after-ms', 'x-should-retry', 'request-id'];

export function retryHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || !(RETRY_HEADERS.includes(k) || k.startsWith('anthropic-ratelimit-'))) continue;
    kept[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return kept;
}

/** The gateway's code for an upstream call that got no answer, and its cause (no secrets). */
export function upstreamErrorCode(err: unknown): { code: ErrorCode; cause: string } {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    return { code: 'TG_UPSTREAM_TIMEOUT', cause: e.code ?? 'timeout' };
  }
  const cause = e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? 'unknown error';
  return { code: 'TG_UPSTREAM_UNREACHABLE', cause: redactText(cause) };
}
