// Vertex errors come in Google's shape ({"error":{"code","status","message"}}, sometimes in an
// array) or Anthropic's; both leave in Anthropic's.
import { parseAnthropicError } from '../common/errors.js';
import type { MappedError } from '../types.js';

const BY_STATUS: Record<string, [number, string]> = {
  RESOURCE_EXHAUSTED: [429, 'rate_limit_error'],
  UNAVAILABLE: [529, 'overloaded_error'],
  INVALID_ARGUMENT: [400, 'invalid_request_error'],
  FAILED_PRECONDITION: [400, 'invalid_request_error'],
  OUT_OF_RANGE: [400, 'invalid_request_error'],
  PERMISSION_DENIED: [403, 'permission_error'],
  // The gateway's own Google credentials were refused: not the engineer's key.
  UNAUTHENTICATED: [502, 'api_error'],
  NOT_FOUND: [404, 'not_found_error'],
  DEADLINE_EXCEEDED: [504, 'timeout_error'],
  INTERNAL: [500, 'api_error'],
  ABORTED: [500, 'api_error'],
  CANCELLED: [500, 'api_error'],
};

export function mapVertexError(status: number, body: string): MappedError {
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    return parseAnthropicError(status, body);
  }
  const g = (Array.isArray(j) ? j[0] : j) as { error?: { code?: unknown; status?: unknown; message?: unknown }; type?: unknown };
  if (g && typeof g === 'object' && g.type === 'error') return parseAnthropicError(status, body);
  const e = g?.error;
  if (e && typeof e.status === 'string') {
    const m = BY_STATUS[e.status];
    const message = `${e.status} from Vertex AI: ${typeof e.message === 'string' ? e.message : ''}`;
    if (m) return { status: m[0], type: m[1], message };
    return { status: typeof e.code === 'number' ? e.code : status, type: status >= 500 ? 'api_error' : 'invalid_request_error', message };
  }
  return parseAnthropicError(status, body);
}
