// A fake Bedrock Runtime on loopback that checks what real Bedrock checks: the SigV4
// signature (recomputed with AWS's own signer) or the Bedrock API key, the InvokeModel body
// rules (no model/stream, anthropic_version, valid betas), and answers with event-stream
// frames built by AWS's own codec, x-amzn-errortype errors, or exception frames.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import type { UsageSpec } from './fake-anthropic.js';

export const AWS_TEST_CREDS = {
  accessKeyId: 'AKIDTESTTOLLGATE',
  secretAccessKey: 'tollgate/test/secret/key/0123456789abcdef',
  sessionToken: 'test-session-token',
};
/** Points this process's AWS credential chain at the test credentials (and nothing on disk or
 * on the network: no instance metadata, config files in `scratch`), so SigV4 signs with them. */
export function useTestAwsCredentials(scratch: string): void {
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: AWS_TEST_CREDS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS_TEST_CREDS.secretAccessKey,
    AWS_SESSION_TOKEN: AWS_TEST_CREDS.sessionToken,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: `${scratch}/aws-config`,
    AWS_SHARED_CREDENTIALS_FILE: `${scratch}/aws-credentials`,
    CLOUDSDK_CONFIG: `${scratch}/gcloud`,
  });
}

/** Betas this fake refuses, as Bedrock does, with 400 "invalid beta flag". */
export const BEDROCK_REJECTS = ['claude-code-20250219', 'advanced-tool-use-2025-11-20'];

const codec = new EventStreamCodec(toUtf8, fromUtf8);

export function chunkFrame(event: Record<string, unknown>): Buffer {
  const body = JSON.stringify({ bytes: Buffer.from(JSON.stringify(event)).toString('base64'), p: 'abcdefghij' });
  return Buffer.from(
    codec.encode({
      headers: {
        ':event-type': { type: 'string', value: 'chunk' },
        ':message-type': { type: 'string', value: 'event' },
        ':content-type': { type: 'string', value: 'application/json' },
      },
      body: fromUtf8(body),
    }),
  );
}

export function exceptionFrame(type: string, message: string): Buffer {
  return Buffer.from(
    codec.encode({
      headers: {
        ':exception-type': { type: 'string', value: type },
        ':message-type': { type: 'string', value: 'exception' },
        ':content-type': { type: 'string', value: 'application/json' },
      },
      body: fromUtf8(JSON.stringify({ message })),
    }),
  );
}

/** The frames of a Claude response on Bedrock: Anthropic events, invocation metrics last. */
export function bedrockFrames(opts: { usageStart?: UsageSpec; usageEnd?: UsageSpec; text?: string; modelId: string }): Buffer[] {
  const start = opts.usageStart ?? { input_tokens: 10, output_tokens: 1 };
  const end = opts.usageEnd ?? { output_tokens: 20 };
  const frames = [
    chunkFrame({
      type: 'message_start',
      message: {
        id: 'msg_bdrk_01',
        type: 'message',
        role: 'assistant',
        model: opts.modelId,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: start,
      },
    }),
    chunkFrame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ];
  for (const w of (opts.text ?? 'Hello from Bedrock.').split(/(?<= )/))
    frames.push(chunkFrame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: w } }));
  frames.push(chunkFrame({ type: 'content_block_stop', index: 0 }));
  frames.push(chunkFrame({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: end }));
  frames.push(
    chunkFrame({
      type: 'message_stop',
      'amazon-bedrock-invocationMetrics': {
        inputTokenCount: start.input_tokens ?? 0,
        outputTokenCount: end.output_tokens ?? 0,
        invocationLatency: 321,
        firstByteLatency: 123,
        cacheReadInputTokenCount: start.cache_read_input_tokens ?? 0,
        cacheWriteInputTokenCount: start.cache_creation_input_tokens ?? 0,
      },
    }),
  );
  return frames;
}

export type BedrockBehaviour =
  | {
      kind: 'stream';
      usageStart?: UsageSpec;
      usageEnd?: UsageSpec;
      text?: string;
      chunkSize?: number;
      exceptionAfter?: number;
      exception?: string;
      cutAfter?: number;
      pauseAfterFirstMs?: number;
      /** With exceptionAfter, cutAfter or pauseAfterFirstMs: what is sent after the first frames waits for this (the test releases it once its client has seen them), so chunk boundaries never depend on the machine's speed. */
      gate?: Promise<unknown>;
      /** With exceptionAfter: the frames and the exception in one write (one read for the
       * gateway), so nothing reaches the client before the exception. */
      together?: boolean;
    }
  | { kind: 'json'; usage?: UsageSpec }
  | { kind: 'error'; status: number; errorType: string; message?: string; headers?: Record<string, string> };

export interface BedrockRequest {
  url: string;
  modelId: string;
  operation: 'invoke' | 'invoke-with-response-stream' | 'count-tokens';
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  auth: 'sigv4' | 'bearer';
}

/** Recomputes the SigV4 signature with AWS's signer and the test credentials. */
export async function verifySigV4(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  want: { region: string; service: string },
): Promise<string | null> {
  const auth = String(headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'missing or malformed SigV4 Authorization header';
  const [, akid, , region, service, signedHeaders, signature] = m;
  if (akid !== AWS_TEST_CREDS.accessKeyId) return `unknown access key ${akid}`;
  if (region !== want.region) return `signed for region ${region}, endpoint is ${want.region}`;
  if (service !== want.service) return `signed for service ${service}`;
  if (headers['x-amz-security-token'] !== AWS_TEST_CREDS.sessionToken) return 'missing session token';
  const amzDate = String(headers['x-amz-date'] ?? '');
  const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  const signer = new SignatureV4({ service: want.service, region: want.region, credentials: AWS_TEST_CREDS, sha256: Hash.bind(null, 'sha256') });
  const toSign: Record<string, string> = {};
  for (const h of (signedHeaders as string).split(';')) toSign[h] = String(headers[h] ?? '');
  const u = new URL(url, 'http://x');
  const signed = await signer.sign(
    {
      method,
      protocol: 'http:',
      hostname: String(headers.host).split(':')[0]!,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: toSign,
      body,
    },
    { signingDate },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
  return expected === signature ? null : 'The request signature we calculated does not match the signature you provided';
}

export class FakeBedrock {
  readonly requests: BedrockRequest[] = [];
  private script: BedrockBehaviour[] = [];
  fallback: BedrockBehaviour = { kind: 'stream' };
  /** Base model ids CountTokens refuses, as Bedrock does for some models. */
  readonly cannotCount = new Set<string>();
  url = '';
  private readonly server: Server;

  constructor(
    private readonly region: string,
    private readonly bearerToken?: string,
  ) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on(
        'end',
        () =>
          void this.handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks), res).catch((err: Error) => {
            res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'InternalServerException' });
            res.end(JSON.stringify({ message: err.message }));
          }),
      );
    });
  }

  next(...b: BedrockBehaviour[]): this {
    this.script.push(...b);
    return this;
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenLoopback(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  /** Requests refused before any model work (bad signature or key, bad body), as Bedrock does. */
  denied = 0;

  private deny(res: ServerResponse, status: number, type: string, message: string): void {
    this.denied++;
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
      'x-amzn-requestid': 'fake-req',
    });
    res.end(JSON.stringify({ message }));
  }

  private verifySigV4(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer): Promise<string | null> {
    return verifySigV4(method, url, headers, body, { region: this.region, service: 'bedrock' });
  }

  private async handle(method: string, url: string, headers: IncomingHttpHeaders, raw: Buffer, res: ServerResponse): Promise<void> {
    const m = /^\/model\/([^/]+)\/(invoke-with-response-stream|invoke|count-tokens)$/.exec(url);
    if (method !== 'POST' || !m) return this.deny(res, 404, 'ResourceNotFoundException', `no route ${method} ${url}`);
    let authKind: 'sigv4' | 'bearer';
    if (this.bearerToken) {
      if (headers.authorization !== `Bearer ${this.bearerToken}`) return this.deny(res, 403, 'AccessDeniedException', 'bad API key');
      authKind = 'bearer';
    } else {
      const problem = await this.verifySigV4(method, url, headers, raw);
      if (problem) return this.deny(res, 403, 'InvalidSignatureException', problem);
      authKind = 'sigv4';
    }
    const modelId = decodeURIComponent(m[1]!);
    const operation = m[2] as BedrockRequest['operation'];
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      return this.deny(res, 400, 'ValidationException', 'Malformed input request');
    }
    this.requests.push({ url, modelId, operation, headers, body, auth: authKind });
    if (operation === 'count-tokens') {
      const inner = JSON.parse(Buffer.from(String((body.input as { invokeModel: { body: string } }).invokeModel.body), 'base64').toString('utf8')) as Record<
        string,
        unknown
      >;
      if (inner.anthropic_version !== 'bedrock-2023-05-31') return this.deny(res, 400, 'ValidationException', 'anthropic_version required');
      if (this.cannotCount.has(modelId)) return this.deny(res, 400, 'ValidationException', "The provided model doesn't support counting tokens.");
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ inputTokens: 77 }));
      return;
    }
    if ('model' in body) return this.deny(res, 400, 'ValidationException', 'extraneous key [model] is not permitted');
    if ('stream' in body) return this.deny(res, 400, 'ValidationException', 'extraneous key [stream] is not permitted');
    if (body.anthropic_version !== 'bedrock-2023-05-31') return this.deny(res, 400, 'ValidationException', 'anthropic_version: required bedrock-2023-05-31');
    const betas = Array.isArray(body.anthropic_beta) ? (body.anthropic_beta as string[]) : [];
    const bad = betas.find((b) => BEDROCK_REJECTS.includes(b));
    if (bad) return this.deny(res, 400, 'ValidationException', `invalid beta flag: ${bad}`);

    const b = this.script.shift() ?? this.fallback;
    if (b.kind === 'error') {
      res.writeHead(b.status, {
        'content-type': 'application/json',
        'x-amzn-errortype': `${b.errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        ...b.headers,
      });
      res.end(JSON.stringify({ message: b.message ?? b.errorType }));
      return;
    }
    if (operation === 'invoke' || b.kind === 'json') {
      const usage = b.kind === 'json' ? (b.usage ?? { input_tokens: 12, output_tokens: 7 }) : { input_tokens: 12, output_tokens: 7 };
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amzn-bedrock-input-token-count': String(usage.input_tokens ?? 0),
        'x-amzn-bedrock-output-token-count': String(usage.output_tokens ?? 0),
      });
      res.end(
        JSON.stringify({
          id: 'msg_bdrk_json',
          type: 'message',
          role: 'assistant',
          model: modelId,
          content: [{ type: 'text', text: 'hi' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage,
        }),
      );
      return;
    }
    let frames = bedrockFrames({ ...b, modelId });
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'fake-stream-req' });
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    if (b.exceptionAfter !== undefined) {
      const exc = exceptionFrame(b.exception ?? 'throttlingException', 'Too many tokens, please wait');
      if (b.together) {
        res.end(Buffer.concat([...frames.slice(0, b.exceptionAfter), exc]));
        return;
      }
      // Events already sent reach the client before the exception does (mid-stream).
      if (b.exceptionAfter > 0) {
        res.write(Buffer.concat(frames.slice(0, b.exceptionAfter)));
        await (b.gate ?? pause(30));
      }
      res.end(exc);
      return;
    }
    if (b.pauseAfterFirstMs) {
      res.write(frames[0]);
      await Promise.all([pause(b.pauseAfterFirstMs), b.gate]);
      frames = frames.slice(1);
    }
    const payload = Buffer.concat(b.cutAfter !== undefined ? frames.slice(0, b.cutAfter) : frames);
    if (b.cutAfter !== undefined) {
      res.write(payload);
      await (b.gate ?? pause(30));
      res.destroy();
      return;
    }
    const size = b.chunkSize ?? payload.length;
    for (let i = 0; i < payload.length; i += size) {
      res.write(payload.subarray(i, i + size));
      if (b.chunkSize) await new Promise((r) => setImmediate(r));
    }
    if (b.cutAfter !== undefined) {
      await pause(30);
      res.destroy();
      return;
    }
    res.end();
  }
}
