// The access-log line of a request with a ledger line: who, what, where, how it ended, what it
// cost and how long it took. Built from the line, which holds no prompt text and no secret
// (the key appears as its id, never its value).
import type { LedgerLine } from '../store/types.js';

/** Responses whose request has a ledger line (its access line and metrics come from the line).
 * A WeakSet rather than a property: adding one to every response would change its shape. */
export const lined = new WeakSet<object>();

export function accessFields(l: LedgerLine): Record<string, unknown> {
  return {
    request_id: l.id,
    endpoint: l.endpoint,
    key_id: l.key_id,
    user: l.user,
    team: l.team,
    project: l.project,
    model: l.model_served ?? l.model_requested,
    route: l.route,
    upstream: l.upstream,
    status: l.http_status,
    ...(l.error_code || l.error_type ? { error: l.error_code ?? l.error_type } : {}),
    streamed: l.streamed,
    input_tokens: l.input_tokens,
    output_tokens: l.output_tokens,
    cache_read_tokens: l.cache_read_input_tokens,
    cache_write_tokens: l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens,
    cost_usd: l.cost_nanousd / 1e9,
    attempts: l.attempts.length,
    ttfb_ms: l.ttfb_ms === null ? null : Math.round(l.ttfb_ms * 10) / 10,
    duration_ms: Math.round(l.duration_ms * 10) / 10,
    ...(l.client_aborted ? { client_aborted: true } : {}),
  };
}
