// The request path for /v1/messages and /v1/messages/count_tokens:
// identify → read and check the body → upstream → stream back while metering → ledger.
// On the Anthropic route bytes pass through untouched; the meter only reads them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { request, errors as undiciErrors, type Dispatcher } from 'undici';
import { JsonSyntaxError, leadingModel, memberValue, scanBody, type ScannedBody } from '../protocol/anthropic/body.js';
import { encodeSse, SseParser } from '../protocol/anthropic/sse.js';
import { factsFromJson, StreamMeter, type ResponseFacts } from '../metering/usage.js';
import { anthropicErrorBody } from '../providers/shared.js';
import type { Endpoint, InboundRequest, MappedError, OutboundRequest, ResponseTranslator, Upstream } from '../providers/types.js';
import { retryAfterMs } from '../routing/router.js';
import type { Attempt, KeyRecord, LedgerLine } from '../store/types.js';
import { decodeRequestBody, readBody } from './body.js';
import { GatewayError, type ErrorCode } from './errors.js';
import { forwardResponseHeaders, headerValue } from './headers.js';
import type { GatewayContext } from './context.js';
import type { Admission } from '../policy/spend.js';

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
  const held: { admission: Admission | null } = { admission: null };
  try {
    await proxy(ctx, req, res, endpoint, search, line, key, t0, held);
    if (held.admission) ctx.spend.settle(held.admission, line);
  } catch (err) {
    if (held.admission) ctx.spend.settle(held.admission, line);
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
    upstream_model: null, endpoint_type: null, attempts: [],
  };
}

/** Validates the fields the gateway relies on; throws the gateway's 400s. */
function checkBody(scan: () => ScannedBody): { model: string } {
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
  return { model };
}

/** Statuses after which another upstream may do better: rate limits, overload, server errors. */
function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

const RETRY_HEADERS = ['retry-after', 'x-should-retry', 'request-id'];

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

async function proxy(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, search: string, line: LedgerLine, key: KeyRecord, t0: number, held: { admission: Admission | null }): Promise<void> {
  const limit = ctx.config.server.max_body_bytes;
  const rawBody = await readBody(req, limit);
  const decoded = decodeRequestBody(rawBody, headerValue(req.headers, 'content-encoding'), limit);
  let cached: ScannedBody | null = null;
  const scan = (): ScannedBody => (cached ??= scanBody(decoded));
  // Fast path: with the model first in the body (as Claude Code sends it) the pass-through
  // route needs nothing else from a body of hundreds of KB, so it is not scanned at all; JSON
  // validity is then the upstream's to judge (it answers 400 invalid_request_error, passed
  // back as is). Any other body, and any body for a translating route, is fully checked
  // before anything is sent upstream.
  let model = leadingModel(decoded);
  if (model === null) model = checkBody(scan).model;
  line.model_requested = model;
  // Policy, rate limits and budgets: refused here, nothing reaches an upstream.
  const admission = ctx.spend.admit(key, model, decoded.length);
  held.admission = admission;
  const inbound: InboundRequest = { endpoint, rawBody, scanned: scan, model: admission.model, bodyModel: model, headers: req.headers, search, team: key.team };
  line.session_id = sessionIdOf(req.headers, scan);

  const router = ctx.router;
  const targets = router.targetsFor(key);
  if (targets.length === 0) throw new GatewayError('TG_NO_UPSTREAM', 'no upstream is configured for this key');
  const fo = router.failover;

  const ac = new AbortController();
  let clientGone = false;
  const onClose = () => {
    if (!res.writableFinished) {
      clientGone = true;
      ac.abort();
    }
  };
  res.on('close', onClose);

  const retryAfter = new Map<string, number>();
  let lastGatewayError: GatewayError | null = null;
  let lastUpstream: { error: MappedError; headers: Record<string, string> } | null = null;
  try {
    for (let i = 0; i < fo.max_attempts && !clientGone; i++) {
      const upstream = targets[i % targets.length] as Upstream;
      if (i >= targets.length) {
        // Back to an upstream already tried in this request: back off, honour its retry-after.
        const wait = Math.max(router.backoff(Math.floor(i / targets.length)), (retryAfter.get(upstream.name) ?? 0) - ctx.wallNow());
        if (wait > fo.max_retry_after_ms) break;
        await sleep(wait, ac.signal);
        if (clientGone) break;
      }
      const previous = line.attempts[line.attempts.length - 1];
      if (previous && previous.upstream !== upstream.name) {
        router.emit({ kind: 'failover', from: previous.upstream, to: upstream.name, reason: previous.error ?? `HTTP ${previous.status}`, keyId: key.id, user: key.user, team: key.team });
      }
      const nextIndex = i + 1;
      const next = targets[nextIndex % targets.length] as Upstream;
      // Whether another attempt can follow this one (known retry-afters included).
      const canRetry = () => nextIndex < fo.max_attempts && (nextIndex < targets.length
        || ((retryAfter.get(next.name) ?? 0) - ctx.wallNow()) <= fo.max_retry_after_ms);

      const a0 = ctx.now();
      const attempt: Attempt = { upstream: upstream.name, status: 0, error: null, duration_ms: 0 };
      line.attempts.push(attempt);
      line.upstream = upstream.name;
      line.route = upstream.route;
      line.region = upstream.region;

      const problem = upstream.credentialProblem();
      let out: OutboundRequest;
      try {
        if (problem) throw new GatewayError('TG_UPSTREAM_NO_CREDENTIALS', problem);
        out = await upstream.prepare(inbound);
      } catch (err) {
        if (!(err instanceof GatewayError)) {
          if (err instanceof JsonSyntaxError) throw new GatewayError('TG_BAD_JSON', `request body is not valid JSON: ${err.message}`);
          throw err;
        }
        // Another upstream on the list may have the model or the credentials.
        attempt.error = err.code;
        attempt.status = err.status;
        attempt.duration_ms = ctx.now() - a0;
        lastGatewayError = err;
        continue;
      }
      line.upstream_model = out.upstreamModel;
      line.endpoint_type = out.endpointType;
      line.region = out.region;

      let up: Awaited<ReturnType<typeof request>>;
      try {
        up = await request(out.url, {
          dispatcher: upstream.dispatcher, method: out.method, headers: out.headers, body: out.body,
          signal: ac.signal, headersTimeout: upstream.headersTimeoutMs, bodyTimeout: upstream.bodyTimeoutMs,
        });
      } catch (err) {
        attempt.duration_ms = ctx.now() - a0;
        if (clientGone) break;
        const { code, cause } = upstreamErrorCode(err);
        attempt.error = `${code}: ${cause}`;
        router.failure(upstream.name);
        lastGatewayError = new GatewayError(code, `upstream "${upstream.name}" (${upstream.displayUrl}) ${code === 'TG_UPSTREAM_TIMEOUT' ? 'timed out' : 'unreachable'}: ${cause}`);
        lastUpstream = null;
        continue;
      }
      attempt.status = up.statusCode;
      line.http_status = up.statusCode;
      line.upstream_request_id = headerValue(up.headers, 'request-id') ?? headerValue(up.headers, 'x-amzn-requestid') ?? null;

      const passthrough = upstream.route === 'anthropic';
      const ra = retryAfterMs(headerValue(up.headers, 'retry-after'), ctx.wallNow());
      if (ra !== null) retryAfter.set(upstream.name, ctx.wallNow() + ra);
      if (up.statusCode >= 400 && (retryable(up.statusCode) || !passthrough)) {
        // Pass the very first answer through untouched when nothing else will be tried.
        if (passthrough && line.attempts.length === 1 && (!retryable(up.statusCode) || !canRetry())) {
          attempt.duration_ms = ctx.now() - a0;
          await streamResponse(ctx, res, upstream, inbound, out, up, line, t0, null, () => clientGone, false, admission.headers);
          return;
        }
        const text = await up.body.text().catch(() => '');
        attempt.duration_ms = ctx.now() - a0;
        const mapped = upstream.mapError(up.statusCode, up.headers, text);
        attempt.error = mapped.type;
        const kept: Record<string, string> = {};
        for (const h of RETRY_HEADERS) {
          const v = headerValue(up.headers, h);
          if (v !== undefined) kept[h] = v;
        }
        if (retryable(mapped.status)) {
          router.failure(upstream.name);
          lastUpstream = { error: mapped, headers: kept };
          lastGatewayError = null;
          if (canRetry()) continue;
          break;
        }
        router.success(upstream.name);
        lastUpstream = { error: mapped, headers: kept };
        lastGatewayError = null;
        break;
      }

      const translator = passthrough ? null : upstream.translator(inbound, out, up.statusCode, up.headers);
      const outcome = await streamResponse(ctx, res, upstream, inbound, out, up, line, t0, translator, () => clientGone, canRetry(), admission.headers);
      attempt.duration_ms = ctx.now() - a0;
      if (outcome === 'retry') {
        // The stream failed before its first byte reached the client.
        attempt.error = translator?.error?.type ?? 'stream error';
        attempt.status = translator?.error?.status ?? 502;
        router.failure(upstream.name);
        lastUpstream = translator?.error ? { error: translator.error, headers: {} } : null;
        continue;
      }
      router.success(upstream.name);
      return;
    }
  } finally {
    res.off('close', onClose);
  }

  if (clientGone) {
    line.client_aborted = true;
    line.http_status = 499;
    line.duration_ms = ctx.now() - t0;
    await ctx.ledger.write(line).catch(() => {});
    return;
  }
  const tried = line.attempts.map((a) => `${a.upstream} → ${a.status || ''}${a.status && a.error ? ' ' : ''}${a.error ?? ''}`.trim()).join('; ');
  if (lastUpstream) {
    // Every target failed (or the one that answered refused): the last upstream's error,
    // Anthropic-shaped, with what was tried when there was more than one attempt.
    const e = lastUpstream.error;
    const message = line.attempts.length > 1 ? `${e.message} (tollgate tried: ${tried})` : e.message;
    line.http_status = e.status;
    line.error_type = e.type;
    line.duration_ms = ctx.now() - t0;
    await ctx.ledger.write(line).catch(() => {});
    const body = anthropicErrorBody({ ...e, message }, line.upstream_request_id ?? undefined);
    res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-tollgate-request-id': line.id, 'x-tollgate-upstream': line.upstream ?? '', 'x-tollgate-route': line.route ?? '', ...lastUpstream.headers });
    res.end(body);
    return;
  }
  const ge = lastGatewayError ?? new GatewayError('TG_NO_UPSTREAM', 'no upstream could serve this request');
  if (line.attempts.length > 1) throw new GatewayError(ge.code, `${ge.message} (tollgate tried: ${tried})`, ge.headers);
  throw ge;
}

/**
 * Streams a response to the client while metering it. Returns 'retry' when a translated
 * stream failed before anything reached the client and another attempt is possible; 'done'
 * otherwise (including client aborts, which are recorded).
 */
async function streamResponse(ctx: GatewayContext, res: ServerResponse, upstream: Upstream, inbound: InboundRequest, out: OutboundRequest,
  up: Dispatcher.ResponseData<unknown>, line: LedgerLine, t0: number, translator: ResponseTranslator | null, clientGone: () => boolean, canRetry = false,
  extraHeaders: Record<string, string> = {}): Promise<'done' | 'retry'> {
  const status = up.statusCode;
  const upContentType = (headerValue(up.headers, 'content-type') ?? '').toLowerCase();
  const encoding = translator ? '' : (headerValue(up.headers, 'content-encoding') ?? '').trim().toLowerCase();
  const isSse = translator ? translator.contentType.startsWith('text/event-stream') : upContentType.startsWith('text/event-stream');
  line.streamed = isSse;

  const headers: Record<string, string | string[]> = translator ? { 'content-type': translator.contentType } : forwardResponseHeaders(up.headers);
  if (translator) {
    for (const h of RETRY_HEADERS) {
      const v = headerValue(up.headers, h);
      if (v !== undefined) headers[h] = v;
    }
    if (isSse) headers['cache-control'] = 'no-cache';
  }
  headers['x-tollgate-request-id'] = line.id;
  headers['x-tollgate-upstream'] = upstream.name;
  headers['x-tollgate-route'] = upstream.route;
  Object.assign(headers, extraHeaders);
  let headSent = false;
  const sendHead = () => {
    if (headSent) return;
    headSent = true;
    res.writeHead(status, headers);
    if (isSse) res.flushHeaders();
  };
  // Pass-through answers start at once; a translated one waits for its first output, so an
  // error frame before it can still fail over.
  if (!translator) sendHead();

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
    // On a cloud route the stream reports the client's id (swapped back); price by catalog id.
    line.model_served = facts.model ?? (status < 400 ? inbound.model : null);
    line.stop_reason = facts.stopReason ?? null;
    line.message_id = facts.messageId ?? null;
    if (facts.errorType) line.error_type = facts.errorType;
    if (status >= 400 && !line.error_type) line.error_type = 'api_error';
    if (unreadable) line.error_code = 'TG_UPSTREAM_BAD_RESPONSE';
    const priceModel = out.catalogModel ?? line.model_served ?? line.model_requested ?? undefined;
    const priced = ctx.prices.cost(priceModel, facts.usage, { route: upstream.route, endpointType: out.endpointType });
    line.cost_nanousd = priced.nanoUsd;
    // Requests that used no tokens (errors, count_tokens) cost nothing, priced or not.
    line.priced = priced.priced || !facts.usageSeen;
    const reported = translator?.reportedUsage;
    if (reported && facts.usageSeen && (reported.input !== facts.usage.input_tokens || reported.output !== facts.usage.output_tokens)) {
      ctx.logger.warn('route-reported usage differs from the stream', { request_id: line.id, upstream: upstream.name, reported, metered: facts.usage });
    }
    Object.assign(line, extra);
    line.duration_ms = ctx.now() - t0;
    finalized = ctx.ledger.write(line);
    return finalized;
  };

  // Silence on a translated stream is filled with pings, as the API does, so clients and
  // proxies in between do not time out.
  let lastWrite = ctx.now();
  const pingEvery = ctx.config.server.ping_interval_ms;
  const pinger = translator && isSse ? setInterval(() => {
    if (headSent && !res.destroyed && ctx.now() - lastWrite >= pingEvery) {
      res.write(encodeSse('ping', '{"type": "ping"}'));
      lastWrite = ctx.now();
    }
  }, Math.max(50, Math.floor(pingEvery / 2))) : null;

  const refuse = async (e: MappedError): Promise<void> => {
    const body = anthropicErrorBody(e);
    headers['content-type'] = 'application/json';
    res.writeHead(e.status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    headSent = true;
    line.http_status = e.status;
    line.error_type = e.type;
    await finalize();
    res.end(body);
  };

  const emit = async (b: Buffer): Promise<boolean> => {
    sendHead();
    lastWrite = ctx.now();
    return write(res, b);
  };

  // For compressed or non-SSE bodies the client cannot use a response before its last bytes,
  // so the latest chunk is held back until the ledger line is durable. For SSE the chunk that
  // completes message_stop is the one held.
  let held: Buffer | null = null;
  const holdBack = decoder !== null || !isSse || unreadable;
  try {
    for await (const c of up.body) {
      let chunk = c as Buffer;
      if (translator) {
        const t = translator.push(chunk);
        if (translator.error && !headSent) {
          // The stream failed before anything reached the client: try elsewhere, or answer
          // with the mapped status as if the upstream had refused outright.
          if (canRetry) return 'retry';
          await refuse(translator.error);
          return 'done';
        }
        if (!t) continue;
        chunk = t;
      }
      if (line.ttfb_ms === null) line.ttfb_ms = ctx.now() - t0;
      if (holdBack) {
        if (decoder) decoder.write(chunk);
        else if (!isSse) keepJson(chunk);
        if (held && !(await emit(held))) break;
        held = chunk;
        continue;
      }
      parser!.push(chunk);
      if (meter!.complete && !finalized) await finalize();
      if (!(await emit(chunk))) break;
    }
    if (translator && !clientGone()) {
      const tail = translator.end();
      if (translator.error && !headSent && canRetry) return 'retry';
      if (translator.error && !headSent) {
        await refuse(translator.error);
        return 'done';
      }
      if (tail) {
        if (line.ttfb_ms === null) line.ttfb_ms = ctx.now() - t0;
        if (holdBack) {
          if (!isSse) keepJson(tail);
          if (held) await emit(held);
          held = tail;
        } else {
          parser!.push(tail);
          if (meter!.complete && !finalized) await finalize();
          await emit(tail);
        }
      }
      if (translator.error) {
        line.error_type = translator.error.type;
        if (!headSent) {
          await refuse(translator.error);
          return 'done';
        }
      }
    }
    if (decoder) {
      decoder.end();
      if (!unreadable) await once(decoder, 'end').catch(() => { unreadable = true; });
    }
    if (clientGone()) {
      await finalize({ client_aborted: true });
      return 'done';
    }
    await finalize();
    if (held) await emit(held);
    sendHead();
    res.end();
    return 'done';
  } catch (err) {
    if (clientGone()) {
      await finalize({ client_aborted: true }).catch(() => {});
      return 'done';
    }
    // The upstream failed mid-response. Before the first byte a retry is still possible;
    // after it, an SSE client gets an error event, anything else a cut connection.
    const { code, cause } = upstreamErrorCode(err);
    if (!headSent && canRetry) return 'retry';
    ctx.logger.warn('upstream failed mid-response', { request_id: line.id, upstream: upstream.name, cause });
    const type = code === 'TG_UPSTREAM_TIMEOUT' ? 'timeout_error' : 'api_error';
    await finalize({ error_code: code, error_type: type }).catch(() => {});
    if (isSse && !holdBack) {
      sendHead();
      await write(res, encodeSse('error', JSON.stringify({ type: 'error', error: { type, message: `${code}: upstream "${upstream.name}" failed mid-stream: ${cause}` } })));
      res.end();
    } else {
      res.destroy();
    }
    return 'done';
  } finally {
    if (pinger) clearInterval(pinger);
    if (!up.body.destroyed) up.body.destroy();
  }
}
