// The contract every upstream adapter implements. The proxy core speaks only the canonical
// Anthropic Messages shape; an adapter turns it into its route's request (URL, auth, body) and,
// where the route is not Anthropic-native, its response back into Anthropic bytes.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { ScannedBody } from '../protocol/anthropic/body.js';
import type { EndpointType } from '../routing/resolve.js';

export type Endpoint = 'messages' | 'count_tokens';

export interface InboundRequest {
  endpoint: Endpoint;
  /** The body exactly as the client sent it (possibly content-encoded). */
  rawBody: Buffer;
  /** The decoded body, indexed (scanned on first use: the pass-through route dispatches
   * before it needs this). Throws JsonSyntaxError for malformed JSON. */
  scanned(): ScannedBody;
  /** The model to serve (the body's "model", unless policy rewrote it). */
  model: string;
  /** The model as written in the body. */
  bodyModel: string;
  headers: IncomingHttpHeaders;
  /** The query string including "?", or "". */
  search: string;
  /** The caller's team, for per-team model mappings (application inference profiles). */
  team: string | null;
}

export interface OutboundRequest {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body: Buffer;
  /** Model id as sent upstream (for the ledger). */
  upstreamModel: string;
  /** Catalog id of the model, when known (for prices per route). */
  catalogModel: string | null;
  endpointType: EndpointType | null;
  region: string | null;
  /** Bedrock's service tier sent with the request (priced by it), when one was. */
  serviceTier?: string | null;
}

/** An upstream error turned into Anthropic's shape. */
export interface MappedError {
  status: number;
  type: string;
  message: string;
}

/** HTTP statuses with which an upstream refuses the gateway's own credentials (a bad or
 * expired key, a signature AWS rejects, a missing IAM permission): no retry can fix them. */
export function isCredentialRefusal(status: number): boolean {
  return status === 401 || status === 403;
}

/**
 * Turns a route's response body into Anthropic bytes. `push` returns what to send to the
 * client for a chunk (possibly nothing yet); `end` the rest. `error` is set once the stream
 * reported an error (Bedrock exception frames), so the proxy can fail over when that happens
 * before anything reached the client.
 */
export interface ResponseTranslator {
  readonly contentType: string;
  push(chunk: Buffer): Buffer | null;
  end(): Buffer | null;
  error: MappedError | null;
  /** Route-reported usage to cross-check the metered one (Bedrock invocation metrics). */
  reportedUsage?: { input: number; output: number; cacheRead: number; cacheWrite: number } | null;
}

export interface Upstream {
  readonly name: string;
  /** Billing route: anthropic | bedrock | vertex | mantle | foundry. */
  readonly route: 'anthropic' | 'bedrock' | 'vertex' | 'mantle' | 'foundry';
  readonly region: string | null;
  readonly dispatcher: Dispatcher;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** Human-readable endpoint for error messages (no credentials). */
  readonly displayUrl: string;
  /** What an operator checks when this upstream refuses the gateway's credentials. */
  readonly credentialHint: string;
  /** Whether the upstream has what it needs to authenticate; a reason when not. */
  credentialProblem(): string | null;
  /** Builds the upstream request; throws GatewayError (e.g. a model the route lacks). */
  prepare(req: InboundRequest): Promise<OutboundRequest>;
  /** Maps a non-2xx upstream response to Anthropic's error shape. */
  mapError(status: number, headers: Record<string, string | string[] | undefined>, body: string): MappedError;
  /** A translator for a successful response, or null when its bytes pass through untouched. */
  translator(req: InboundRequest, out: OutboundRequest, status: number, headers: Record<string, string | string[] | undefined>): ResponseTranslator | null;
  close(): Promise<void>;
}
