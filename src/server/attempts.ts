// The attempt loop: which upstream to try next, when to try again, and when to stop. It calls
// upstreams and hands a response that will be served to the relay; it returns an outcome and
// writes nothing itself (the relay, or the caller for a failure, finishes the request).
import { request } from 'undici';
import { JsonSyntaxError } from '../protocol/anthropic/body.js';
import { isCredentialRefusal, type InboundRequest, type MappedError, type OutboundRequest, type Upstream } from '../providers/types.js';
import { retryAfterMs, type Router } from '../routing/router.js';
import type { Config } from '../config/schema.js';
import { GatewayError } from './errors.js';
import { headerValue } from './headers.js';
import { StreamRelay } from './relay.js';
import type { RequestContext } from './request.js';
import { retryable, retryHeaders, upstreamErrorCode } from './upstream-errors.js';
import type { ServerResponse } from 'node:http';

export type AttemptsOutcome =
  /** A response went to the client (the relay finished the request). */
  | { kind: 'answered' }
  /** The client left, or the shutdown cut, before any answer. */
  | { kind: 'stopped' }
  /** Nothing served it: the last upstream's answer (to pass on), or the gateway's own error. */
  | { kind: 'failed'; upstream: { error: MappedError; headers: Record<string, string> } | null; gateway: GatewayError | null };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * The retry policy for one request: round the route's upstreams, skipping those that cannot
 * serve it; back to one already tried only after its backoff and retry-after; at most
 * `maxAttempts` in all.
 */
export class AttemptPlan {
  /** Upstreams that cannot serve this request at all (no or refused credentials, model not on
   * the route, x-should-retry: false): never tried again for it. */
  private readonly excluded = new Set<string>();
  private readonly tried = new Map<string, number>();
  private readonly retryAfter = new Map<string, number>();
  private cursor = 0;
  private n = 0;

  constructor(
    private readonly targets: Upstream[],
    readonly maxAttempts: number,
    private readonly failover: Config['failover'],
    private readonly router: Router,
    private readonly now: () => number,
  ) {}

  /** The next upstream to try (round the list, skipping excluded ones), without taking it. */
  private peek(): { upstream: Upstream; index: number } | null {
    for (let k = 0; k < this.targets.length; k++) {
      const index = (this.cursor + k) % this.targets.length;
      const u = this.targets[index] as Upstream;
      if (!this.excluded.has(u.name)) return { upstream: u, index };
    }
    return null;
  }

  /** Takes the next upstream, with how long to wait before calling it; null when done. */
  next(): { upstream: Upstream; wait: number } | null {
    if (this.n >= this.maxAttempts) return null;
    const pick = this.peek();
    if (!pick) return null;
    this.n++;
    this.cursor = pick.index + 1;
    const before = this.tried.get(pick.upstream.name) ?? 0;
    this.tried.set(pick.upstream.name, before + 1);
    if (before === 0) return { upstream: pick.upstream, wait: 0 };
    // Back to an upstream already tried in this request: back off, honour its retry-after.
    const wait = Math.max(this.router.backoff(before), (this.retryAfter.get(pick.upstream.name) ?? 0) - this.now());
    return wait > this.failover.max_retry_after_ms ? null : { upstream: pick.upstream, wait };
  }

  /** Whether another attempt can follow the current one (known retry-afters included). */
  canRetry(): boolean {
    if (this.n >= this.maxAttempts) return false;
    const next = this.peek();
    if (!next) return false;
    if ((this.tried.get(next.upstream.name) ?? 0) === 0) return true;
    return (this.retryAfter.get(next.upstream.name) ?? 0) - this.now() <= this.failover.max_retry_after_ms;
  }

  exclude(name: string): void {
    this.excluded.add(name);
  }

  noteRetryAfter(name: string, header: string | undefined): void {
    const ra = retryAfterMs(header, this.now());
    if (ra !== null) this.retryAfter.set(name, this.now() + ra);
  }
}

/** Tries the request's upstreams in turn until one serves it (streamed to the client by the
 * relay) or none is left. */
export async function attemptUpstreams(rc: RequestContext, res: ServerResponse, inbound: InboundRequest, clientRetries: boolean): Promise<AttemptsOutcome> {
  const { ctx, line, key } = rc;
  const router = ctx.router;
  const targets = router.targetsFor(key);
  if (targets.length === 0) throw new GatewayError('TG_NO_UPSTREAM', 'no upstream is configured for this key');
  const fo = router.failover;
  // Claude Code and the Anthropic SDKs retry on their own (they say so with
  // x-stainless-retry-count). Retrying the same upstream here as well would multiply upstream
  // calls (3 × 3 under an overload) and the wait before the engineer sees the error: for
  // them the gateway only fails over to other upstreams, at most once each.
  const plan = new AttemptPlan(targets, clientRetries ? Math.min(fo.max_attempts, targets.length) : fo.max_attempts, fo, router, ctx.wallNow);
  let failed: Extract<AttemptsOutcome, { kind: 'failed' }> = { kind: 'failed', upstream: null, gateway: null };

  while (!rc.stopped) {
    const pick = plan.next();
    if (!pick) break;
    const upstream = pick.upstream;
    if (pick.wait > 0) {
      await sleep(pick.wait, rc.abort.signal);
      if (rc.stopped) break;
    }
    const previous = line.attempts[line.attempts.length - 1];
    if (previous && previous.upstream !== upstream.name) {
      router.emit({
        kind: 'failover',
        from: previous.upstream,
        to: upstream.name,
        reason: previous.error ?? `HTTP ${previous.status}`,
        keyId: key.id,
        user: key.user,
        team: key.team,
      });
    }
    const a0 = ctx.now();
    const attempt = rc.startAttempt(upstream);

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
      plan.exclude(upstream.name);
      // An earlier upstream's answer, if any, stays what the client hears.
      failed = { kind: 'failed', upstream: failed.upstream, gateway: err };
      continue;
    }
    line.upstream_model = out.upstreamModel;
    line.endpoint_type = out.endpointType;
    line.region = out.region;
    line.service_tier = out.serviceTier ?? null;

    let up: Awaited<ReturnType<typeof request>>;
    try {
      up = await request(out.url, {
        dispatcher: upstream.dispatcher,
        method: out.method,
        headers: out.headers,
        body: out.body,
        signal: rc.abort.signal,
        headersTimeout: upstream.headersTimeoutMs,
        bodyTimeout: upstream.bodyTimeoutMs,
      });
    } catch (err) {
      attempt.duration_ms = ctx.now() - a0;
      if (rc.stopped) break;
      const { code, cause } = upstreamErrorCode(err);
      attempt.error = `${code}: ${cause}`;
      router.failure(upstream.name);
      failed = {
        kind: 'failed',
        upstream: null,
        gateway: new GatewayError(
          code,
          `upstream "${upstream.name}" (${upstream.displayUrl}) ${code === 'TG_UPSTREAM_TIMEOUT' ? 'timed out' : 'unreachable'}: ${cause}`,
        ),
      };
      continue;
    }
    attempt.status = up.statusCode;
    line.http_status = up.statusCode;
    line.upstream_request_id = headerValue(up.headers, 'request-id') ?? headerValue(up.headers, 'x-amzn-requestid') ?? null;

    const passthrough = upstream.route === 'anthropic';
    plan.noteRetryAfter(upstream.name, headerValue(up.headers, 'retry-after'));
    // The upstream says this answer will not change (x-should-retry: false): no retry here.
    if (headerValue(up.headers, 'x-should-retry') === 'false') plan.exclude(upstream.name);
    const refusedCredentials = isCredentialRefusal(up.statusCode);
    if (up.statusCode >= 400 && (retryable(up.statusCode) || refusedCredentials || !passthrough)) {
      // Pass the very first answer through untouched when nothing else will be tried.
      if (passthrough && !refusedCredentials && line.attempts.length === 1 && (!retryable(up.statusCode) || !plan.canRetry())) {
        attempt.duration_ms = ctx.now() - a0;
        await new StreamRelay(rc, res, { upstream, inbound, out, up, translator: null, canRetry: false }).run();
        return { kind: 'answered' };
      }
      const text = await up.body.text().catch(() => '');
      attempt.duration_ms = ctx.now() - a0;
      const mapped = upstream.mapError(up.statusCode, up.headers, text);
      attempt.error = mapped.type;
      if (refusedCredentials) {
        // The gateway's own credentials were refused: no retry fixes that; another upstream
        // on the list (other credentials) may still serve the request.
        router.failure(upstream.name);
        plan.exclude(upstream.name);
        failed = {
          kind: 'failed',
          upstream: null,
          gateway: new GatewayError(
            'TG_UPSTREAM_AUTH',
            `upstream "${upstream.name}" refused the gateway's credentials (HTTP ${up.statusCode}: ${mapped.message}). This is the gateway's configuration, not your key: ${upstream.credentialHint}`,
          ),
        };
        continue;
      }
      failed = { kind: 'failed', upstream: { error: mapped, headers: retryHeaders(up.headers) }, gateway: null };
      if (mapped.status === 501) {
        // This upstream cannot do it (not an outage: no failure counted); another on the route
        // may. If none can, the client is told not to retry (the gateway protocol's 501).
        failed.upstream!.headers['x-should-retry'] = 'false';
        plan.exclude(upstream.name);
        if (plan.canRetry()) continue;
        break;
      }
      if (retryable(mapped.status)) {
        router.failure(upstream.name);
        if (plan.canRetry()) continue;
        break;
      }
      router.success(upstream.name);
      break;
    }

    const translator = passthrough ? null : upstream.translator(inbound, out, up.statusCode, up.headers);
    const outcome = await new StreamRelay(rc, res, { upstream, inbound, out, up, translator, canRetry: plan.canRetry() }).run();
    attempt.duration_ms = ctx.now() - a0;
    if (outcome.retry) {
      // The stream failed before its first byte reached the client. What it had metered
      // (a message_start: the upstream billed the input) stays with the attempt and the line.
      attempt.error = translator?.error?.type ?? 'stream error';
      attempt.status = translator?.error?.status ?? 502;
      rc.abandon(attempt, outcome.metered);
      router.failure(upstream.name);
      failed = { kind: 'failed', upstream: translator?.error ? { error: translator.error, headers: {} } : null, gateway: failed.gateway };
      continue;
    }
    router.success(upstream.name);
    return { kind: 'answered' };
  }
  return rc.stopped ? { kind: 'stopped' } : failed;
}
