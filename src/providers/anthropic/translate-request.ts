// The Anthropic route is pass-through: body bytes, anthropic-version, anthropic-beta and every
// other end-to-end header reach the upstream unchanged. Nothing is allowlisted.
import { forwardRequestHeaders } from '../../server/headers.js';
import type { InboundRequest } from '../types.js';

export function translateHeaders(req: InboundRequest): Record<string, string> {
  return forwardRequestHeaders(req.headers);
}
