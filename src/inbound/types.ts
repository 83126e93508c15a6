// Inbound protocols: how a client's request reaches the gateway's one request path. Today the
// Anthropic Messages API (what Claude Code speaks by default); Bedrock and Vertex modes plug in
// here as further adapters, the way upstream routes do under src/providers/.
import type { IncomingMessage } from 'node:http';
import type { ScannedBody } from '../protocol/anthropic/body.js';

/** A request read and checked by its inbound protocol. */
export interface ParsedRequest {
  /** The body as received (compressed bodies decoded). */
  rawBody: Buffer;
  /** Bytes after decoding (what the cost estimate reads). */
  decodedLength: number;
  /** The model the client asked for, checked as a model id. */
  model: string;
  /** The body's top-level members, scanned on first use (the fast path never needs them). */
  scanned: () => ScannedBody;
  /** Claude Code's session, when the request names one. */
  sessionId: string | null;
}

export interface InboundProtocol {
  readonly name: string;
  /** Reads and checks the request; throws the gateway's 4xx errors for bad input. */
  read(req: IncomingMessage, maxBodyBytes: number): Promise<ParsedRequest>;
}
