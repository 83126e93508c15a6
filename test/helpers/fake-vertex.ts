// A fake Vertex AI (Anthropic publisher models) and a fake GCE metadata server on loopback.
// google-auth-library finds the metadata server through GCE_METADATA_HOST and gets its token
// there; the fake Vertex accepts only that token.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';
import { sseEvents, type UsageSpec } from './fake-anthropic.js';

export const VERTEX_TOKEN = 'ya29.tollgate-test-token';

export class FakeMetadata {
  tokensIssued = 0;
  url = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      if (req.headers['metadata-flavor'] !== 'Google') {
        res.writeHead(403);
        res.end('Missing Metadata-Flavor header');
        return;
      }
      const h = { 'content-type': 'application/json', 'metadata-flavor': 'Google' };
      if (req.url?.startsWith('/computeMetadata/v1/instance/service-accounts/default/token')) {
        this.tokensIssued++;
        res.writeHead(200, h);
        res.end(JSON.stringify({ access_token: VERTEX_TOKEN, expires_in: 3599, token_type: 'Bearer' }));
      } else if (req.url?.startsWith('/computeMetadata/v1/project/project-id')) {
        res.writeHead(200, { ...h, 'content-type': 'text/plain' });
        res.end('fake-project');
      } else {
        res.writeHead(200, h);
        res.end('{}');
      }
    });
  }

  async start(): Promise<this> {
    this.url = `127.0.0.1:${await listenLoopback(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}

export type VertexBehaviour =
  | { kind: 'stream'; usageStart?: UsageSpec; usageEnd?: UsageSpec; text?: string }
  | { kind: 'google-error'; code: number; status: string; message?: string; array?: boolean };

export interface VertexRequest {
  url: string;
  project: string;
  region: string;
  model: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export class FakeVertex {
  readonly requests: VertexRequest[] = [];
  private script: VertexBehaviour[] = [];
  fallback: VertexBehaviour = { kind: 'stream' };
  url = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const google = (code: number, status: string, message: string) => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code, message, status } }));
        };
        if (req.headers.authorization !== `Bearer ${VERTEX_TOKEN}`) return google(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
        const m = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(streamRawPredict|rawPredict)$/.exec(req.url ?? '');
        if (!m) return google(404, 'NOT_FOUND', `no route ${req.url}`);
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return google(400, 'INVALID_ARGUMENT', 'Invalid JSON payload');
        }
        const model = decodeURIComponent(m[3]!);
        this.requests.push({ url: req.url ?? '', project: m[1]!, region: m[2]!, model, method: m[4]!, headers: req.headers, body });
        if (body.anthropic_version !== 'vertex-2023-10-16') return google(400, 'INVALID_ARGUMENT', 'anthropic_version must be vertex-2023-10-16');
        if (model === 'count-tokens') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ input_tokens: 55 }));
          return;
        }
        if ('model' in body) return google(400, 'INVALID_ARGUMENT', 'model must not be in the body');
        const b = this.script.shift() ?? this.fallback;
        if (b.kind === 'google-error') {
          const err = { error: { code: b.code, message: b.message ?? b.status, status: b.status } };
          res.writeHead(b.code, { 'content-type': 'application/json' });
          res.end(JSON.stringify(b.array ? [err] : err));
          return;
        }
        // Like Vertex: rawPredict without "stream": true answers one JSON message.
        if (m[4] === 'rawPredict' && body.stream !== true) {
          const usage = { ...(b.usageStart ?? { input_tokens: 10 }), output_tokens: b.usageEnd?.output_tokens ?? 20 };
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              id: 'msg_vrtx_json',
              type: 'message',
              role: 'assistant',
              model,
              content: [{ type: 'text', text: b.text ?? 'Hello from Vertex.' }],
              stop_reason: 'end_turn',
              stop_sequence: null,
              usage,
            }),
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(sseEvents({ kind: 'stream', usageStart: b.usageStart, usageEnd: b.usageEnd, text: b.text ?? 'Hello from Vertex.' }, model));
      });
    });
  }

  next(...b: VertexBehaviour[]): this {
    this.script.push(...b);
    return this;
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenLoopback(this.server)}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
