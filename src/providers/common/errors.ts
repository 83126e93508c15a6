// Reading an upstream's error in Anthropic's terms (Anthropic and Vertex answer in its shape).
import type { MappedError } from '../types.js';

/** Anthropic error type for an HTTP status, as the Messages API uses them. */
export function typeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** Reads an Anthropic-shaped error body; falls back to the status. */
export function parseAnthropicError(status: number, body: string): MappedError {
  try {
    const j = JSON.parse(body) as { error?: { type?: unknown; message?: unknown } };
    if (j.error && typeof j.error.type === 'string') {
      return { status, type: j.error.type, message: typeof j.error.message === 'string' ? j.error.message : j.error.type };
    }
  } catch {
    /* not JSON */
  }
  return { status, type: typeForStatus(status), message: body.slice(0, 500) || `HTTP ${status}` };
}
