// The HTTP server: routing by path (the query string, e.g. ?beta=true, is ignored for
// matching and forwarded as is) and the one error boundary.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/schema.js';
import { KeyRing } from '../identity/keys.js';
import { LedgerWriter } from '../metering/ledger.js';
import type { PriceBook } from '../metering/prices.js';
import { AnthropicUpstream } from '../providers/anthropic/index.js';
import { BedrockUpstream } from '../providers/bedrock/index.js';
import { VertexUpstream } from '../providers/vertex/index.js';
import { Router, type RouterEvent } from '../routing/router.js';
import { SpendControl } from '../policy/spend.js';
import type { Upstream } from '../providers/types.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { GatewayContext } from './context.js';
import { GatewayError } from './errors.js';
import { handleMessages } from './proxy.js';
import { handleAdmin } from '../admin/api.js';
import { handleOtlp } from '../ingest/receiver.js';
import { VERSION } from '../util/version.js';

export interface GatewayOptions {
  config: Config;
  store: Store;
  prices: PriceBook;
  catalog: ModelCatalog;
  logger: Logger;
  wallNow?: () => number;
  /** How often to look for key changes made by other processes (ms). */
  pollMs?: number;
}

let sequence = 0;

/** Time-sortable request id: milliseconds, a per-process sequence (order within a
 * millisecond), then randomness (uniqueness across replicas). */
export function newRequestId(now: number): string {
  sequence = (sequence + 1) % 1_679_616;
  return `tg_${now.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomUUID().slice(0, 13).replace('-', '')}`;
}

export function buildUpstreams(config: Config, catalog: ModelCatalog): Upstream[] {
  return config.upstreams.map((u) => {
    switch (u.type) {
      case 'anthropic': return new AnthropicUpstream(u, catalog);
      case 'bedrock': return new BedrockUpstream(u, catalog);
      case 'vertex': return new VertexUpstream(u, catalog);
    }
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class Gateway {
  readonly server: Server;
  readonly ctx: GatewayContext;
  private readonly poller: NodeJS.Timeout;
  private readonly sockets = new Set<Socket>();
  /** Store polls completed (key and budget changes from other processes apply at the next). */
  polls = 0;

  constructor(opts: GatewayOptions) {
    const store = opts.store;
    const logger = opts.logger;
    const upstreams = buildUpstreams(opts.config, opts.catalog);
    const wallNow = opts.wallNow ?? (() => Date.now());
    const spend = new SpendControl(opts.config, store, opts.prices, opts.catalog, logger, wallNow);
    const onRouterEvent = (e: RouterEvent) => {
      logger.warn(e.kind === 'failover' ? `failover from ${e.from} to ${e.to}` : `upstream ${e.upstream} in cooldown`, { ...e });
      spend.onRouterEvent(e);
    };
    this.ctx = {
      config: opts.config, store, logger, prices: opts.prices, catalog: opts.catalog,
      keys: new KeyRing(store),
      ledger: new LedgerWriter(store, (err) => logger.error('ledger write failed', { error: err.message })),
      upstreams,
      router: new Router(upstreams, opts.config.routes, opts.config.failover, wallNow, onRouterEvent),
      spend,
      now: () => performance.now(),
      wallNow,
    };
    let token = store.changeToken();
    this.poller = setInterval(() => {
      try {
        this.ctx.keys.poll();
        // Budgets changed by the CLI or another replica take effect within a poll.
        const now = store.changeToken();
        if (now !== token) {
          token = now;
          this.ctx.spend.budgets.reload();
        }
        this.polls++;
      } catch (err) {
        logger.error('key refresh failed', { error: (err as Error).message });
      }
    }, opts.pollMs ?? 250);
    this.poller.unref();
    this.server = createServer({ requestTimeout: opts.config.server.request_timeout_ms, keepAliveTimeout: 65_000 }, (req, res) => {
      void this.handle(req, res);
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // Malformed HTTP never reaches a handler: answer it Anthropic-shaped and close.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const e = err.code === 'HPE_HEADER_OVERFLOW' ? new GatewayError('TG_BODY_TOO_LARGE', 'request headers too large')
        : new GatewayError('TG_BAD_REQUEST', `malformed HTTP request (${err.code ?? 'parse error'})`);
      const body = e.body();
      socket.end(`HTTP/1.1 ${e.status} Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
  }

  async listen(port = this.ctx.config.server.port, host = this.ctx.config.server.host): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = this.ctx.now();
    const requestId = newRequestId(this.ctx.wallNow());
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q);
    try {
      switch (path) {
        case '/v1/messages':
        case '/v1/messages/count_tokens':
          if (req.method !== 'POST') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use POST`, { allow: 'POST' });
          await handleMessages(this.ctx, req, res, path === '/v1/messages' ? 'messages' : 'count_tokens', search, requestId, t0);
          return;
        case '/v1/models':
          if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use GET`, { allow: 'GET' });
          this.models(req, res);
          return;
        case '/v1/metrics':
        case '/v1/logs':
          // Claude Code's own telemetry (OTLP/HTTP JSON), for reconciliation with the ledger.
          await handleOtlp(this.ctx, req, res, path === '/v1/metrics' ? 'metrics' : 'logs');
          return;
        case '/health':
        case '/healthz':
          sendJson(res, 200, { status: 'ok', version: VERSION, upstreams: this.ctx.upstreams.map((u) => ({ name: u.name, route: u.route, ready: u.credentialProblem() === null })) });
          return;
        default:
          if (path.startsWith('/admin/')) {
            await handleAdmin(this.ctx, req, res, path, search);
            return;
          }
          throw new GatewayError('TG_NOT_FOUND', `${req.method} ${path} is not a tollgate endpoint`);
      }
    } catch (err) {
      this.fail(res, err, requestId);
    }
  }

  /** The one error boundary: every failure leaves as an Anthropic-shaped error. */
  private fail(res: ServerResponse, err: unknown, requestId: string): void {
    const ge = err instanceof GatewayError ? err : new GatewayError('TG_INTERNAL', 'internal error');
    if (!(err instanceof GatewayError)) this.ctx.logger.error('unhandled error', { request_id: requestId, error: (err as Error)?.stack ?? String(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { 'x-tollgate-request-id': requestId, ...ge.headers };
    // The gateway's own 4xx refusals are deterministic: tell Claude Code's client not to retry
    // them (it honours x-should-retry), so a bad key fails fast with the message instead of
    // backing off for minutes.
    if (ge.status >= 400 && ge.status < 500 && !('x-should-retry' in headers)) headers['x-should-retry'] = 'false';
    // After refusing a body we did not read, close the connection rather than drain it.
    if (ge.code === 'TG_BODY_TOO_LARGE') headers.connection = 'close';
    const body = ge.body(requestId);
    res.writeHead(ge.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  private models(req: IncomingMessage, res: ServerResponse): void {
    const auth = this.ctx.keys.authenticate(req.headers);
    if (!auth.ok) throw new GatewayError(auth.code, 'a virtual key is required to list models');
    const created = `${this.ctx.catalog.date}T00:00:00Z`;
    const data = this.ctx.catalog.models
      .filter((m) => m.ids.first_party)
      .map((m) => ({ type: 'model', id: m.ids.first_party as string, display_name: m.display_name, created_at: created }))
      .reverse();
    sendJson(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null });
  }

  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts them. */
  async close(graceMs = 5_000): Promise<void> {
    clearInterval(this.poller);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Idle keep-alive sockets would hold close() open.
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((r) => { timer = setTimeout(r, graceMs); })]);
    clearTimeout(timer);
    for (const s of this.sockets) s.destroy();
    await closed;
    this.ctx.ledger.close();
    await Promise.all(this.ctx.upstreams.map((u) => u.close()));
  }
}
