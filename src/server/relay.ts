// The response side of one attempt: streams the upstream's answer to the client (passed
// through byte for byte, or translated from a cloud route's protocol) while metering it, and
// finishes the request's ledger line before the client sees the end of the response.
import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Dispatcher } from 'undici';
import { LedgerWriteError } from '../metering/ledger.js';
import type { Cost } from '../metering/prices.js';
import { factsFromJson, StreamMeter, type ResponseFacts, type Usage } from '../metering/usage.js';
import { encodeSse, SseParser } from '../protocol/anthropic/sse.js';
import type { InboundRequest, MappedError, OutboundRequest, ResponseTranslator, Upstream } from '../providers/types.js';
import type { LedgerLine } from '../store/types.js';
import { errorEnvelope, GatewayError, sendError, type ErrorCode } from './errors.js';
import { forwardResponseHeaders, headerValue } from './headers.js';
import { SHUTDOWN_MESSAGE, type RequestContext } from './request.js';
import { retryHeaders, upstreamErrorCode } from './upstream-errors.js';

/** Non-streaming bodies are kept for metering up to this size; beyond it the line is unmetered. */
const MAX_METERED_JSON = 64 * 1024 * 1024;

export interface RelayOutcome {
  /** The stream failed before anything reached the client and another attempt may follow. */
  retry: boolean;
  /** With retry: what this attempt's stream metered before it failed, if it started. */
  metered?: { usage: Usage; cost: number };
}

export interface RelayInput {
  upstream: Upstream;
  inbound: InboundRequest;
  out: OutboundRequest;
  up: Dispatcher.ResponseData<unknown>;
  /** Null on the pass-through (Anthropic) route. */
  translator: ResponseTranslator | null;
  /** Whether another attempt may follow if this one fails before its first byte. */
  canRetry: boolean;
}

function decoderFor(encoding: string): Transform | null | 'unsupported' {
  switch (encoding) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return 'unsupported';
  }
}

/** Writes with backpressure; resolves false if the client went away instead of draining. */
export async function writeChunk(res: ServerResponse, chunk: Buffer | string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
  return !res.destroyed;
}

export class StreamRelay {
  private readonly line: LedgerLine;
  private readonly status: number;
  private readonly isSse: boolean;
  private readonly headers: Record<string, string | string[]>;
  /** An error event can be appended to an SSE body only when its length was not declared and
   * it is not compressed. */
  private readonly canAppend: boolean;
  private readonly meter: StreamMeter | null;
  private readonly parser: SseParser | null;
  private readonly decoder: Transform | null;
  private unreadable: boolean;
  private readonly jsonParts: Buffer[] = [];
  private jsonSize = 0;
  private headSent = false;
  private lastWrite: number;
  /** Set when a response that reached its end is not whole; the client is told at the end. */
  private broken: { code: ErrorCode; message: string } | null = null;
  /** For compressed or non-SSE bodies the client cannot use a response before its last bytes,
   * so the latest chunk is held back until the ledger line is durable. For SSE the chunk that
   * completes message_stop is the one held. */
  private held: Buffer | null = null;
  private readonly holdBack: boolean;

  constructor(
    private readonly rc: RequestContext,
    private readonly res: ServerResponse,
    private readonly x: RelayInput,
  ) {
    const { up, translator, upstream } = x;
    this.line = rc.line;
    this.status = up.statusCode;
    const upContentType = (headerValue(up.headers, 'content-type') ?? '').toLowerCase();
    const encoding = translator ? '' : (headerValue(up.headers, 'content-encoding') ?? '').trim().toLowerCase();
    this.isSse = translator ? translator.contentType.startsWith('text/event-stream') : upContentType.startsWith('text/event-stream');
    this.line.streamed = this.isSse;
    this.headers = translator ? { 'content-type': translator.contentType } : forwardResponseHeaders(up.headers);
    if (translator) {
      Object.assign(this.headers, retryHeaders(up.headers));
      if (this.isSse) this.headers['cache-control'] = 'no-cache';
    }
    this.headers['x-tollgate-request-id'] = this.line.id;
    this.headers['x-tollgate-upstream'] = upstream.name;
    this.headers['x-tollgate-route'] = upstream.route;
    if (rc.admission?.ownsRateLimitHeaders) {
      for (const h of Object.keys(this.headers)) if (h.startsWith('anthropic-ratelimit-')) delete this.headers[h];
    }
    Object.assign(this.headers, rc.admission?.headers ?? {});
    this.canAppend = this.isSse && this.headers['content-length'] === undefined && (encoding === '' || encoding === 'identity');
    const meter = this.isSse ? new StreamMeter() : null;
    this.meter = meter;
    this.parser = meter
      ? new SseParser(
          (ev) => meter.onEvent(ev.event, ev.data),
          (e) => StreamMeter.METERED_EVENTS.has(e),
        )
      : null;
    const dec = decoderFor(encoding);
    this.unreadable = dec === 'unsupported';
    this.decoder = dec === 'unsupported' ? null : dec;
    if (this.decoder) {
      this.decoder.on('data', (d: Buffer) => (this.parser ? this.parser.push(d) : this.keepJson(d)));
      this.decoder.on('error', () => {
        this.unreadable = true;
      });
    }
    this.holdBack = this.decoder !== null || !this.isSse || this.unreadable;
    this.lastWrite = rc.ctx.now();
  }

  private keepJson(b: Buffer): void {
    this.jsonSize += b.length;
    if (this.jsonSize <= MAX_METERED_JSON) this.jsonParts.push(b);
  }

  /** The status and headers go out with the first body bytes (one write, not two: a separate
   * write for the head was 8 % of the gateway's CPU per streamed request). */
  private sendHead(): void {
    if (this.headSent) return;
    this.headSent = true;
    this.res.writeHead(this.status, this.headers);
  }

  private facts(): ResponseFacts {
    if (this.meter) return this.meter.facts();
    if (this.jsonSize <= MAX_METERED_JSON && !this.unreadable) return factsFromJson(Buffer.concat(this.jsonParts, this.jsonSize).toString('utf8'));
    return factsFromJson('');
  }

  private price(f: ResponseFacts): Cost {
    const { ctx } = this.rc;
    const priceModel = this.x.out.catalogModel ?? f.model ?? this.line.model_requested ?? undefined;
    return ctx.prices.cost(
      priceModel,
      f.usage,
      { route: this.x.upstream.route, endpointType: this.x.out.endpointType, serviceTier: this.x.out.serviceTier },
      f.extras,
      ctx.config.prices.unpriced === 'reserve' ? 'ceiling' : 'zero',
    );
  }

  /** What went wrong with a response that reached its end (null: nothing). */
  private brokenResponse(f: ResponseFacts): { code: ErrorCode; message: string } | null {
    const name = this.x.upstream.name;
    if (this.status >= 400 || f.errorType) return null;
    if (this.meter && this.meter.malformedStart)
      return { code: 'TG_UPSTREAM_BAD_RESPONSE', message: `upstream "${name}" sent a message_start the gateway could not read; its usage is unknown` };
    if (this.meter && !f.complete) return { code: 'TG_UPSTREAM_INCOMPLETE', message: `upstream "${name}" ended the stream without message_stop` };
    if (!this.meter && !f.complete && !this.unreadable && this.jsonSize <= MAX_METERED_JSON && this.line.endpoint === 'messages')
      return { code: 'TG_UPSTREAM_INCOMPLETE', message: `upstream "${name}" sent a truncated or unreadable body` };
    return null;
  }

  /** Completes the line from what was metered and finishes the request (once). `ending`: how
   * it ended when that was not the upstream's choice (abort, cut, failure). */
  private finalize(ending: Partial<LedgerLine> = {}): Promise<void> {
    const { rc, line } = this;
    if (rc.finished) return rc.finish();
    const f = this.facts();
    // Only an end the upstream chose is judged: aborts, cuts and failures carry their own code.
    if (Object.keys(ending).length === 0) this.broken = this.brokenResponse(f);
    Object.assign(line, f.usage);
    // On a cloud route the stream reports the client's id (swapped back); price by catalog id.
    line.model_served = f.model ?? (this.status < 400 ? this.x.inbound.model : null);
    line.stop_reason = f.stopReason ?? null;
    line.message_id = f.messageId ?? null;
    if (f.errorType) line.error_type = f.errorType;
    if (this.status >= 400 && !line.error_type) line.error_type = 'api_error';
    if (this.unreadable) line.error_code = 'TG_UPSTREAM_BAD_RESPONSE';
    if (this.broken) {
      line.error_code = this.broken.code;
      line.error_type = 'api_error';
    }
    const priced = this.price(f);
    line.cost_nanousd = priced.nanoUsd;
    rc.includeBilled();
    // Requests that used no tokens (errors, count_tokens) cost nothing, priced or not.
    line.priced = priced.priced || !f.usageSeen;
    line.price_tier = f.usageSeen ? priced.tier : null;
    line.speed = f.extras.speed;
    line.inference_geo = f.extras.inference_geo;
    const reported = this.x.translator?.reportedUsage;
    if (reported && f.usageSeen && (reported.input !== f.usage.input_tokens || reported.output !== f.usage.output_tokens)) {
      rc.ctx.logger.warn('route-reported usage differs from the stream', { request_id: line.id, upstream: this.x.upstream.name, reported, metered: f.usage });
    }
    return rc.finish(ending);
  }

  private answerError(status: number, body: string): void {
    this.headSent = true;
    sendError(this.res, status, body, this.headers);
  }

  /** The mapped error of a stream that failed before its first byte, as the client's answer. */
  private async refuse(e: MappedError): Promise<void> {
    this.line.http_status = e.status;
    this.line.error_type = e.type;
    await this.finalize().catch(() => {});
    this.answerError(e.status, errorEnvelope(e.type, e.message));
  }

  /** Ends the response with an error: an SSE event when the stream has started and can take
   * one, a JSON answer when nothing was sent yet, else a cut connection. */
  private async endWithError(code: ErrorCode, type: string, message: string): Promise<void> {
    if (!this.headSent) {
      const ge = new GatewayError(code, message);
      this.answerError(ge.status, ge.body(this.line.id));
    } else if (this.canAppend && !this.res.destroyed) {
      await writeChunk(this.res, encodeSse('error', JSON.stringify({ type: 'error', error: { type, message: `${code}: ${message}` } })));
      this.res.end();
    } else {
      this.res.destroy();
    }
  }

  /** The line could not be written: the client hears it from the store, not the upstream. */
  private async storeFailed(err: unknown): Promise<void> {
    const { ctx } = this.rc;
    if (ctx.config.store.on_failure === 'open') return;
    const ge = storeError(err);
    ctx.logger.error('a finished response could not be recorded', { request_id: this.line.id, error: ge.message });
    await this.endWithError(ge.code, ge.type, ge.message);
  }

  private emit(b: Buffer): Promise<boolean> {
    this.sendHead();
    this.lastWrite = this.rc.ctx.now();
    return writeChunk(this.res, b);
  }

  private firstByte(): void {
    if (this.line.ttfb_ms === null) this.line.ttfb_ms = this.rc.ctx.now() - this.rc.t0;
  }

  /** Finalizes once the stream is complete; a store failure ends the response (fail-closed). */
  private async finalizeOrFail(): Promise<boolean> {
    try {
      await this.finalize();
      return true;
    } catch (err) {
      await this.storeFailed(err);
      return this.rc.ctx.config.store.on_failure !== 'closed';
    }
  }

  /** Streams the response through. `retry` when a translated stream failed before anything
   * reached the client and another attempt is possible; done otherwise (client aborts and
   * shutdown cuts included, recorded). */
  async run(): Promise<RelayOutcome> {
    const { rc, res } = this;
    const { ctx, stop } = rc;
    const { up, translator, canRetry, upstream } = this.x;
    // Pass-through answers start at once; a translated one waits for its first output, so an
    // error frame before it can still fail over.
    if (!translator) this.sendHead();
    // Silence on a translated stream is filled with pings, as the API does, so clients and
    // proxies in between do not time out.
    const pingEvery = ctx.config.server.ping_interval_ms;
    const pinger =
      translator && this.isSse
        ? setInterval(
            () => {
              if (this.headSent && !res.destroyed && ctx.now() - this.lastWrite >= pingEvery) {
                res.write(encodeSse('ping', '{"type": "ping"}'));
                this.lastWrite = ctx.now();
              }
            },
            Math.max(50, Math.floor(pingEvery / 2)),
          )
        : null;
    try {
      try {
        for await (const c of up.body) {
          let chunk = c as Buffer;
          if (translator) {
            const t = translator.push(chunk);
            // Whatever a route sends after message_stop (Bedrock can follow a whole stream with
            // an exception frame) changes nothing the client or the ledger has.
            if (this.meter?.complete) continue;
            if (translator.error && !this.headSent) {
              // The stream failed before anything reached the client: try elsewhere, or answer
              // with the mapped status as if the upstream had refused outright. What it metered
              // so far (a message_start means the upstream billed the input) is kept.
              if (t && this.parser) this.parser.push(t);
              if (canRetry) {
                const f = this.facts();
                return { retry: true, metered: f.usageSeen ? { usage: f.usage, cost: this.price(f).nanoUsd } : undefined };
              }
              await this.refuse(translator.error);
              return { retry: false };
            }
            if (!t) continue;
            chunk = t;
          }
          this.firstByte();
          if (this.holdBack) {
            if (this.decoder) this.decoder.write(chunk);
            else if (!this.isSse) this.keepJson(chunk);
            if (this.held && !(await this.emit(this.held))) break;
            this.held = chunk;
            continue;
          }
          this.parser!.push(chunk);
          if (this.meter!.complete && !rc.finished && !(await this.finalizeOrFail())) return { retry: false };
          if (!(await this.emit(chunk))) break;
        }
      } catch (err) {
        if (err instanceof LedgerWriteError) throw err;
        if (stop.clientGone) {
          await this.finalize({ client_aborted: true }).catch(() => {});
          return { retry: false };
        }
        if (stop.cut) {
          await this.finalize({ error_code: 'TG_SHUTDOWN', error_type: 'api_error' }).catch(() => {});
          await this.endWithError('TG_SHUTDOWN', 'api_error', SHUTDOWN_MESSAGE);
          return { retry: false };
        }
        // The upstream failed mid-response. Before the first byte a retry is still possible;
        // after it, an SSE client gets an error event, anything else a cut connection.
        const { code, cause } = upstreamErrorCode(err);
        if (!this.headSent && canRetry) return { retry: true };
        ctx.logger.warn('upstream failed mid-response', { request_id: this.line.id, upstream: upstream.name, cause });
        const type = code === 'TG_UPSTREAM_TIMEOUT' ? 'timeout_error' : 'api_error';
        await this.finalize({ error_code: code, error_type: type }).catch(() => {});
        if (this.isSse && !this.holdBack) {
          this.sendHead();
          await writeChunk(
            res,
            encodeSse('error', JSON.stringify({ type: 'error', error: { type, message: `${code}: upstream "${upstream.name}" failed mid-stream: ${cause}` } })),
          );
          res.end();
        } else {
          res.destroy();
        }
        return { retry: false };
      }
      if (translator && !stop.clientGone) {
        const tail = translator.end();
        if (translator.error && !this.headSent && canRetry) return { retry: true };
        if (translator.error && !this.headSent) {
          await this.refuse(translator.error);
          return { retry: false };
        }
        if (tail) {
          this.firstByte();
          if (this.holdBack) {
            if (!this.isSse) this.keepJson(tail);
            if (this.held) await this.emit(this.held);
            this.held = tail;
          } else {
            this.parser!.push(tail);
            if (this.meter!.complete && !rc.finished) await this.finalize();
            await this.emit(tail);
          }
        }
        // An exception after message_stop changes nothing the client or the ledger has.
        if (translator.error && !this.meter?.complete) {
          this.line.error_type = translator.error.type;
          if (!this.headSent) {
            await this.refuse(translator.error);
            return { retry: false };
          }
        }
      }
      if (this.decoder) {
        this.decoder.end();
        if (!this.unreadable)
          await once(this.decoder, 'end').catch(() => {
            this.unreadable = true;
          });
      }
      if (stop.clientGone) {
        await this.finalize({ client_aborted: true }).catch(() => {});
        return { retry: false };
      }
      if (!(await this.finalizeOrFail())) return { retry: false };
      const b = this.broken;
      if (b) {
        // A 200 that is not a whole response: flagged, and the client told so, never a clean end.
        ctx.logger.warn('upstream response incomplete or unreadable', { request_id: this.line.id, upstream: upstream.name, code: b.code });
        if (this.held && this.isSse) await this.emit(this.held);
        await this.endWithError(b.code, 'api_error', b.message);
        return { retry: false };
      }
      if (this.held) await this.emit(this.held);
      this.sendHead();
      res.end();
      return { retry: false };
    } catch (err) {
      if (err instanceof LedgerWriteError) {
        await this.storeFailed(err);
        if (!res.writableEnded && !res.destroyed) res.end();
        return { retry: false };
      }
      throw err;
    } finally {
      if (pinger) clearInterval(pinger);
      if (!up.body.destroyed) up.body.destroy();
    }
  }
}

export function storeError(err: unknown): GatewayError {
  const cause = err instanceof LedgerWriteError ? err.storeError.message : ((err as Error)?.message ?? String(err));
  return new GatewayError(
    'TG_STORE_UNAVAILABLE',
    `the response could not be recorded in the ledger (${cause}); the line is held and retried, but this answer is withheld (store.on_failure: closed)`,
  );
}
