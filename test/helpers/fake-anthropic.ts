// A fake Anthropic Messages API on loopback that behaves like the real protocol: SSE streams
// with message_start / content blocks / cumulative message_delta / message_stop, JSON
// messages, Anthropic error envelopes and headers. Tests script its behaviour per request.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';
import { gunzipSync, gzipSync } from 'node:zlib';
import { loadCatalog } from '../../src/routing/catalog.js';

/** Client model ids in any form (dated, aliases) name one catalog model. */
const catalog = loadCatalog();

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface UsageSpec {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  server_tool_use?: { web_search_requests: number; web_fetch_requests?: number };
  /** "fast" for fast mode. */
  speed?: string;
  /** "us" for US-only inference. */
  inference_geo?: string;
  /** Per-iteration usage ({type: "message", …counts}). */
  iterations?: Record<string, unknown>[];
}

export type Behaviour =
  | {
      kind: 'stream';
      usageStart?: UsageSpec;
      usageEnd?: UsageSpec;
      text?: string;
      model?: string;
      chunkSize?: number;
      delayMs?: number;
      headers?: Record<string, string>;
      gzip?: boolean;
      stallAfterStart?: boolean;
      cutAfterStart?: boolean;
      /** A broken upstream: the stream ends cleanly just before this event (e.g. message_stop). */
      endBefore?: string;
      /** A broken upstream: message_start carries this data instead of JSON. */
      rawStart?: string;
    }
  | {
      kind: 'json';
      usage?: UsageSpec;
      model?: string;
      headers?: Record<string, string>;
      gzip?: boolean;
      /** A broken upstream: only this many bytes of the body are sent (chunked, then a clean end). */
      truncateAt?: number;
    }
  | { kind: 'error'; status: number; type: string; message?: string; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; headers: Record<string, string>; body: Buffer | string }
  | { kind: 'hang' };

export function sseEvents(b: Extract<Behaviour, { kind: 'stream' }>, requestModel: string): string {
  const model = b.model ?? requestModel;
  const ev = (t: string, d: Record<string, unknown>) => `event: ${t}\ndata: ${JSON.stringify({ type: t, ...d })}\n\n`;
  const start = b.usageStart ?? { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  let s =
    b.rawStart !== undefined
      ? `event: message_start\ndata: ${b.rawStart}\n\n`
      : ev('message_start', {
          message: { id: 'msg_fake01', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: start },
        });
  s += ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  s += ev('ping', {});
  const text = b.text ?? 'Hello from the fake upstream.';
  for (const word of text.split(/(?<= )/)) s += ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } });
  s += ev('content_block_stop', { index: 0 });
  s += ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: b.usageEnd ?? { output_tokens: 25 } });
  s += ev('message_stop', {});
  if (b.endBefore) {
    const at = s.indexOf(`event: ${b.endBefore}\n`);
    if (at !== -1) s = s.slice(0, at);
  }
  return s;
}

export class FakeAnthropic {
  readonly requests: RecordedRequest[] = [];
  private script: Behaviour[] = [];
  fallback: Behaviour = { kind: 'stream' };
  /** Behaviour by the request's model id, or its catalog id (wins over the script and the
   * fallback). */
  readonly perModel = new Map<string, Behaviour>();
  /** Serve scripted behaviours even for bodies that are not JSON. */
  acceptBadJson = false;
  private server: Server;
  private readonly open = new Set<ServerResponse>();
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
        this.open.add(res);
        res.on('close', () => this.open.delete(res));
        void this.respond(req.url ?? '', req.headers, body, res);
      });
    });
  }

  /** Queue behaviours for the next requests, in order; afterwards `fallback` applies. */
  next(...b: Behaviour[]): this {
    this.script.push(...b);
    return this;
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenLoopback(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const r of this.open) r.destroy();
    await closeServer(this.server);
  }

  private async respond(url: string, headers: IncomingHttpHeaders, body: Buffer, res: ServerResponse): Promise<void> {
    if (url.startsWith('/v1/messages/count_tokens')) {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_count' });
      res.end('{"input_tokens":42}');
      return;
    }
    let model = 'claude-opus-5-5';
    let streamRequested = true;
    try {
      const text = (headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
      const j = JSON.parse(text) as { model?: string; stream?: boolean };
      if (j.model) model = j.model;
      streamRequested = j.stream === true;
    } catch {
      // Like the real API: a body that is not JSON is refused before anything else.
      if (!this.acceptBadJson) {
        res.writeHead(400, { 'content-type': 'application/json', 'request-id': 'req_badjson' });
        res.end(
          JSON.stringify({
            type: 'error',
            error: { type: 'invalid_request_error', message: 'There was an issue with the format of your request' },
            request_id: 'req_badjson',
          }),
        );
        return;
      }
    }
    // Per-model behaviours let concurrent clients (several Claude Code runs) each get theirs.
    let b = this.perModel.get(model) ?? this.perModel.get(catalog.resolve(model)?.id ?? model) ?? this.script.shift() ?? this.fallback;
    // Like the API: a request without "stream": true gets a JSON message.
    if (b.kind === 'stream' && !streamRequested && !this.acceptBadJson) {
      b = { kind: 'json', model: b.model, usage: { ...(b.usageStart ?? { input_tokens: 10 }), output_tokens: b.usageEnd?.output_tokens ?? 25 } };
    }
    switch (b.kind) {
      case 'hang':
        return;
      case 'raw':
        res.writeHead(b.status, b.headers);
        res.end(b.body);
        return;
      case 'error': {
        const text = JSON.stringify({ type: 'error', error: { type: b.type, message: b.message ?? b.type }, request_id: 'req_err' });
        res.writeHead(b.status, { 'content-type': 'application/json', 'request-id': 'req_err', ...b.headers });
        res.end(text);
        return;
      }
      case 'json': {
        const msg = JSON.stringify({
          id: 'msg_fakejson',
          type: 'message',
          role: 'assistant',
          model: b.model ?? model,
          content: [{ type: 'text', text: 'hi' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: b.usage ?? { input_tokens: 12, output_tokens: 7 },
        });
        const payload = b.gzip ? gzipSync(msg) : Buffer.from(msg);
        if (b.truncateAt !== undefined) {
          res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_json', ...b.headers });
          res.end(payload.subarray(0, b.truncateAt));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_json', ...(b.gzip ? { 'content-encoding': 'gzip' } : {}), ...b.headers });
        res.end(payload);
        return;
      }
      case 'stream': {
        const text = sseEvents(b, model);
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          'request-id': 'req_stream',
          ...(b.gzip ? { 'content-encoding': 'gzip' } : {}),
          ...b.headers,
        });
        if (b.stallAfterStart || b.cutAfterStart) {
          const first = text.slice(0, text.indexOf('event: content_block_start'));
          res.write(first);
          if (b.cutAfterStart) setTimeout(() => res.destroy(), 20);
          return;
        }
        const payload = b.gzip ? gzipSync(text) : Buffer.from(text);
        const size = b.chunkSize ?? payload.length;
        for (let i = 0; i < payload.length; i += size) {
          if (res.destroyed) return;
          res.write(payload.subarray(i, i + size));
          if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
        }
        res.end();
        return;
      }
    }
  }
}
