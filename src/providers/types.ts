// The contract every upstream adapter implements. The proxy core speaks only the canonical
// Anthropic Messages shape; an adapter turns it into its route's request (URL, auth, body) and,
// where the route is not Anthropic-native, its response back into Anthropic events.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { ScannedBody } from '../protocol/anthropic/body.js';

export type Endpoint = 'messages' | 'count_tokens';

export interface InboundRequest {
  endpoint: Endpoint;
  /** The body exactly as the client sent it (possibly content-encoded). */
  rawBody: Buffer;
  /** The decoded body, indexed (scanned on first use: the pass-through route dispatches
   * before it needs this). Throws JsonSyntaxError for malformed JSON. */
  scanned(): ScannedBody;
  /** The requested model (the body's "model"). */
  model: string;
  headers: IncomingHttpHeaders;
  /** The query string including "?", or "". */
  search: string;
}

export interface OutboundRequest {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body: Buffer;
  /** Model id as sent upstream (for the ledger). */
  upstreamModel: string;
}

export interface Upstream {
  readonly name: string;
  /** Billing route: anthropic | bedrock | vertex. */
  readonly route: string;
  readonly region: string | null;
  readonly dispatcher: Dispatcher;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** Human-readable endpoint for error messages (no credentials). */
  readonly displayUrl: string;
  /** Whether the upstream has what it needs to authenticate; a reason when not. */
  credentialProblem(): string | null;
  prepare(req: InboundRequest): Promise<OutboundRequest>;
  close(): Promise<void>;
}
