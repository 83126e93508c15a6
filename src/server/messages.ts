// The request path for /v1/messages and /v1/messages/count_tokens:
// identify → read and check the request (inbound protocol) → admit (policy, rate limits,
// budgets) → attempt upstreams (attempts.ts) → stream back while metering (relay.ts) → ledger.
// One RequestContext carries the request; its finish() writes the line and settles spend once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InboundProtocol } from '../inbound/types.js';
import { memberValue, type ScannedBody } from '../protocol/anthropic/body.js';
import type { Endpoint, InboundRequest } from '../providers/types.js';
import { redactText } from '../util/redact.js';
import { attemptUpstreams } from './attempts.js';
import { ClientAbortError } from './body.js';
import type { GatewayContext } from './context.js';
import { errorEnvelope, GatewayError, sendError } from './errors.js';
import { headerValue } from './headers.js';
import { storeError } from './relay.js';
import { RequestContext, SHUTDOWN_MESSAGE } from './request.js';
import { lined } from '../observability/access-log.js';

async function authenticate(ctx: GatewayContext, req: IncomingMessage) {
  const auth = await ctx.keys.authenticate(req.headers);
  if (auth.ok) return auth.key;
  const why = {
    TG_NO_KEY:
      'sign in with /login in Claude Code, or send a tollgate virtual key as ANTHROPIC_AUTH_TOKEN (Authorization: Bearer) or ANTHROPIC_API_KEY (x-api-key)',
    TG_REVOKED_KEY: 'this key or sign-in was revoked; run /login again, or ask your platform team for a new key',
    TG_TOKEN_EXPIRED: 'the sign-in has expired; Claude Code refreshes it (or run /login again)',
    TG_KEY_EXPIRED: 'this virtual key has expired; ask your platform team for a new one (or sign in with /login)',
    TG_UNKNOWN_KEY: 'this virtual key is not known to the gateway (nor is it a sign-in token of this gateway)',
  }[auth.code];
  throw new GatewayError(auth.code, why);
}

export async function handleMessages(
  ctx: GatewayContext,
  protocol: InboundProtocol,
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: Endpoint,
  search: string,
  requestId: string,
  t0: number,
): Promise<void> {
  const key = await authenticate(ctx, req);
  // Claude Code's hint header: the managed settings this machine runs (for `tollgate fleet`).
  const reported = headerValue(req.headers, 'x-claude-code-managed-settings-checksum');
  if (reported) ctx.fleet.report(key, reported);
  if (ctx.shutdown.aborted) throw new GatewayError('TG_SHUTDOWN', 'the gateway is shutting down; retry (another replica will answer)');
  // Fail closed: a request whose ledger line could not be written is never sent upstream.
  const storeProblem = ctx.storeProblem();
  if (storeProblem && ctx.config.store.on_failure === 'closed') {
    throw new GatewayError('TG_STORE_UNAVAILABLE', `${storeProblem}; nothing is sent upstream until the gateway can record it (store.on_failure: closed)`);
  }
  const rc = new RequestContext(ctx, key, endpoint, t0, requestId);
  lined.add(res);
  try {
    await serveRequest(rc, protocol, req, res, search);
  } catch (err) {
    // A gateway-side refusal or failure before the response started: record it, then let the
    // error boundary render it.
    if (err instanceof ClientAbortError) await rc.finish({ http_status: 499, client_aborted: true }).catch(() => {});
    else {
      const ge = err instanceof GatewayError ? err : null;
      await rc.finish({ http_status: ge?.status ?? 500, error_type: ge?.type ?? 'api_error', error_code: ge?.code ?? 'TG_INTERNAL' }).catch(() => {});
    }
    throw err;
  }
}

/** The value of one billing tag in the body's "tags" (a short label, else nothing). */
function tagValue(scanned: () => ScannedBody, tag: string): string | null {
  let tags: unknown;
  try {
    tags = memberValue(scanned(), 'tags');
  } catch {
    return null;
  }
  const v = tags && typeof tags === 'object' ? (tags as Record<string, unknown>)[tag] : undefined;
  return typeof v === 'string' && /^[\w .:@/-]{1,128}$/.test(v) ? v : null;
}

async function serveRequest(rc: RequestContext, protocol: InboundProtocol, req: IncomingMessage, res: ServerResponse, search: string): Promise<void> {
  const { ctx, line, key } = rc;
  const parsed = await protocol.read(req, ctx.config.server.max_body_bytes);
  line.session_id = parsed.sessionId;
  // Billing groups: a signed-in engineer's attributionProject, sent as {"tags": {tag: value}},
  // is the request's project (project budgets and reports follow it); it names no one.
  const tag = key.kind === 'session' ? ctx.config.auth.billing_group_tag : undefined;
  if (tag) {
    const project = tagValue(parsed.scanned, tag);
    if (project) rc.attribute(project);
  }
  const admission = rc.admit(parsed.model, parsed.decodedLength);
  const inbound: InboundRequest = {
    endpoint: rc.endpoint,
    rawBody: parsed.rawBody,
    scanned: parsed.scanned,
    model: admission.model,
    bodyModel: parsed.model,
    headers: req.headers,
    search,
    team: key.team,
  };

  const unwatch = rc.watch(res);
  let outcome;
  try {
    outcome = await attemptUpstreams(rc, res, inbound, req.headers['x-stainless-retry-count'] !== undefined);
  } finally {
    unwatch();
  }
  if (outcome.kind === 'answered') return;
  rc.includeBilled();
  if (rc.stop.clientGone) {
    await rc.finish({ client_aborted: true, http_status: 499 }).catch(() => {});
    return;
  }
  if (rc.stop.cut) throw new GatewayError('TG_SHUTDOWN', SHUTDOWN_MESSAGE);
  const tried = line.attempts.map((a) => `${a.upstream} → ${a.status || ''}${a.status && a.error ? ' ' : ''}${a.error ?? ''}`.trim()).join('; ');
  if (outcome.kind === 'failed' && outcome.upstream) {
    // Every target failed (or the one that answered refused): the last upstream's error,
    // Anthropic-shaped, with what was tried when there was more than one attempt, and the
    // upstream's retry-after and rate-limit headers for the client's own retry logic.
    const e = outcome.upstream.error;
    const message = line.attempts.length > 1 ? `${e.message} (tollgate tried: ${tried})` : e.message;
    try {
      await rc.finish({ http_status: e.status, error_type: e.type });
    } catch (err) {
      // The store refused the line: the client is told that (503), not the upstream's answer,
      // unless the operator chose to serve on (store.on_failure: open).
      if (ctx.config.store.on_failure === 'closed') throw storeError(err);
    }
    sendError(res, e.status, errorEnvelope(e.type, redactText(message), line.upstream_request_id ?? undefined), {
      'x-tollgate-request-id': line.id,
      'x-tollgate-upstream': line.upstream ?? '',
      'x-tollgate-route': line.route ?? '',
      ...outcome.upstream.headers,
    });
    return;
  }
  const ge = (outcome.kind === 'failed' ? outcome.gateway : null) ?? new GatewayError('TG_NO_UPSTREAM', 'no upstream could serve this request');
  if (line.attempts.length > 1) throw new GatewayError(ge.code, `${ge.message} (tollgate tried: ${tried})`, ge.headers);
  throw ge;
}
