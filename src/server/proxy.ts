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
import { addUsage, emptyUsage, factsFromJson, StreamMeter, type ResponseFacts, type Usage } from '../metering/usage.js';
import { LedgerWriteError } from '../metering/ledger.js';
import { anthropicErrorBody } from '../providers/shared.js';
import { isCredentialRefusal, type Endpoint, type InboundRequest, type MappedError, type OutboundRequest, type ResponseTranslator, type Upstream } from '../providers/types.js';
import { retryAfterMs } from '../routing/router.js';
import type { Attempt, KeyRecord, LedgerLine } from '../store/types.js';
import { ClientAbortError, decodeRequestBody, readBody } from './body.js';
import { GatewayError, type ErrorCode } from './errors.js';
import { forwardResponseHeaders, headerValue } from './headers.js';
import type { GatewayContext } from './context.js';
import type { Admission } from '../policy/spend.js';
import { redactText } from '../util/redact.js';

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
  return { code: 'TG_UPSTREAM_UNREACHABLE', cause: redactText(cause) };
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
  if (ctx.shutdown.aborted) throw new GatewayError('TG_SHUTDOWN', 'the gateway is shutting down; retry (another replica will answer)');
  // Fail closed: a request whose ledger line could not be written is never sent upstream.
  const storeProblem = ctx.storeProblem();
  if (storeProblem && ctx.config.store.on_failure === 'closed') {
    throw new GatewayError('TG_STORE_UNAVAILABLE', `${storeProblem}; nothing is sent upstream until the gateway can record it (store.on_failure: closed)`);
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
    if (err instanceof ClientAbortError) {
      line.http_status = 499;
      line.client_aborted = true;
    } else {
      line.http_status = ge?.status ?? 500;
      line.error_type = ge?.type ?? 'api_error';
      line.error_code = ge?.code ?? 'TG_INTERNAL';
    }
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
  if (scanned.duplicates.length > 0) {
    const keys = scanned.duplicates.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ');
    throw new GatewayError('TG_BAD_REQUEST', `${keys} ${scanned.duplicates.length === 1 ? 'appears' : 'appear'} more than once at the top level of the request body; send each field once`);
  }
  if (typeof model !== 'string' || model.trim() === '') {
    throw new GatewayError('TG_BAD_REQUEST', model === undefined ? 'model: field required' : 'model: expected a non-empty string');
  }
  if (stream !== undefined && typeof stream !== 'boolean') throw new GatewayError('TG_BAD_REQUEST', 'stream: expected a boolean');
  return { model: checkModelName(model) };
}

/** Model ids in every route's form: first-party ids and aliases, "[1m]", Bedrock profile ids
 * and ARNs, Vertex "@date" ids. Nothing else is logged, stored or used as a map key. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/[\]-]*$/;
const MAX_MODEL_LENGTH = 256;

function checkModelName(model: string): string {
  if (model.length <= MAX_MODEL_LENGTH && MODEL_NAME.test(model)) return model;
  // Quote only an escaped prefix: the name may be megabytes long or hold a newline.
  const shown = JSON.stringify(model.slice(0, 40)) + (model.length > 40 ? '…' : '');
  throw new GatewayError('TG_BAD_REQUEST', model.length > MAX_MODEL_LENGTH
    ? `model: ${model.length} characters, at most ${MAX_MODEL_LENGTH} (${shown})`
    : `model: ${shown} is not a model id (letters, digits and . _ - : @ / [ ] only)`);
}

/** Statuses after which another upstream may do better: rate limits, overload, server errors. */
function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Upstream headers the client's own retry logic reads; kept on every error it finally gets. */
const RETRY_HEADERS = ['retry-after', 'retry-after-ms', 'x-should-retry', 'request-id'];

function retryHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || !(RETRY_HEADERS.includes(k) || k.startsWith('anthropic-ratelimit-'))) continue;
    kept[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return kept;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/** Why a request in flight stopped early: its client left, or the gateway's shutdown cut it. */
interface Stop {
  clientGone: boolean;
  cut: boolean;
}

const SHUTDOWN_MESSAGE = 'the gateway is shutting down and cut this request after its grace period (server.shutdown_grace_ms); retry (another replica will answer)';

async function proxy(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, search: string, line: LedgerLine, key: KeyRecord, t0: number, held: { admission: Admission | null }): Promise<void> {
  const limit = ctx.config.server.max_body_bytes;
  const rawBody = await readBody(req, limit);
  const decoded = decodeRequestBody(rawBody, headerValue(req.headers, 'content-encoding'), limit);
  let cached: ScannedBody | null = null;
  const scan = (): ScannedBody => (cached ??= scanBody(decoded));
  // Fast path: with the model first in the body (as Claude Code sends it) and no other key
  // that could read as "model", the pass-through route needs nothing else from a body of
  // hundreds of KB, so it is not scanned at all; JSON validity is then the upstream's to judge
  // (it answers 400 invalid_request_error, passed back as is). Any other body, and any body for
  // a translating route, is fully checked before anything is sent upstream.
  const leading = leadingModel(decoded);
  const model = leading === null ? checkBody(scan).model : checkModelName(leading);
  line.model_requested = model;
  // Policy, rate limits and budgets: refused here, nothing reaches an upstream.
  const admission = ctx.spend.admit(key, model, decoded.length, line.id);
  held.admission = admission;
  const inbound: InboundRequest = { endpoint, rawBody, scanned: scan, model: admission.model, bodyModel: model, headers: req.headers, search, team: key.team };
  line.session_id = sessionIdOf(req.headers, scan);

  const router = ctx.router;
  const targets = router.targetsFor(key);
  if (targets.length === 0) throw new GatewayError('TG_NO_UPSTREAM', 'no upstream is configured for this key');
  const fo = router.failover;
  // Claude Code and the Anthropic SDKs retry on their own (they say so with
  // x-stainless-retry-count). Retrying the same upstream here as well would multiply upstream
  // calls (3 × 3 under an overload) and the wait before the engineer sees the error: for
  // them the gateway only fails over to other upstreams, at most once each.
  const clientRetries = req.headers['x-stainless-retry-count'] !== undefined;
  const maxAttempts = clientRetries ? Math.min(fo.max_attempts, targets.length) : fo.max_attempts;

  const ac = new AbortController();
  const stop: Stop = { clientGone: false, cut: false };
  const onClose = () => {
    if (!res.writableFinished) {
      stop.clientGone = true;
      ac.abort();
    }
  };
  const onShutdown = () => {
    stop.cut = true;
    ac.abort();
  };
  res.on('close', onClose);
  const offShutdown = ctx.shutdown.on(onShutdown);

  const retryAfter = new Map<string, number>();
  // Upstreams that cannot serve this request at all (no or refused credentials, model not on
  // the route): never tried again for it.
  const excluded = new Set<string>();
  const triedCount = new Map<string, number>();
  let cursor = 0;
  /** The next upstream to try (round the list, skipping excluded ones), without taking it. */
  const peek = (): { upstream: Upstream; index: number } | null => {
    for (let k = 0; k < targets.length; k++) {
      const index = (cursor + k) % targets.length;
      const u = targets[index] as Upstream;
      if (!excluded.has(u.name)) return { upstream: u, index };
    }
    return null;
  };
  let lastGatewayError: GatewayError | null = null;
  let lastUpstream: { error: MappedError; headers: Record<string, string> } | null = null;
  /** What abandoned attempts were billed; the line's totals include it. */
  const billed = { usage: emptyUsage(), cost: 0 };
  try {
    for (let n = 0; n < maxAttempts && !stop.clientGone && !stop.cut; n++) {
      const pick = peek();
      if (!pick) break;
      const upstream = pick.upstream;
      cursor = pick.index + 1;
      const before = triedCount.get(upstream.name) ?? 0;
      triedCount.set(upstream.name, before + 1);
      if (before > 0) {
        // Back to an upstream already tried in this request: back off, honour its retry-after.
        const wait = Math.max(router.backoff(before), (retryAfter.get(upstream.name) ?? 0) - ctx.wallNow());
        if (wait > fo.max_retry_after_ms) break;
        await sleep(wait, ac.signal);
        if (stop.clientGone || stop.cut) break;
      }
      const previous = line.attempts[line.attempts.length - 1];
      if (previous && previous.upstream !== upstream.name) {
        router.emit({ kind: 'failover', from: previous.upstream, to: upstream.name, reason: previous.error ?? `HTTP ${previous.status}`, keyId: key.id, user: key.user, team: key.team });
      }
      // Whether another attempt can follow this one (known retry-afters included).
      const canRetry = () => {
        if (n + 1 >= maxAttempts) return false;
        const next = peek();
        if (!next) return false;
        if ((triedCount.get(next.upstream.name) ?? 0) === 0) return true;
        return ((retryAfter.get(next.upstream.name) ?? 0) - ctx.wallNow()) <= fo.max_retry_after_ms;
      };

      const a0 = ctx.now();
      const attempt: Attempt = { upstream: upstream.name, status: 0, error: null, duration_ms: 0 };
      line.attempts.push(attempt);
      line.upstream = upstream.name;
      line.route = upstream.route;
      line.region = upstream.region;

      const problem = upstream.credentialProblem();
      let out: OutboundRequest;
      try {
        if (problem) throw new GatewayError('TG_UPSTREAM_NO_CREDENTIALS', `${problem}; ${upstream.credentialHint}`);
        out = await upstream.prepare(inbound);
      } catch (err) {
        if (!(err instanceof GatewayError)) {
          if (err instanceof JsonSyntaxError) throw new GatewayError('TG_BAD_JSON', `request body is not valid JSON: ${err.message}`);
          throw err;
        }
        // Another upstream on the list may have the model or the credentials; this one will
        // not get them by trying again.
        attempt.error = err.code;
        attempt.status = err.status;
        attempt.duration_ms = ctx.now() - a0;
        excluded.add(upstream.name);
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
        if (stop.clientGone || stop.cut) break;
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
      // The upstream says this answer will not change (x-should-retry: false): no retry here.
      if (headerValue(up.headers, 'x-should-retry') === 'false') excluded.add(upstream.name);
      const refusedCredentials = isCredentialRefusal(up.statusCode);
      if (up.statusCode >= 400 && (retryable(up.statusCode) || refusedCredentials || !passthrough)) {
        // Pass the very first answer through untouched when nothing else will be tried.
        if (passthrough && !refusedCredentials && line.attempts.length === 1 && (!retryable(up.statusCode) || !canRetry())) {
          attempt.duration_ms = ctx.now() - a0;
          await streamResponse(ctx, res, upstream, inbound, out, up, line, t0, null, stop, false, admission.headers, billed);
          return;
        }
        const text = await up.body.text().catch(() => '');
        attempt.duration_ms = ctx.now() - a0;
        const mapped = upstream.mapError(up.statusCode, up.headers, text);
        attempt.error = mapped.type;
        const kept = retryHeaders(up.headers);
        if (refusedCredentials) {
          // The gateway's own credentials were refused: no retry fixes that; another upstream
          // on the list (other credentials) may still serve the request.
          router.failure(upstream.name);
          excluded.add(upstream.name);
          lastUpstream = null;
          lastGatewayError = new GatewayError('TG_UPSTREAM_AUTH', `upstream "${upstream.name}" refused the gateway's credentials (HTTP ${up.statusCode}: ${mapped.message}). This is the gateway's configuration, not your key: ${upstream.credentialHint}`);
          continue;
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
      const outcome = await streamResponse(ctx, res, upstream, inbound, out, up, line, t0, translator, stop, canRetry(), admission.headers, billed);
      attempt.duration_ms = ctx.now() - a0;
      if (outcome.retry) {
        // The stream failed before its first byte reached the client. What it had metered
        // (a message_start: the upstream billed the input) stays with the attempt and the line.
        attempt.error = translator?.error?.type ?? 'stream error';
        attempt.status = translator?.error?.status ?? 502;
        if (outcome.metered) {
          attempt.usage = outcome.metered.usage;
          attempt.cost_nanousd = outcome.metered.cost;
          addUsage(billed.usage, outcome.metered.usage);
          billed.cost += outcome.metered.cost;
        }
        router.failure(upstream.name);
        lastUpstream = translator?.error ? { error: translator.error, headers: {} } : null;
        continue;
      }
      router.success(upstream.name);
      return;
    }
  } finally {
    res.off('close', onClose);
    offShutdown();
  }

  addUsage(line, billed.usage);
  line.cost_nanousd += billed.cost;
  if (stop.clientGone) {
    line.client_aborted = true;
    line.http_status = 499;
    line.duration_ms = ctx.now() - t0;
    await ctx.ledger.write(line).catch(() => {});
    return;
  }
  if (stop.cut) throw new GatewayError('TG_SHUTDOWN', SHUTDOWN_MESSAGE);
  const tried = line.attempts.map((a) => `${a.upstream} → ${a.status || ''}${a.status && a.error ? ' ' : ''}${a.error ?? ''}`.trim()).join('; ');
  if (lastUpstream) {
    // Every target failed (or the one that answered refused): the last upstream's error,
    // Anthropic-shaped, with what was tried when there was more than one attempt, and the
    // upstream's retry-after and rate-limit headers for the client's own retry logic.
    const e = lastUpstream.error;
    const message = line.attempts.length > 1 ? `${e.message} (tollgate tried: ${tried})` : e.message;
    line.http_status = e.status;
    line.error_type = e.type;
    line.duration_ms = ctx.now() - t0;
    await writeOrExplain(ctx, line);
    const body = anthropicErrorBody({ ...e, message: redactText(message) }, line.upstream_request_id ?? undefined);
    res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-tollgate-request-id': line.id, 'x-tollgate-upstream': line.upstream ?? '', 'x-tollgate-route': line.route ?? '', ...lastUpstream.headers });
    res.end(body);
    return;
  }
  const ge = lastGatewayError ?? new GatewayError('TG_NO_UPSTREAM', 'no upstream could serve this request');
  if (line.attempts.length > 1) throw new GatewayError(ge.code, `${ge.message} (tollgate tried: ${tried})`, ge.headers);
  throw ge;
}

/** Writes a line whose response has not started; if the store refuses it, the client is told
 * that (503 TG_STORE_UNAVAILABLE) rather than the upstream's answer, unless the operator chose
 * to serve on (store.on_failure: open). */
async function writeOrExplain(ctx: GatewayContext, line: LedgerLine): Promise<void> {
  try {
    await ctx.ledger.write(line);
  } catch (err) {
    if (ctx.config.store.on_failure === 'closed') throw storeError(err);
  }
}

function storeError(err: unknown): GatewayError {
  const cause = err instanceof LedgerWriteError ? err.storeError.message : (err as Error)?.message ?? String(err);
  return new GatewayError('TG_STORE_UNAVAILABLE', `the response could not be recorded in the ledger (${cause}); the line is held and retried, but this answer is withheld (store.on_failure: closed)`);
}

interface StreamOutcome {
  /** The stream failed before anything reached the client and another attempt may follow. */
  retry: boolean;
  /** With retry: what this attempt's stream metered before it failed, if it started. */
  metered?: { usage: Usage; cost: number };
}

/**
 * Streams a response to the client while metering it. `retry` when a translated stream failed
 * before anything reached the client and another attempt is possible; done otherwise
 * (including client aborts and shutdown cuts, which are recorded).
 */
async function streamResponse(ctx: GatewayContext, res: ServerResponse, upstream: Upstream, inbound: InboundRequest, out: OutboundRequest,
  up: Dispatcher.ResponseData<unknown>, line: LedgerLine, t0: number, translator: ResponseTranslator | null, stop: Stop, canRetry: boolean,
  extraHeaders: Record<string, string>, billed: { usage: Usage; cost: number }): Promise<StreamOutcome> {
  const status = up.statusCode;
  const upContentType = (headerValue(up.headers, 'content-type') ?? '').toLowerCase();
  const encoding = translator ? '' : (headerValue(up.headers, 'content-encoding') ?? '').trim().toLowerCase();
  const isSse = translator ? translator.contentType.startsWith('text/event-stream') : upContentType.startsWith('text/event-stream');
  line.streamed = isSse;

  const headers: Record<string, string | string[]> = translator ? { 'content-type': translator.contentType } : forwardResponseHeaders(up.headers);
  if (translator) {
    Object.assign(headers, retryHeaders(up.headers));
    if (isSse) headers['cache-control'] = 'no-cache';
  }
  headers['x-tollgate-request-id'] = line.id;
  headers['x-tollgate-upstream'] = upstream.name;
  headers['x-tollgate-route'] = upstream.route;
  Object.assign(headers, extraHeaders);
  // An error event can be appended to an SSE body only when its length was not declared and
  // it is not compressed.
  const canAppend = isSse && headers['content-length'] === undefined && (encoding === '' || encoding === 'identity');
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

  const facts = (): ResponseFacts => {
    if (meter) return meter.facts();
    if (jsonSize <= MAX_METERED_JSON && !unreadable) return factsFromJson(Buffer.concat(jsonParts, jsonSize).toString('utf8'));
    return factsFromJson('');
  };
  const price = (f: ResponseFacts) => {
    const priceModel = out.catalogModel ?? f.model ?? line.model_requested ?? undefined;
    return ctx.prices.cost(priceModel, f.usage, { route: upstream.route, endpointType: out.endpointType }, f.extras, ctx.config.prices.unpriced === 'reserve' ? 'ceiling' : 'zero');
  };

  /** What went wrong with a response that reached its end (null: nothing). */
  const brokenResponse = (f: ResponseFacts): { code: ErrorCode; message: string } | null => {
    if (status >= 400 || f.errorType) return null;
    if (meter && meter.malformedStart) return { code: 'TG_UPSTREAM_BAD_RESPONSE', message: `upstream "${upstream.name}" sent a message_start the gateway could not read; its usage is unknown` };
    if (meter && !f.complete) return { code: 'TG_UPSTREAM_INCOMPLETE', message: `upstream "${upstream.name}" ended the stream without message_stop` };
    if (!meter && !f.complete && !unreadable && jsonSize <= MAX_METERED_JSON && line.endpoint === 'messages') return { code: 'TG_UPSTREAM_INCOMPLETE', message: `upstream "${upstream.name}" sent a truncated or unreadable body` };
    return null;
  };

  let finalized: Promise<void> | null = null;
  /** Set when a response that reached its end is not whole; the client is told at the end. */
  let broken: { code: ErrorCode; message: string } | null = null;
  const finalize = (extra: Partial<LedgerLine> = {}): Promise<void> => {
    if (finalized) return finalized;
    const f = facts();
    // Only an end the upstream chose is judged: aborts, cuts and failures carry their own code.
    if (Object.keys(extra).length === 0) broken = brokenResponse(f);
    Object.assign(line, f.usage);
    addUsage(line, billed.usage);
    // On a cloud route the stream reports the client's id (swapped back); price by catalog id.
    line.model_served = f.model ?? (status < 400 ? inbound.model : null);
    line.stop_reason = f.stopReason ?? null;
    line.message_id = f.messageId ?? null;
    if (f.errorType) line.error_type = f.errorType;
    if (status >= 400 && !line.error_type) line.error_type = 'api_error';
    if (unreadable) line.error_code = 'TG_UPSTREAM_BAD_RESPONSE';
    if (broken) {
      line.error_code = broken.code;
      line.error_type = 'api_error';
    }
    const priced = price(f);
    line.cost_nanousd = priced.nanoUsd + billed.cost;
    // Requests that used no tokens (errors, count_tokens) cost nothing, priced or not.
    line.priced = priced.priced || !f.usageSeen;
    line.price_tier = f.usageSeen ? priced.tier : null;
    line.speed = f.extras.speed;
    line.inference_geo = f.extras.inference_geo;
    const reported = translator?.reportedUsage;
    if (reported && f.usageSeen && (reported.input !== f.usage.input_tokens || reported.output !== f.usage.output_tokens)) {
      ctx.logger.warn('route-reported usage differs from the stream', { request_id: line.id, upstream: upstream.name, reported, metered: f.usage });
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

  const answerError = async (status: number, body: string): Promise<void> => {
    headers['content-type'] = 'application/json';
    res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    headSent = true;
    res.end(body);
  };
  const refuse = async (e: MappedError): Promise<void> => {
    line.http_status = e.status;
    line.error_type = e.type;
    await finalize().catch(() => {});
    await answerError(e.status, anthropicErrorBody(e));
  };
  /** Ends the response with an error: an SSE event when the stream has started and can take
   * one, a JSON answer when nothing was sent yet, else a cut connection. */
  const endWithError = async (code: ErrorCode, type: string, message: string): Promise<void> => {
    if (!headSent) {
      await answerError(new GatewayError(code, message).status, new GatewayError(code, message).body(line.id));
    } else if (canAppend && !res.destroyed) {
      await write(res, encodeSse('error', JSON.stringify({ type: 'error', error: { type, message: `${code}: ${message}` } })));
      res.end();
    } else {
      res.destroy();
    }
  };
  /** The line could not be written: the client hears it from the store, not the upstream. */
  const storeFailed = async (err: unknown): Promise<void> => {
    if (ctx.config.store.on_failure === 'open') return;
    const ge = storeError(err);
    ctx.logger.error('a finished response could not be recorded', { request_id: line.id, error: ge.message });
    await endWithError(ge.code, ge.type, ge.message);
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
    try {
      for await (const c of up.body) {
        let chunk = c as Buffer;
        if (translator) {
          const t = translator.push(chunk);
          // Whatever a route sends after message_stop (Bedrock can follow a whole stream with
          // an exception frame) changes nothing the client or the ledger has.
          if (meter?.complete) continue;
          if (translator.error && !headSent) {
            // The stream failed before anything reached the client: try elsewhere, or answer
            // with the mapped status as if the upstream had refused outright. What it metered
            // so far (a message_start means the upstream billed the input) is kept.
            if (t && parser) parser.push(t);
            if (canRetry) {
              const f = facts();
              return { retry: true, metered: f.usageSeen ? { usage: f.usage, cost: price(f).nanoUsd } : undefined };
            }
            await refuse(translator.error);
            return { retry: false };
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
        if (meter!.complete && !finalized) {
          try {
            await finalize();
          } catch (err) {
            await storeFailed(err);
            if (ctx.config.store.on_failure === 'closed') return { retry: false };
          }
        }
        if (!(await emit(chunk))) break;
      }
    } catch (err) {
      if (err instanceof LedgerWriteError) throw err;
      if (stop.clientGone) {
        await finalize({ client_aborted: true }).catch(() => {});
        return { retry: false };
      }
      if (stop.cut) {
        await finalize({ error_code: 'TG_SHUTDOWN', error_type: 'api_error' }).catch(() => {});
        await endWithError('TG_SHUTDOWN', 'api_error', SHUTDOWN_MESSAGE);
        return { retry: false };
      }
      // The upstream failed mid-response. Before the first byte a retry is still possible;
      // after it, an SSE client gets an error event, anything else a cut connection.
      const { code, cause } = upstreamErrorCode(err);
      if (!headSent && canRetry) return { retry: true };
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
      return { retry: false };
    }
    if (translator && !stop.clientGone) {
      const tail = translator.end();
      if (translator.error && !headSent && canRetry) return { retry: true };
      if (translator.error && !headSent) {
        await refuse(translator.error);
        return { retry: false };
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
      // An exception after message_stop changes nothing the client or the ledger has.
      if (translator.error && !(meter?.complete)) {
        line.error_type = translator.error.type;
        if (!headSent) {
          await refuse(translator.error);
          return { retry: false };
        }
      }
    }
    if (decoder) {
      decoder.end();
      if (!unreadable) await once(decoder, 'end').catch(() => { unreadable = true; });
    }
    if (stop.clientGone) {
      await finalize({ client_aborted: true }).catch(() => {});
      return { retry: false };
    }
    try {
      await finalize();
    } catch (err) {
      await storeFailed(err);
      if (ctx.config.store.on_failure === 'closed') return { retry: false };
    }
    const b = broken as { code: ErrorCode; message: string } | null;
    if (b) {
      // A 200 that is not a whole response: flagged, and the client told so, never a clean end.
      ctx.logger.warn('upstream response incomplete or unreadable', { request_id: line.id, upstream: upstream.name, code: b.code });
      if (held && isSse) await emit(held);
      await endWithError(b.code, 'api_error', b.message);
      return { retry: false };
    }
    if (held) await emit(held);
    sendHead();
    res.end();
    return { retry: false };
  } catch (err) {
    if (err instanceof LedgerWriteError) {
      await storeFailed(err);
      if (!res.writableEnded && !res.destroyed) res.end();
      return { retry: false };
    }
    throw err;
  } finally {
    if (pinger) clearInterval(pinger);
    if (!up.body.destroyed) up.body.destroy();
  }
}
