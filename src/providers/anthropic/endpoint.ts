// Endpoint of the Anthropic route: the same path the client asked for, on the upstream's base
// URL (which may carry a path prefix, e.g. a corporate proxy).
import type { Endpoint } from '../types.js';

const PATHS: Record<Endpoint, string> = { messages: '/v1/messages', count_tokens: '/v1/messages/count_tokens' };

export function endpointUrl(baseUrl: string, endpoint: Endpoint, search: string): string {
  return baseUrl.replace(/\/+$/, '') + PATHS[endpoint] + search;
}
