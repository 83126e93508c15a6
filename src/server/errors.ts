// Every error the gateway itself produces, with a stable code (in the style of undici's
// UND_ERR_*), its HTTP status and the Anthropic error type Claude Code understands.
// docs/errors.md documents each code; a test checks that none is missing there.
import type { ServerResponse } from 'node:http';

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export const errorCodes = {
  TG_BAD_JSON: { status: 400, type: 'invalid_request_error', summary: 'request body is not valid JSON' },
  TG_BAD_REQUEST: { status: 400, type: 'invalid_request_error', summary: 'request body is missing a required field or has a wrong type' },
  TG_NO_KEY: { status: 401, type: 'authentication_error', summary: 'no virtual key in Authorization: Bearer or x-api-key' },
  TG_UNKNOWN_KEY: { status: 401, type: 'authentication_error', summary: 'the virtual key is not known to this gateway' },
  TG_REVOKED_KEY: { status: 401, type: 'authentication_error', summary: 'the virtual key, or the sign-in session, was revoked' },
  TG_TOKEN_EXPIRED: {
    status: 401,
    type: 'authentication_error',
    summary: 'the sign-in access token expired (Claude Code refreshes it; x-should-retry: false)',
  },
  TG_KEY_EXPIRED: { status: 401, type: 'authentication_error', summary: 'the virtual key is past its expiry date (keys create --expires)' },
  TG_NOT_FOUND: { status: 404, type: 'not_found_error', summary: 'no such endpoint on this gateway' },
  TG_METHOD: { status: 405, type: 'invalid_request_error', summary: 'method not allowed on this endpoint' },
  TG_BODY_TOO_LARGE: { status: 413, type: 'request_too_large', summary: 'request body larger than server.max_body_bytes' },
  TG_HEADERS_TOO_LARGE: { status: 431, type: 'invalid_request_error', summary: 'request headers larger than 16 KB' },
  TG_REQUEST_TIMEOUT: {
    status: 408,
    type: 'timeout_error',
    summary: 'the client did not send its request headers (server.header_timeout_ms) or whole request (server.request_timeout_ms) in time',
  },
  TG_UNSUPPORTED_ENCODING: { status: 415, type: 'invalid_request_error', summary: 'request Content-Encoding the gateway cannot read' },
  TG_MODEL_NOT_ON_ROUTE: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'the model is unknown to the catalog or not available on the route(s) serving this key',
  },
  TG_FEATURE_NOT_ON_ROUTE: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'the request uses a feature no upstream on its route offers (web search on Bedrock); another route on the list serves it if there is one',
  },
  TG_MODEL_UNPRICED: {
    status: 403,
    type: 'permission_error',
    summary: 'the model has no price, and prices.unpriced is refuse: add it to a price file (prices.file) or set prices.unpriced: reserve',
  },
  TG_MODEL_NOT_ALLOWED: {
    status: 403,
    type: 'permission_error',
    summary: 'the model is not allowed for this team or key by policy (the message names the allowed ones)',
  },
  TG_RATE_LIMITED: {
    status: 429,
    type: 'rate_limit_error',
    summary: 'a rate limit (requests or tokens per minute, concurrent requests) of the key, user or team was reached; retry-after says when to retry',
  },
  TG_BUDGET_EXHAUSTED: {
    status: 429,
    type: 'rate_limit_error',
    summary: 'a hard budget covering the request is spent; the message says which, spent vs limit, when it resets and whom to ask (x-should-retry: false)',
  },
  TG_ADMIN_AUTH: { status: 401, type: 'authentication_error', summary: 'the admin API needs Authorization: Bearer <admin token>' },
  TG_ADMIN_FORBIDDEN: {
    status: 403,
    type: 'permission_error',
    summary: 'a read-only console role may look but not change; or a console change without its CSRF token (x-csrf-token)',
  },
  TG_METRICS_AUTH: { status: 401, type: 'authentication_error', summary: '/metrics needs Authorization: Bearer <metrics.token>' },
  TG_ADMIN_DISABLED: { status: 403, type: 'permission_error', summary: 'the admin API is off: set TOLLGATE_ADMIN_TOKEN or admin.token' },
  TG_NO_UPSTREAM: { status: 503, type: 'api_error', summary: 'no upstream is configured to serve this request', retry: false },
  TG_UPSTREAM_NO_CREDENTIALS: {
    status: 500,
    type: 'api_error',
    summary: "the upstream has no credentials configured (an operator must fix the gateway's config; not retried)",
    retry: false,
  },
  TG_UPSTREAM_AUTH: {
    status: 502,
    type: 'api_error',
    summary:
      "the upstream refused the gateway's own credentials (401/403, bad signature, expired token): the message names the upstream and the fix; not retried",
    retry: false,
  },
  TG_UPSTREAM_UNREACHABLE: { status: 502, type: 'api_error', summary: 'the upstream could not be reached (DNS, connection refused or reset, TLS)' },
  TG_UPSTREAM_TIMEOUT: { status: 504, type: 'timeout_error', summary: 'the upstream did not answer in time' },
  TG_UPSTREAM_BAD_RESPONSE: {
    status: 502,
    type: 'api_error',
    summary: 'the upstream sent a response the gateway could not read (e.g. a malformed message_start)',
  },
  TG_UPSTREAM_INCOMPLETE: {
    status: 502,
    type: 'api_error',
    summary: "the upstream's response ended before it was complete (a stream without message_stop, a truncated body); the ledger line keeps what was metered",
  },
  TG_STORE_UNAVAILABLE: {
    status: 503,
    type: 'api_error',
    summary:
      'the gateway cannot write its ledger (disk full, read-only, I/O error), so it sends nothing upstream (store.on_failure: closed); the message names the cause',
  },
  TG_SHUTDOWN: {
    status: 503,
    type: 'api_error',
    summary:
      'the gateway is shutting down: the request arrived too late, or was still running when the grace period (server.shutdown_grace_ms) ended; retrying reaches another replica',
  },
  TG_INTERNAL: { status: 500, type: 'api_error', summary: 'unexpected gateway error (a bug: please report it)' },
} as const satisfies Record<string, { status: number; type: AnthropicErrorType; summary: string; retry?: boolean }>;

export type ErrorCode = keyof typeof errorCodes;

export class GatewayError extends Error {
  readonly status: number;
  readonly type: AnthropicErrorType;
  /** Whether a client may retry: transient 5xx yes; 4xx and what only an operator can fix no
   * (answered with x-should-retry: false). */
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    detail: string,
    readonly headers: Record<string, string> = {},
    /** Another Anthropic type where a client's protocol asks for one (billing_error at a spend cap). */
    type?: AnthropicErrorType,
  ) {
    super(detail);
    const c: { status: number; type: AnthropicErrorType; retry?: boolean } = errorCodes[code];
    this.status = c.status;
    this.type = type ?? c.type;
    this.retryable = c.retry ?? c.status >= 500;
  }

  /** Anthropic's error envelope; the code leads the message so logs and users can quote it. */
  body(requestId?: string): string {
    return errorEnvelope(this.type, `${this.code}: ${this.message}`, requestId);
  }
}

/** Anthropic's error envelope: the one shape every error the gateway answers takes, its own
 * and an upstream's (mapped to Anthropic's types). */
export function errorEnvelope(type: string, message: string, requestId?: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, ...(requestId ? { request_id: requestId } : {}) });
}

/** Answers with an error envelope (nothing may have been sent yet). */
export function sendError(res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
