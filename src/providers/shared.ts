// Pieces more than one adapter uses.
import { Agent } from 'undici';
import { ModelNotOnRoute } from '../routing/resolve.js';
import { GatewayError } from '../server/errors.js';
import type { MappedError } from './types.js';

/** Runs a model resolution; a model the route lacks becomes the gateway's 400 naming the upstream. */
export function resolveOrRefuse<T>(upstream: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof ModelNotOnRoute) throw new GatewayError('TG_MODEL_NOT_ON_ROUTE', `upstream "${upstream}": ${err.message}`);
    throw err;
  }
}

export function keepAliveAgent(connectTimeoutMs: number): Agent {
  // Keep-alive pool per upstream; requests are long-lived streams, so no pipelining.
  return new Agent({ connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 30_000, connections: 256 });
}

/** Anthropic error type for an HTTP status, as the Messages API uses them. */
export function typeForStatus(status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 402: return 'billing_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 504: return 'timeout_error';
    case 529: return 'overloaded_error';
    default: return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** Reads an Anthropic-shaped error body; falls back to the status. */
export function parseAnthropicError(status: number, body: string): MappedError {
  try {
    const j = JSON.parse(body) as { error?: { type?: unknown; message?: unknown } };
    if (j.error && typeof j.error.type === 'string') {
      return { status, type: j.error.type, message: typeof j.error.message === 'string' ? j.error.message : j.error.type };
    }
  } catch { /* not JSON */ }
  return { status, type: typeForStatus(status), message: body.slice(0, 500) || `HTTP ${status}` };
}

/** Betas from the anthropic-beta header, minus those a route rejects. */
export function betasFrom(header: string | string[] | undefined, drop: readonly string[]): string[] {
  const v = Array.isArray(header) ? header.join(',') : header ?? '';
  return v.split(',').map((s) => s.trim()).filter((s) => s && !drop.includes(s));
}

export function modelSwapper(clientModel: string): (event: string, data: string) => string {
  // The client sees the model id it asked for, not the route's id.
  return (event, data) => {
    if (event !== 'message_start') return data;
    try {
      const j = JSON.parse(data) as { message?: { model?: string } };
      if (j.message) j.message.model = clientModel;
      return JSON.stringify(j);
    } catch {
      return data;
    }
  };
}
