// The request path for /v1/messages and /v1/messages/count_tokens:
// identify → read and check the body → upstream → stream back while metering → ledger.
// On the Anthropic route bytes pass through untouched; the meter only reads them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { request, errors as undiciErrors } from 'undici';
import { JsonSyntaxError, leadingModel, memberValue, scanBody, type ScannedBody } from '../protocol/anthropic/body.js';
import { encodeSse, SseParser } from '../protocol/anthropic/sse.js';
import { factsFromJson, StreamMeter, type ResponseFacts } from '../metering/usage.js';
import type { Endpoint, InboundRequest, Upstream } from '../providers/types.js';
import type { KeyRecord, LedgerLine } from '../store/types.js';
import { decodeRequestBody, readBody } from './body.js';
import { GatewayError, type ErrorCode } from './errors.js';
import { forwardResponseHeaders, headerValue } from './headers.js';
import type { GatewayContext } from './context.js';

/** Non-streaming bodies are kept for metering up to this size; beyond it the line is unmetered. */
const MAX_METERED_JSON = 64 * 1024 * 1024;

/** Claude Code's session: the x-claude-code-session-id header, else metadata.user_id, which is
 * a JSON string since 2.1.78 and `user_<hex>_account_<uuid>_session_<uuid>` before. */
export function sessionIdOf(headers: IncomingMessage['headers'], scan: () => ScannedBody): string | null {
  const h = headerValue(headers, 'x-claude-code-session-id');
  if (h) return h.slice(0, 200);
  let meta: unknown;
  try {
    meta = memberValue(scan(), 'metadata');
  } catch {
    return null; // A malformed body: the upstream refuses it, there is no session to record.
  }
  const uid = meta && typeof meta === 'object' ? (meta as Record<string, unknown>).user_id : undefined;
  if (typeof uid !== 'string') return null;
  if (uid.startsWith('{')) {
    try {
      const j = JSON.parse(uid) as Record<string, unknown>;
      return typeof j.session_id === 'string' && j.session_id ? j.session_id.slice(0, 200) : null;
    } catch {
      return null;
    }
  }
  const m = /_session_([0-9a-f-]{8,})$/i.exec(uid);
  return m?.[1] ?? null;
}

function decoderFor(encoding: string): Transform | null | 'unsupported' {
  switch (encoding) {
    case '': case 'identity': return null;
    case 'gzip': case 'x-gzip': return createGunzip();
    case 'deflate': return createInflate();
    case 'br': return createBrotliDecompress();
    default: return 'unsupported';
  }
}

function upstreamErrorCode(err: unknown): { code: ErrorCode; cause: string } {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    return { code: 'TG_UPSTREAM_TIMEOUT', cause: e.code ?? 'timeout' };
  }
  const cause = e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? 'unknown error';
  return { code: 'TG_UPSTREAM_UNREACHABLE', cause };
}

/** Writes with backpressure; resolves false if the client went away instead of draining. */
async function write(res: ServerResponse, chunk: Buffer | string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
  return !res.destroyed;
}

export async function handleMessages(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, search: string, requestId: string, t0: number): Promise<void> {
  const auth = ctx.keys.authenticate(req.headers);
  if (!auth.ok) {
    throw new GatewayError(auth.code, auth.code === 'TG_NO_KEY'
      ? 'send your tollgate virtual key as ANTHROPIC_AUTH_TOKEN (Authorization: Bearer) or ANTHROPIC_API_KEY (x-api-key)'
      : auth.code === 'TG_REVOKED_KEY' ? 'this virtual key was revoked; ask your platform team for a new one'
        : 'this virtual key is not known to the gateway');
  }
  const key = auth.key;
  const line = newLine(ctx, requestId, key, endpoint);
  try {
    await proxy(ctx, req, res, endpoint, search, line, t0);
  } catch (err) {
    // A gateway-side refusal or failure before the response started: record it, then let the
    // error boundary render it.
    const ge = err instanceof GatewayError ? err : null;
    line.http_status = ge?.status ?? 500;
    line.error_type = ge?.type ?? 'api_error';
    line.error_code = ge?.code ?? 'TG_INTERNAL';
    line.duration_ms = ctx.now() - t0;
    await ctx.ledger.write(line).catch(() => {});
    throw err;
  }
}

function newLine(ctx: GatewayContext, id: string, key: KeyRecord, endpoint: Endpoint): LedgerLine {
  return {
    id, ts: ctx.wallNow(), key_id: key.id, user: key.user, team: key.team, project: key.project, session_id: null,
    endpoint, model_requested: null, model_served: null, upstream: null, route: null, region: null,
    http_status: 0, error_type: null, error_code: null, stop_reason: null, streamed: false,
    input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_5m_input_tokens: 0,
    cache_creation_1h_input_tokens: 0, web_search_requests: 0, web_fetch_requests: 0, cost_nanousd: 0,
    priced: true, ttfb_ms: null, duration_ms: 0, client_aborted: false, upstream_request_id: null, message_id: null,
  };
}

/** Validates the fields the gateway relies on; throws the gateway's 400s. */
function checkBody(scan: () => ScannedBody): { model: string; scanned: ScannedBody } {
  let scanned: ScannedBody;
  let model: unknown;
  let stream: unknown;
  try {
    scanned = scan();
    model = memberValue(scanned, 'model');
    stream = memberValue(scanned, 'stream');
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new GatewayError('TG_BAD_JSON', `request body is not valid JSON: ${err.message}`);
    throw new GatewayError('TG_BAD_JSON', 'request body is not valid JSON');
  }
  if (typeof model !== 'string' || model.trim() === '') {
    throw new GatewayError('TG_BAD_REQUEST', model === undefined ? 'model: field required' : 'model: expected a non-empty string');
  }
  if (stream !== undefined && typeof stream !== 'boolean') throw new GatewayError('TG_BAD_REQUEST', 'stream: expected a boolean');
  return { model, scanned };
}

async function proxy(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, search: string, line: LedgerLine, t0: number): Promise<void> {
  const limit = ctx.config.server.max_body_bytes;
  const rawBody = await readBody(req, limit);
  const decoded = decodeRequestBody(rawBody, headerValue(req.headers, 'content-encoding'), limit);
  let cached: ScannedBody | null = null;
  const scan = (): ScannedBody => (cached ??= scanBody(decoded));
  // Fast path: with the model first in the body (as Claude Code sends it) the pass-through
  // route needs nothing else from a body of hundreds of KB, so it is not scanned at all; JSON
  // validity is then the upstream's to judge (it answers 400 invalid_request_error, passed
  // back as is). Any other body is fully checked before anything is sent upstream.
  let model = leadingModel(decoded);
  if (model === null) model = checkBody(scan).model;
  line.model_requested = model;
  const inbound: InboundRequest = { endpoint, rawBody, scanned: scan, model, headers: req.headers, search };

  const upstream: Upstream | undefined = ctx.upstreams[0];
  if (!upstream) throw new GatewayError('TG_NO_UPSTREAM', 'no upstream is configured');
  line.upstream = upstream.name;
  line.route = upstream.route;
  line.region = upstream.region;
  const problem = upstream.credentialProblem();
  if (problem) throw new GatewayError('TG_UPSTREAM_NO_CREDENTIALS', problem);
  const out = await upstream.prepare(inbound);

  const ac = new AbortController();
  let clientGone = false;
  const onClose = () => {
    if (!res.writableFinished) {
      clientGone = true;
      ac.abort();
    }
  };
  res.on('close', onClose);

  const pending = request(out.url, {
    dispatcher: upstream.dispatcher, method: out.method, headers: out.headers, body: out.body,
    signal: ac.signal, headersTimeout: upstream.headersTimeoutMs, bodyTimeout: upstream.bodyTimeoutMs,
  });
  line.session_id = sessionIdOf(req.headers, scan);

  let up: Awaited<ReturnType<typeof request>>;
  try {
    up = await pending;
  } catch (err) {
    if (clientGone) {
      line.client_aborted = true;
      line.http_status = 499;
      line.duration_ms = ctx.now() - t0;
      await ctx.ledger.write(line).catch(() => {});
      return;
    }
    const { code, cause } = upstreamErrorCode(err);
    throw new GatewayError(code, `upstream "${upstream.name}" (${upstream.displayUrl}) ${code === 'TG_UPSTREAM_TIMEOUT' ? 'timed out' : 'unreachable'}: ${cause}`);
  }

  line.http_status = up.statusCode;
  line.upstream_request_id = headerValue(up.headers, 'request-id') ?? null;
  const contentType = (headerValue(up.headers, 'content-type') ?? '').toLowerCase();
  const encoding = (headerValue(up.headers, 'content-encoding') ?? '').trim().toLowerCase();
  const isSse = contentType.startsWith('text/event-stream');
  line.streamed = isSse;

  const headers = forwardResponseHeaders(up.headers);
  headers['x-tollgate-request-id'] = line.id;
  headers['x-tollgate-upstream'] = upstream.name;
  headers['x-tollgate-route'] = upstream.route;
  res.writeHead(up.statusCode, headers);
  if (isSse) res.flushHeaders();

  const meter = isSse ? new StreamMeter() : null;
  const parser = meter ? new SseParser((ev) => meter.onEvent(ev.event, ev.data), (e) => StreamMeter.METERED_EVENTS.has(e)) : null;
  const jsonParts: Buffer[] = [];
  let jsonSize = 0;
  const keepJson = (b: Buffer) => {
    jsonSize += b.length;
    if (jsonSize <= MAX_METERED_JSON) jsonParts.push(b);
  };
  const dec = decoderFor(encoding);
  let unreadable = dec === 'unsupported';
  const decoder = dec === 'unsupported' ? null : dec;
  if (decoder) {
    decoder.on('data', (d: Buffer) => (parser ? parser.push(d) : keepJson(d)));
    decoder.on('error', () => { unreadable = true; });
  }

  let finalized: Promise<void> | null = null;
  const finalize = (extra: Partial<LedgerLine> = {}): Promise<void> => {
    if (finalized) return finalized;
    let facts: ResponseFacts;
    if (meter) facts = meter.facts();
    else if (jsonSize <= MAX_METERED_JSON && !unreadable) facts = factsFromJson(Buffer.concat(jsonParts, jsonSize).toString('utf8'));
    else facts = factsFromJson('');
    Object.assign(line, facts.usage);
    line.model_served = facts.model ?? (up.statusCode < 400 ? model : null);
    line.stop_reason = facts.stopReason ?? null;
    line.message_id = facts.messageId ?? null;
    if (facts.errorType) line.error_type = facts.errorType;
    if (up.statusCode >= 400 && !line.error_type) line.error_type = 'api_error';
    if (unreadable) line.error_code = 'TG_UPSTREAM_BAD_RESPONSE';
    const priced = ctx.prices.cost(line.model_served ?? line.model_requested ?? undefined, facts.usage);
    line.cost_nanousd = priced.nanoUsd;
    // Requests that used no tokens (errors, count_tokens) cost nothing, priced or not.
    line.priced = priced.priced || !facts.usageSeen;
    Object.assign(line, extra);
    line.duration_ms = ctx.now() - t0;
    finalized = ctx.ledger.write(line);
    return finalized;
  };

  // For compressed or non-SSE bodies the client cannot use a response before its last bytes,
  // so the latest chunk is held back until the ledger line is durable. For plain SSE the
  // chunk that completes message_stop is the one held.
  let held: Buffer | null = null;
  const holdBack = decoder !== null || !isSse || unreadable;
  try {
    for await (const c of up.body) {
      const chunk = c as Buffer;
      if (line.ttfb_ms === null) line.ttfb_ms = ctx.now() - t0;
      if (holdBack) {
        if (decoder) decoder.write(chunk);
        else if (!isSse) keepJson(chunk);
        if (held && !(await write(res, held))) break;
        held = chunk;
        continue;
      }
      parser!.push(chunk);
      if (meter!.complete && !finalized) await finalize();
      if (!(await write(res, chunk))) break;
    }
    if (decoder) {
      decoder.end();
      if (!unreadable) await once(decoder, 'end').catch(() => { unreadable = true; });
    }
    if (clientGone) {
      await finalize({ client_aborted: true });
      return;
    }
    await finalize();
    if (held) await write(res, held);
    res.end();
  } catch (err) {
    if (clientGone) {
      await finalize({ client_aborted: true }).catch(() => {});
      return;
    }
    // The upstream failed mid-response. Headers are out; an SSE client gets an error event,
    // anything else a cut connection (a half JSON document cannot be repaired).
    const { code, cause } = upstreamErrorCode(err);
    ctx.logger.warn('upstream failed mid-response', { request_id: line.id, upstream: upstream.name, cause });
    const type = code === 'TG_UPSTREAM_TIMEOUT' ? 'timeout_error' : 'api_error';
    await finalize({ error_code: code, error_type: type }).catch(() => {});
    if (isSse && !holdBack) {
      await write(res, encodeSse('error', JSON.stringify({ type: 'error', error: { type, message: `${code}: upstream "${upstream.name}" failed mid-stream: ${cause}` } })));
      res.end();
    } else {
      res.destroy();
    }
  } finally {
    res.off('close', onClose);
    if (!up.body.destroyed) up.body.destroy();
  }
}
