// Fakes of the clouds that serve Anthropic's own API shape: Claude in Amazon Bedrock ("Mantle":
// /anthropic/v1/messages, SigV4 for the service bedrock-mantle — checked with AWS's own signer —
// or a Bedrock API key as bearer) and Claude in Microsoft Foundry (/anthropic/v1/messages, the
// resource key in api-key). Each refuses a model id that is not its own form, as they do.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';
import { sseEvents, type UsageSpec } from './fake-anthropic.js';
import { verifySigV4 } from './fake-bedrock.js';

export interface NativeRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export class FakeNativeCloud {
  readonly requests: NativeRequest[] = [];
  usage: { start: UsageSpec; end: UsageSpec } = { start: { input_tokens: 1000, output_tokens: 1 }, end: { output_tokens: 100 } };
  private server: Server;
  url = '';

  constructor(
    readonly kind: 'mantle' | 'foundry',
    readonly opts: { region?: string; bearer?: string; apiKey?: string; models: (id: string) => boolean },
  ) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const raw = Buffer.concat(chunks);
          const json = (status: number, body: unknown) => {
            res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${this.kind}` });
            res.end(JSON.stringify(body));
          };
          const refuse = (status: number, type: string, message: string) => json(status, { type: 'error', error: { type, message } });
          const path = req.url ?? '';
          if (!/^\/anthropic\/v1\/messages(\/count_tokens)?(\?.*)?$/.test(path)) return refuse(404, 'not_found_error', `no route ${path}`);
          if (this.kind === 'foundry') {
            if (req.headers['api-key'] !== this.opts.apiKey) return refuse(401, 'authentication_error', 'invalid api-key');
          } else if (this.opts.bearer) {
            if (req.headers.authorization !== `Bearer ${this.opts.bearer}`) return refuse(403, 'permission_error', 'bad API key');
          } else {
            const problem = await verifySigV4(req.method ?? '', path, req.headers, raw, { region: this.opts.region ?? 'us-east-1', service: 'bedrock-mantle' });
            if (problem) return refuse(403, 'permission_error', problem);
          }
          if (req.headers['x-api-key'] || /tg_/.test(String(req.headers.authorization ?? '')))
            return refuse(400, 'invalid_request_error', 'a gateway credential reached the cloud');
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
          } catch {
            return refuse(400, 'invalid_request_error', 'not JSON');
          }
          this.requests.push({ path, headers: req.headers, body });
          const model = String(body.model ?? '');
          if (!this.opts.models(model)) return refuse(404, 'not_found_error', `model: ${model}`);
          if (path.includes('count_tokens')) return json(200, { input_tokens: 77 });
          if (body.stream === true) {
            res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': `req_${this.kind}` });
            res.end(sseEvents({ kind: 'stream', usageStart: this.usage.start, usageEnd: this.usage.end, text: `Hello from ${this.kind}.` }, model));
            return;
          }
          json(200, {
            id: `msg_${this.kind}`,
            type: 'message',
            role: 'assistant',
            model,
            content: [{ type: 'text', text: `Hello from ${this.kind}.` }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { ...this.usage.start, output_tokens: this.usage.end.output_tokens },
          });
        })();
      });
    });
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenLoopback(this.server)}`;
    return this;
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }
}
