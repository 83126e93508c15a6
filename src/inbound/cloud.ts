// Claude Code in Bedrock or Vertex mode, pointed at tollgate (ANTHROPIC_BEDROCK_BASE_URL,
// ANTHROPIC_VERTEX_BASE_URL, with the cloud's own auth skipped and a tollgate key or sign-in
// token as the bearer). The request is turned into the Anthropic Messages request it stands for
// (model from the path, betas from the body into the header, the cloud's version field
// dropped), then takes the one request path — identify, policy, route, meter, ledger — so it may
// be served by any upstream on the caller's route. The answer goes back in the cloud's shape:
// AWS event-stream frames and x-amzn-errortype errors for Bedrock, Google-shaped errors for
// Vertex (whose streams are Anthropic SSE already).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import type { Endpoint } from '../providers/types.js';
import { scanBody, type ScannedBody } from '../protocol/anthropic/body.js';
import { SseParser } from '../protocol/anthropic/sse.js';
import { decodeRequestBody, readBody } from '../server/body.js';
import { GatewayError } from '../server/errors.js';
import { headerValue } from '../server/headers.js';
import { checkModelName, sessionIdOf } from './anthropic.js';
import type { InboundProtocol, ParsedRequest } from './types.js';

export type CloudMode = 'bedrock' | 'vertex';

/** What a cloud path asks for, or null when the path is not one. */
export interface CloudCall {
  mode: CloudMode;
  endpoint: Endpoint;
  /** The model as the path names it (a Bedrock profile id or ARN, a Vertex id). Null for a
   * Vertex count-tokens call, whose body names it. */
  model: string | null;
  stream: boolean;
}

const VERTEX = /^(?:\/v1)?\/projects\/[^/]+\/locations\/[^/]+\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/;
const BEDROCK = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|count-tokens)$/;

export function cloudCall(path: string): CloudCall | null {
  const b = BEDROCK.exec(path);
  if (b) {
    let model: string;
    try {
      // An ARN arrives with its "/" percent-encoded.
      model = decodeURIComponent(b[1] as string);
    } catch {
      throw new GatewayError('TG_BAD_REQUEST', 'the model id in the path is not valid percent-encoding');
    }
    const op = b[2];
    return { mode: 'bedrock', endpoint: op === 'count-tokens' ? 'count_tokens' : 'messages', model, stream: op === 'invoke-with-response-stream' };
  }
  const v = VERTEX.exec(path);
  if (v) {
    const model = decodeURIComponent(v[1] as string);
    if (model === 'count-tokens') return { mode: 'vertex', endpoint: 'count_tokens', model: null, stream: false };
    return { mode: 'vertex', endpoint: 'messages', model, stream: v[2] === 'streamRawPredict' };
  }
  return null;
}

function bodyObject(raw: Buffer, what: string): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new GatewayError('TG_BAD_JSON', `${what}: not valid JSON (${(err as Error).message})`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw new GatewayError('TG_BAD_REQUEST', `${what}: expected a JSON object`);
  return j as Record<string, unknown>;
}

/** The request as the Anthropic Messages API would have it. Betas in the body (Bedrock's
 * anthropic_beta) join the anthropic-beta header, which the routes read. */
export function cloudInbound(call: CloudCall): InboundProtocol {
  return {
    name: call.mode,
    async read(req: IncomingMessage, limit: number): Promise<ParsedRequest> {
      const raw = await readBody(req, limit);
      const decoded = decodeRequestBody(raw, headerValue(req.headers, 'content-encoding'), limit);
      let body = bodyObject(decoded, 'request body');
      if (call.mode === 'bedrock' && call.endpoint === 'count_tokens') {
        // {"input":{"invokeModel":{"body":"<base64 of the invoke body>"}}}
        const inner = (body.input as { invokeModel?: { body?: unknown } } | undefined)?.invokeModel?.body;
        if (typeof inner !== 'string') throw new GatewayError('TG_BAD_REQUEST', 'count-tokens: expected {"input":{"invokeModel":{"body":"<base64>"}}}');
        body = bodyObject(Buffer.from(inner, 'base64'), 'count-tokens input.invokeModel.body');
      }
      const betas = new Set(
        (headerValue(req.headers, 'anthropic-beta') ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
      if (Array.isArray(body.anthropic_beta)) for (const b of body.anthropic_beta) if (typeof b === 'string' && b) betas.add(b);
      delete body.anthropic_beta;
      delete body.anthropic_version;
      const model = call.model ?? (typeof body.model === 'string' ? body.model : '');
      if (!model) throw new GatewayError('TG_BAD_REQUEST', 'model: field required');
      // The model first, as Claude Code sends it to the Anthropic API.
      const { model: _drop, stream: _stream, ...rest } = body;
      const out: Record<string, unknown> = { model, ...rest };
      if (call.endpoint === 'messages' && (call.stream || _stream === true)) out.stream = true;
      const rawBody = Buffer.from(JSON.stringify(out));
      // The routes read betas and the API version from the headers; the upstream answers
      // uncompressed (the answer is re-framed here).
      if (betas.size) req.headers['anthropic-beta'] = [...betas].join(',');
      else delete req.headers['anthropic-beta'];
      req.headers['anthropic-version'] ??= '2023-06-01';
      req.headers['accept-encoding'] = 'identity';
      delete req.headers['content-encoding'];
      let cached: ScannedBody | null = null;
      const scanned = (): ScannedBody => (cached ??= scanBody(rawBody));
      return { rawBody, decodedLength: rawBody.length, model: checkModelName(model), scanned, sessionId: sessionIdOf(req.headers, scanned) };
    },
  };
}

/** Bedrock's exception for an HTTP status (x-amzn-errortype, and an exception frame's type). */
export function bedrockErrorType(status: number, anthropicType?: string): string {
  if (anthropicType === 'overloaded_error' || status === 529 || status === 503) return 'ServiceUnavailableException';
  if (status === 429) return 'ThrottlingException';
  if (status === 401 || status === 403) return 'AccessDeniedException';
  if (status === 404) return 'ResourceNotFoundException';
  if (status === 408 || status === 504) return 'ModelTimeoutException';
  if (status >= 400 && status < 500) return 'ValidationException';
  return 'InternalServerException';
}

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  408: 'DEADLINE_EXCEEDED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
  529: 'UNAVAILABLE',
};

/** The message and type of an Anthropic error envelope (the gateway's and the upstreams'). */
function envelope(body: string): { type: string; message: string } {
  try {
    const j = JSON.parse(body) as { error?: { type?: string; message?: string } };
    return { type: j.error?.type ?? 'api_error', message: j.error?.message ?? body.slice(0, 500) };
  } catch {
    return { type: 'api_error', message: body.slice(0, 500) };
  }
}

/** An error in the cloud's own shape, written to the client's response. */
export function sendCloudError(
  res: ServerResponse,
  mode: CloudMode,
  status: number,
  anthropicBody: string,
  headers: Record<string, string | string[] | number | undefined> = {},
): void {
  const e = envelope(anthropicBody);
  const keep: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (v === undefined || key === 'content-length' || key === 'content-type' || key === 'content-encoding' || key === 'transfer-encoding') continue;
    keep[key] = typeof v === 'number' ? String(v) : v;
  }
  let text: string;
  if (mode === 'bedrock') {
    keep['x-amzn-errortype'] = `${bedrockErrorType(status, e.type)}:http://internal.amazon.com/coral/com.amazon.bedrock/`;
    text = JSON.stringify({ message: e.message });
  } else {
    const code = status === 529 ? 503 : status;
    text = JSON.stringify({ error: { code, message: e.message, status: GOOGLE_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT') } });
    status = code;
  }
  res.writeHead(status, { ...keep, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

const codec = new EventStreamCodec(toUtf8, fromUtf8);

type FrameHeaders = Record<string, { type: 'string'; value: string }>;

function frameHeaders(headers: Record<string, string>): FrameHeaders {
  const h: FrameHeaders = {};
  for (const [k, v] of Object.entries(headers)) h[k] = { type: 'string', value: v };
  return h;
}

/** Every event of a stream is a chunk frame with these headers: built once. */
const CHUNK_HEADERS = frameHeaders({ ':event-type': 'chunk', ':message-type': 'event', ':content-type': 'application/json' });

function frame(headers: FrameHeaders, payload: string): Uint8Array {
  return codec.encode({ headers, body: fromUtf8(payload) });
}

type Headers = Record<string, string | string[] | number | undefined>;

/**
 * Stands in for the client's response on the request path, which writes an Anthropic answer
 * (SSE, JSON, or an error envelope): passes it on in the cloud's shape. It offers the part of
 * ServerResponse the request path uses (writeHead, write with backpressure, end, destroy, and
 * the state and events it watches).
 */
export class CloudResponse extends EventEmitter {
  private mode: 'pass' | 'frames' | 'error' | 'count' | null = null;
  private status = 200;
  private headers: Headers = {};
  private errorBody: Buffer[] = [];
  private parser: SseParser | null = null;
  private pending: Uint8Array[] = [];

  constructor(
    readonly res: ServerResponse,
    readonly cloud: CloudMode,
    private readonly endpoint: Endpoint = 'messages',
  ) {
    super();
    res.on('drain', () => this.emit('drain'));
    res.on('close', () => this.emit('close'));
    res.on('finish', () => this.emit('finish'));
  }

  get destroyed(): boolean {
    return this.res.destroyed;
  }
  get writableEnded(): boolean {
    return this.res.writableEnded;
  }
  get writableFinished(): boolean {
    return this.res.writableFinished;
  }
  get headersSent(): boolean {
    return this.mode !== null;
  }
  get statusCode(): number {
    return this.status;
  }
  setHeader(name: string, value: string | string[] | number): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }
  destroy(err?: Error): this {
    this.res.destroy(err);
    return this;
  }

  writeHead(status: number, headers: Headers = {}): this {
    this.status = status;
    this.headers = { ...this.headers, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) };
    const ct = String(this.headers['content-type'] ?? '');
    if (status >= 400) this.mode = 'error';
    else if (this.cloud === 'bedrock' && this.endpoint === 'count_tokens') this.mode = 'count';
    else if (this.cloud === 'bedrock' && ct.includes('text/event-stream')) {
      this.mode = 'frames';
      const out: Record<string, string | string[]> = { 'content-type': 'application/vnd.amazon.eventstream' };
      for (const [k, v] of Object.entries(this.headers))
        if (v !== undefined && (k.startsWith('x-tollgate-') || k === 'request-id' || k.startsWith('anthropic-')))
          out[k] = typeof v === 'number' ? String(v) : v;
      if (typeof this.headers['request-id'] === 'string') out['x-amzn-requestid'] = this.headers['request-id'];
      this.res.writeHead(200, out);
      this.parser = new SseParser((ev) => this.pending.push(this.toFrame(ev.event, ev.data)));
    } else {
      // JSON (a message, a token count) and Vertex streams: Anthropic-shaped on both clouds.
      this.mode = 'pass';
      this.res.writeHead(status, this.headers as Record<string, string | string[]>);
    }
    return this;
  }

  private toFrame(event: string, data: string): Uint8Array {
    if (event === 'error') {
      const e = envelope(data);
      return frame(
        frameHeaders({
          ':message-type': 'exception',
          ':exception-type': lowerFirst(bedrockErrorType(e.type === 'overloaded_error' ? 529 : 500, e.type)),
          ':content-type': 'application/json',
        }),
        JSON.stringify({ message: e.message }),
      );
    }
    return frame(
      CHUNK_HEADERS,
      // The event's JSON, base64: a fixed wrapper around it rather than a JSON.stringify.
      `{"bytes":"${Buffer.from(data).toString('base64')}"}`,
    );
  }

  write(chunk: Buffer | string, cb?: (err?: Error | null) => void): boolean {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.mode === null) this.writeHead(200);
    if (this.mode === 'error' || this.mode === 'count') {
      this.errorBody.push(buf);
      cb?.();
      return true;
    }
    if (this.mode === 'pass') return this.res.write(buf, cb);
    this.parser!.push(buf);
    if (!this.pending.length) {
      cb?.();
      return true;
    }
    const out = Buffer.concat(this.pending);
    this.pending = [];
    return this.res.write(out, cb);
  }

  end(chunk?: Buffer | string | (() => void), cb?: () => void): this {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    }
    if (chunk !== undefined) this.write(chunk);
    if (this.mode === null) this.writeHead(this.status);
    if (this.mode === 'error') {
      sendCloudError(this.res, this.cloud, this.status, Buffer.concat(this.errorBody).toString('utf8'), this.headers);
      cb?.();
      return this;
    }
    if (this.mode === 'count') {
      // Bedrock's CountTokens answer: {"inputTokens": N}.
      let n = 0;
      try {
        n = Number((JSON.parse(Buffer.concat(this.errorBody).toString('utf8')) as { input_tokens?: number }).input_tokens ?? 0);
      } catch {
        n = 0;
      }
      const text = JSON.stringify({ inputTokens: n });
      const out: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
      for (const [k, v] of Object.entries(this.headers)) if (k.startsWith('x-tollgate-') && typeof v === 'string') out[k] = v;
      this.res.writeHead(200, out);
      this.res.end(text, cb);
      return this;
    }
    this.parser?.end();
    this.res.end(cb);
    return this;
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
