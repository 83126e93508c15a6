// The HTTP server: routing by path (the query string, e.g. ?beta=true, is ignored for
// matching and forwarded as is) and the one error boundary.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
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
import { mantleUpstream } from '../providers/mantle/index.js';
import { foundryUpstream } from '../providers/foundry/index.js';
import { Router, type RouterEvent } from '../routing/router.js';
import { AlertDispatcher, routerAlert } from '../policy/alerts.js';
import { AuthServer } from '../identity/authorization-server.js';
import { SessionTokens } from '../identity/tokens.js';
import { CiIdentities } from '../identity/ci.js';
import { FleetWatch } from '../clientconfig/fleet.js';
import { serveManagedSettings } from '../clientconfig/managed-settings.js';
import { SpendControl } from '../policy/spend.js';
import type { Upstream } from '../providers/types.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { ShutdownSignal, type GatewayContext } from './context.js';
import { ClientAbortError } from './body.js';
import { GatewayError, sendError } from './errors.js';
import { handleMessages } from './messages.js';
import { anthropicMessages } from '../inbound/anthropic.js';
import { cloudCall, cloudInbound, CloudResponse, sendCloudError, type CloudCall } from '../inbound/cloud.js';
import { BEDROCK_GEO_PREFIXES } from '../routing/catalog.js';
import { handleAdmin } from '../admin/api.js';
import { handleOtlp } from '../ingest/receiver.js';
import { OtlpGrpcReceiver } from '../ingest/grpc.js';
import { StoreUnavailableError } from '../store/errors.js';
import { SpooledStore } from '../store/postgres/spooled.js';
import { VERSION } from '../util/version.js';
import { Metrics } from '../observability/metrics.js';
import { accessFields, lined } from '../observability/access-log.js';
import { configBudgetDefs } from '../policy/budgets.js';
import { budgetRows } from '../admin/operations.js';
import { handleConsole } from '../console/serve.js';
import { ConsoleAuth } from '../console/auth.js';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { LedgerLine } from '../store/types.js';

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

/** On a response: the error code the gateway answered with. */
const ERROR_CODE = Symbol('tollgate.errorCode');
type Tagged = ServerResponse & { [ERROR_CODE]?: string };

/** Paths polled by machines (load balancers, Prometheus): their access lines go at debug. */
const PROBES = new Set(['/health', '/healthz', '/health/ready', '/readyz', '/health/live', '/livez', '/metrics']);

/** Time-sortable request id: milliseconds, a per-process sequence (order within a
 * millisecond), then randomness (uniqueness across replicas). */
export function newRequestId(now: number): string {
  sequence = (sequence + 1) % 1_679_616;
  return `tg_${now.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomUUID().slice(0, 13).replace('-', '')}`;
}

export function buildUpstreams(config: Config, catalog: ModelCatalog): Upstream[] {
  return config.upstreams.map((u) => {
    switch (u.type) {
      case 'anthropic':
        return new AnthropicUpstream(u, catalog);
      case 'bedrock':
        return new BedrockUpstream(u, catalog);
      case 'vertex':
        return new VertexUpstream(u, catalog);
      case 'mantle':
        return mantleUpstream(u, catalog);
      case 'foundry':
        return foundryUpstream(u, catalog);
    }
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** After answering a malformed or timed-out request, how long the socket may still drain the
 * client's bytes before it is destroyed (closing with unread input would reset the connection
 * and could discard the answer). */
const LINGER_MS = 2_000;
/** After the grace period, how long cut requests get to record their lines. */
const CUT_WAIT_MS = 10_000;
/** Node's limit on request header bytes (its default), named in the 431 answer. */
const MAX_HEADER_BYTES = 16 * 1024;

/** Open files this process may have (the soft RLIMIT_NOFILE), where the OS says. */
function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Each client connection with a request in flight also holds an upstream connection; keep
 * some descriptors for the store, logs and the runtime. */
export function defaultMaxConnections(fdLimit = openFileLimit()): number {
  if (fdLimit === null) return 10_000;
  return Math.max(16, Math.floor((fdLimit - 64) / 2));
}

interface ConnState {
  /** Requests in flight on this connection. */
  busy: number;
}

/** Another replica's rate-limit figures count while it published them this recently. */
const RATE_ALIVE_MS = 2000;

export class Gateway {
  readonly server: Server;
  readonly ctx: GatewayContext;
  readonly maxConnections: number;
  private readonly poller: NodeJS.Timeout;
  /** Open client connections, least recently used first. */
  private readonly conns = new Map<Socket, ConnState>();
  private readonly lingering = new WeakSet<Socket>();
  /** Requests in flight; shutdown waits for them to reach 0 (a counter and one waiter rather
   * than a promise per request: this is on every request's path). */
  private active = 0;
  private onIdle: (() => void) | null = null;
  private readonly cut = new ShutdownSignal();
  private closing: Promise<void> | null = null;
  private endGrace: () => void = () => {};
  private diskLow: string | null = null;
  private lastLimitLog = -Infinity;
  private lastH2Warning = -Infinity;
  private limitEvents = 0;
  /** Store polls completed (key and budget changes from other processes apply at the next). */
  polls = 0;
  /** The URL engineers give /login. */
  publicUrl: string;

  constructor(opts: GatewayOptions) {
    const store = opts.store;
    const logger = opts.logger;
    const config = opts.config;
    const upstreams = buildUpstreams(config, opts.catalog);
    const wallNow = opts.wallNow ?? (() => Date.now());
    const alerts = new AlertDispatcher(config.alerts, logger);
    // Where engineers reach this gateway (/login, the IdP's redirect back): set in config, else
    // the address it listens on (known once it listens).
    this.publicUrl = (config.server.public_url ?? `${config.server.tls ? 'https' : 'http'}://${config.server.host}:${config.server.port}`).replace(/\/+$/, '');
    const sessionTokens = new SessionTokens(
      store,
      { access: config.auth.token_ttl, refresh: config.auth.refresh_ttl },
      this.publicUrl,
      config.auth.billing_group_tag ?? null,
    );
    const spend = new SpendControl(alerts, config, store, opts.prices, opts.catalog, logger, wallNow);
    // Routing events go to the log and the alert destinations directly.
    let metrics: Metrics | null = null;
    const onRouterEvent = (e: RouterEvent) => {
      if (e.kind === 'failover') metrics?.failover(e.from, e.to);
      logger.warn(e.kind === 'failover' ? `failover from ${e.from} to ${e.to}` : `upstream ${e.upstream} in cooldown`, { ...e });
      alerts.send(routerAlert(e));
    };
    const failOpen = config.store.on_failure === 'open';
    const ledger = new LedgerWriter(
      store,
      (err) =>
        logger.error(
          `ledger write failed: ${err.message}; ${failOpen ? 'still serving (store.on_failure: open), unwritten lines held in memory' : 'no request goes upstream until the store takes lines again (store.on_failure: closed)'}`,
        ),
      (n) => logger.info(`store recovered: ${n} held ledger lines written`),
      (seconds) => metrics?.storeCommit(seconds),
    );
    if (config.metrics.enabled) {
      metrics = new Metrics(opts.catalog, {
        userLabel: config.metrics.user_label,
        state: {
          openConnections: () => this.conns.size,
          inFlight: () => this.active,
          ledgerPending: () => ledger.pending,
          spooledLines: () => (store instanceof SpooledStore ? store.status().lines : null),
          budgets: () =>
            budgetRows(store, configBudgetDefs(config.budgets), config.spend.timezone, wallNow()).map((b) => ({
              id: String(b.id),
              scope: String(b.scope),
              value: (b.value as string | null) ?? null,
              period: String(b.period),
              utilisation: Number(b.limit_usd) > 0 ? Number(b.spent_usd) / Number(b.limit_usd) : 0,
            })),
        },
      });
    }
    const access = config.log.access;
    const observe = (line: LedgerLine) => {
      metrics?.request(line);
      if (access && logger.enabled('info')) logger.info('request', accessFields(line));
    };
    this.ctx = {
      config,
      store,
      logger,
      prices: opts.prices,
      catalog: opts.catalog,
      keys: new KeyRing(store, sessionTokens, wallNow, new CiIdentities(config.auth.ci)),
      fleet: new FleetWatch(store, wallNow),
      auth: new AuthServer({ config, store, logger, wallNow, publicUrl: () => this.publicUrl, tokens: sessionTokens }),
      ledger,
      upstreams,
      router: new Router(upstreams, config.routes, config.failover, wallNow, onRouterEvent),
      spend,
      now: () => performance.now(),
      wallNow,
      shutdown: this.cut,
      storeProblem: () => (ledger.failure ? `writing the ledger failed: ${ledger.failure.message}` : this.diskLow),
      metrics,
      observe,
      console: new ConsoleAuth(config, config.admin.token || process.env.TOLLGATE_ADMIN_TOKEN || '', () => this.publicUrl, wallNow),
    };
    if (store instanceof SpooledStore) {
      store.onChange = (down, st) => {
        if (down) logger.error(`PostgreSQL unreachable: ${down}; ledger lines are kept in the local spool and shipped when it is back`, { spooled: st.lines });
        else logger.info(`PostgreSQL reachable again: shipping the spool`, { spooled: st.lines });
      };
      store.onRefused = (why, st) => {
        if (why) logger.error(`PostgreSQL refused ledger lines: ${why}; they stay in the local spool and are retried with backoff`, { spooled: st.lines });
        else logger.info('PostgreSQL takes ledger lines again: shipping the spool', { spooled: st.lines });
      };
    }
    let lastDiskCheck = -Infinity;
    let lastFailureLog = performance.now();
    this.poller = setInterval(() => {
      try {
        this.ctx.keys.poll();
        // Budgets changed, and spend committed, by the CLI or another replica: within a poll.
        this.ctx.spend.budgets.poll();
        // Rate limits count across replicas on a shared store.
        const sync = store.syncRates?.bind(store);
        if (sync) {
          const replica = this.ctx.spend.budgets.replica;
          this.ctx.spend.rates.sync(
            (mine) =>
              new Map(sync(replica, wallNow(), RATE_ALIVE_MS, mine).map((o) => [o.counter, { requests: o.requests, tokens: o.tokens, inFlight: o.inFlight }])),
          );
        }
      } catch (err) {
        logger.error('key refresh failed', { error: (err as Error).message });
      }
      if (!ledger.healthy) {
        ledger.retry();
        if (!ledger.healthy && performance.now() - lastFailureLog > 10_000) {
          lastFailureLog = performance.now();
          logger.error(`store still failing: ${ledger.pending} ledger lines held in memory${ledger.dropped ? `, ${ledger.dropped} dropped` : ''}`, {
            error: ledger.failure?.message,
          });
        }
      }
      if (performance.now() - lastDiskCheck >= 1_000) {
        lastDiskCheck = performance.now();
        this.checkDisk();
      }
      this.retention();
      this.polls++;
    }, opts.pollMs ?? 250);
    this.poller.unref();

    const srv = config.server;
    this.maxConnections = srv.max_connections ?? defaultMaxConnections();
    const httpOptions = {
      // Node requires the header deadline to be within the whole request's.
      headersTimeout: Math.min(srv.header_timeout_ms, srv.request_timeout_ms),
      requestTimeout: srv.request_timeout_ms,
      keepAliveTimeout: srv.idle_timeout_ms,
      // How often those deadlines are checked (Node's default is 30 s).
      connectionsCheckingInterval: Math.min(1_000, srv.header_timeout_ms),
      maxHeaderSize: MAX_HEADER_BYTES,
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(req, res);
    };
    if (srv.tls) {
      // HTTPS from the configured certificate: Claude Code's /login needs it off loopback, and
      // pins the leaf certificate, so every replica must serve the same one.
      let tls: { cert: Buffer; key: Buffer };
      try {
        tls = { cert: readFileSync(srv.tls.cert), key: readFileSync(srv.tls.key) };
      } catch (err) {
        throw new Error(`server.tls: ${(err as Error).message}`);
      }
      this.server = createTlsServer({ ...httpOptions, ...tls }, onRequest);
      // Connections are counted once their TLS is up: that socket is the one requests carry.
      this.server.on('secureConnection', (s: Socket) => this.admit(s));
    } else {
      this.server = createServer(httpOptions, onRequest);
      this.server.on('connection', (s: Socket) => this.admit(s));
    }
    // Malformed HTTP never reaches a handler: answer it Anthropic-shaped and close.
    this.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      if (this.lingering.has(socket)) return;
      // HTTP/2 on the HTTP/1.1 port: almost always an OTLP exporter set to grpc. Said in the log
      // (at most once a minute), since the exporter itself drops its data without a word.
      if (err.rawPacket?.subarray(0, 14).toString('latin1') === 'PRI * HTTP/2.0' && performance.now() - this.lastH2Warning > 60_000) {
        this.lastH2Warning = performance.now();
        this.ctx.logger.warn(
          `a client spoke HTTP/2 to the HTTP port (${socket.remoteAddress}): probably Claude Code's telemetry with OTEL_EXPORTER_OTLP_PROTOCOL=grpc. ${this.grpc ? `OTLP/gRPC is served on port ${this.grpc.port}: point OTEL_EXPORTER_OTLP_ENDPOINT there` : 'Set telemetry.grpc_port to serve OTLP/gRPC'}, or use OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf on this port.`,
        );
      }
      if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
      const [e, reason] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [new GatewayError('TG_HEADERS_TOO_LARGE', `request headers exceed ${MAX_HEADER_BYTES} bytes`), 'Request Header Fields Too Large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [
                new GatewayError(
                  'TG_REQUEST_TIMEOUT',
                  `the request was not received in time (server.header_timeout_ms ${srv.header_timeout_ms}, server.request_timeout_ms ${srv.request_timeout_ms})`,
                ),
                'Request Timeout',
              ]
            : [new GatewayError('TG_BAD_REQUEST', `malformed HTTP request (${err.code ?? 'parse error'})`), 'Bad Request'];
      const body = e.body();
      this.lingerClose(
        socket,
        `HTTP/1.1 ${e.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-should-retry: false\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  }

  /** Answers, then reads and discards what the client still sends until it closes (or
   * LINGER_MS), so the answer is not lost to a reset; then the socket is freed for good. */
  private lingerClose(socket: Socket, answer: string): void {
    this.lingering.add(socket);
    socket.end(answer);
    socket.on('data', () => {});
    socket.resume();
    const t = setTimeout(() => socket.destroy(), LINGER_MS);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  }

  /** A new connection. At the cap, the longest-idle connection makes room (an idle or
   * slow-to-speak client must not lock out working ones); if every connection has a request
   * in flight, the new one is refused. Either way it is logged (at most every 10 s). */
  private admit(s: Socket): void {
    if (this.conns.size >= this.maxConnections) {
      let victim: Socket | null = null;
      for (const [sock, st] of this.conns) {
        if (st.busy === 0) {
          victim = sock;
          break;
        }
      }
      if (victim) {
        this.conns.delete(victim);
        victim.destroy();
      } else {
        s.destroy();
      }
      this.limitEvents++;
      if (performance.now() - this.lastLimitLog > 10_000) {
        this.lastLimitLog = performance.now();
        this.ctx.logger.warn(
          `connection limit reached (${this.maxConnections}, server.max_connections): ${victim ? 'closing the longest-idle connections' : 'refusing new connections, every one has a request in flight'} (${this.limitEvents} times); raise the open-file limit (ulimit -n, LimitNOFILE) and server.max_connections if this is real traffic`,
        );
        this.limitEvents = 0;
      }
      if (!victim) return;
    }
    this.conns.set(s, { busy: 0 });
    s.on('close', () => this.conns.delete(s));
  }

  private readonly served = new Set<string>();

  /** Remembers each managed-settings version served (for `tollgate fleet`: stale vs edited). */
  private servedOnce(checksum: string): void {
    if (this.served.has(checksum)) return;
    this.served.add(checksum);
    this.ctx.store.recordServedSettings(checksum, this.ctx.wallNow());
  }

  private lastRetention = -Infinity;
  private pruning = false;
  /** Lines deleted by store.retention_days since start (for logs and tests). */
  retentionDeleted = 0;

  /** store.retention_days: hourly, delete lines older than that, 1,000 at a time with a pause
   * between steps, so the writer (and so the event loop) is never held for long. */
  private lastSignInPrune = -Infinity;

  private retention(): void {
    // Sign-in state past use (tokens and device codes expired a day ago), hourly: each refresh
    // adds two token rows.
    if (performance.now() - this.lastSignInPrune >= 3_600_000) {
      this.lastSignInPrune = performance.now();
      try {
        this.ctx.store.pruneSignIn(this.ctx.wallNow() - 86_400_000);
      } catch (err) {
        this.ctx.logger.error('forgetting expired sign-in tokens failed', { error: (err as Error).message });
      }
    }
    const days = this.ctx.config.store.retention_days;
    if (days === undefined || this.pruning || this.closing || performance.now() - this.lastRetention < 3_600_000) return;
    this.lastRetention = performance.now();
    this.pruning = true;
    const cutoff = this.ctx.wallNow() - days * 86_400_000;
    const step = () => {
      if (this.closing) return void (this.pruning = false);
      try {
        const r = this.ctx.store.prune(cutoff, { maxLines: 1000 });
        this.retentionDeleted += r.deleted;
        if (r.deleted >= 1000) return void setTimeout(step, 20).unref();
        if (this.retentionDeleted)
          this.ctx.logger.info(`retention: ${this.retentionDeleted} ledger lines older than ${days} days deleted so far (totals kept in the rollups)`);
      } catch (err) {
        this.ctx.logger.error('retention: pruning the ledger failed', { error: (err as Error).message });
      }
      this.pruning = false;
    };
    step();
  }

  private checkDisk(): void {
    const free = this.ctx.store.freeBytes?.() ?? null;
    const minMb = this.ctx.config.store.min_free_mb;
    const low =
      free !== null && free < minMb * 1024 * 1024 ? `only ${(free / 1048576).toFixed(1)} MB free on the store's disk (store.min_free_mb: ${minMb})` : null;
    if (low && !this.diskLow)
      this.ctx.logger.error(
        `${low}: ${this.ctx.config.store.on_failure === 'open' ? 'still serving (store.on_failure: open)' : 'no request goes upstream until there is room (store.on_failure: closed)'}`,
      );
    if (!low && this.diskLow) this.ctx.logger.info("the store's disk has room again");
    this.diskLow = low;
  }

  /** The OTLP/gRPC receiver (telemetry.grpc_port), once listening. */
  grpc: OtlpGrpcReceiver | null = null;

  /** Connections open now (for /health and tests). */
  get connections(): number {
    return this.conns.size;
  }

  async listen(port = this.ctx.config.server.port, host = this.ctx.config.server.host): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    const t = this.ctx.config.telemetry;
    if (t.grpc_port !== undefined && !this.grpc) {
      this.grpc = new OtlpGrpcReceiver(this.ctx);
      try {
        await this.grpc.listen(t.grpc_host ?? host, t.grpc_port);
      } catch (err) {
        this.server.close();
        throw err;
      }
    }
    if (!this.ctx.config.server.public_url) this.publicUrl = `${this.ctx.config.server.tls ? 'https' : 'http'}://${host}:${addr.port}`;
    return addr;
  }

  private async handle(req: IncomingMessage, res: Tagged): Promise<void> {
    const t0 = this.ctx.now();
    const requestId = newRequestId(this.ctx.wallNow());
    this.active++;
    const st = this.conns.get(req.socket);
    if (st) {
      st.busy++;
      // Most recently used last: the connection limit closes from the front.
      this.conns.delete(req.socket);
      this.conns.set(req.socket, st);
    }
    try {
      await this.route(req, res, requestId, t0);
    } catch (err) {
      this.ctx.logger.error('request handler failed', { request_id: requestId, error: (err as Error)?.message });
    } finally {
      // Requests without a ledger line (admin, sign-in, health, refusals before a key is
      // known): their error count and access line here; lined ones when their line is written.
      if (!lined.has(res)) this.accessLine(req, res, requestId, t0);
      // The handler returns when its response has ended (streams included) or was cut.
      if (st) st.busy--;
      if (--this.active === 0) this.onIdle?.();
    }
  }

  private accessLine(req: IncomingMessage, res: Tagged, requestId: string, t0: number): void {
    const status = res.headersSent ? res.statusCode : 0;
    const code = res[ERROR_CODE];
    if (status >= 400) this.ctx.metrics?.error(code ?? String(status));
    const log = this.ctx.logger;
    if (!this.ctx.config.log.access) return;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    // The path only: a query string can carry a code or state (sign-in pages).
    const path = q === -1 ? url : url.slice(0, q);
    const level = PROBES.has(path) && status < 400 ? 'debug' : 'info';
    if (!log.enabled(level)) return;
    log[level]('request', {
      request_id: requestId,
      method: req.method,
      path: path.length > 200 ? path.slice(0, 200) + '…' : path,
      status,
      ...(code ? { error_code: code } : {}),
      duration_ms: Math.round((this.ctx.now() - t0) * 10) / 10,
      remote: req.socket.remoteAddress,
    });
  }

  private async route(req: IncomingMessage, res: Tagged, requestId: string, t0: number): Promise<void> {
    // While shutting down, every answer ends its connection.
    if (this.closing) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q);
    let cloud: CloudCall | null = null;
    try {
      switch (path) {
        case '/v1/messages':
        case '/v1/messages/count_tokens':
          if (req.method !== 'POST') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use POST`, { allow: 'POST' });
          await handleMessages(this.ctx, anthropicMessages, req, res, path === '/v1/messages' ? 'messages' : 'count_tokens', search, requestId, t0);
          return;
        case '/v1/models':
          if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use GET`, { allow: 'GET' });
          await this.models(req, res, search);
          return;
        case '/inference-profiles':
          // Bedrock mode asks at start-up (unsigned when its AWS auth is skipped): the system
          // profiles of the catalog's models, which any route here can serve.
          if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use GET`, { allow: 'GET' });
          sendJson(res, 200, this.inferenceProfiles());
          return;
        case '/managed/settings': {
          // Claude Code's managed settings for the signed-in user (or key), per group and team.
          if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use GET`, { allow: 'GET' });
          const auth = await this.ctx.keys.authenticate(req.headers);
          if (!auth.ok) throw new GatewayError(auth.code, 'managed settings need the signed-in bearer (or a virtual key)');
          serveManagedSettings(req, res, this.ctx.config.managed_settings, auth.key, (c) => this.servedOnce(c));
          return;
        }
        case '/api/oauth/usage': {
          // Dollars for Claude Code's /usage and status line (its gateway protocol).
          if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use GET`, { allow: 'GET' });
          const auth = await this.ctx.keys.authenticate(req.headers);
          if (!auth.ok) throw new GatewayError(auth.code, 'usage needs the signed-in bearer or a virtual key');
          sendJson(res, 200, this.ctx.spend.usage(auth.key, this.ctx.store), { 'cache-control': 'no-store' });
          return;
        }
        case '/v1/traces':
          // Traces carry nothing the ledger needs: accepted (a 404 makes Claude Code's exporter
          // log on every flush) and dropped.
          await handleOtlp(this.ctx, req, res, 'traces');
          return;
        case '/v1/metrics':
        case '/v1/logs':
          // Claude Code's own telemetry (OTLP/HTTP JSON), for reconciliation with the ledger.
          await handleOtlp(this.ctx, req, res, path === '/v1/metrics' ? 'metrics' : 'logs');
          return;
        case '/metrics':
          await this.scrape(req, res);
          return;
        case '/health/live':
        case '/livez':
          // The process answers: restart it only if this fails.
          sendJson(res, 200, { status: 'ok', version: VERSION });
          return;
        case '/health':
        case '/healthz':
        case '/health/ready':
        case '/readyz':
          this.ready(res);
          return;
        default:
          // Claude Code in Bedrock or Vertex mode: the cloud's paths, answered in the cloud's shape.
          cloud = path.startsWith('/model/') || path.includes('/publishers/anthropic/models/') ? cloudCall(path) : null;
          if (cloud) {
            if (req.method !== 'POST') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use POST`, { allow: 'POST' });
            const shim = new CloudResponse(res, cloud.mode, cloud.endpoint);
            try {
              await handleMessages(this.ctx, cloudInbound(cloud), req, shim as unknown as ServerResponse, cloud.endpoint, '', requestId, t0);
            } finally {
              if (lined.has(shim)) lined.add(res);
            }
            return;
          }
          // Sign-in (Claude Code's /login): discovery, device flow, tokens, the browser pages.
          if (
            (path.startsWith('/oauth/') || path.startsWith('/device') || path === '/.well-known/oauth-authorization-server') &&
            (await this.ctx.auth.handle(req, res, path, search))
          )
            return;
          if (path.startsWith('/v1/models/')) {
            if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} ${path}: use GET`, { allow: 'GET' });
            await this.model(req, res, path.slice('/v1/models/'.length));
            return;
          }
          if (path.startsWith('/admin/')) {
            await handleAdmin(this.ctx, req, res, path, search);
            return;
          }
          if ((path === '/console' || path.startsWith('/console/') || path === '/') && (await handleConsole(this.ctx, req, res, path, search))) return;
          throw new GatewayError('TG_NOT_FOUND', `${req.method} ${path} is not a tollgate endpoint`);
      }
    } catch (err) {
      this.fail(req, res, err, requestId, cloud?.mode);
    }
  }

  private inferenceProfiles(): Record<string, unknown> {
    const summaries = [];
    for (const m of this.ctx.catalog.models) {
      const id = m.ids.bedrock;
      if (!id) continue;
      for (const geo of BEDROCK_GEO_PREFIXES)
        summaries.push({
          inferenceProfileId: `${geo}.${id}`,
          inferenceProfileName: `${geo.toUpperCase()} ${m.display_name}`,
          inferenceProfileArn: `arn:aws:bedrock:us-east-1:000000000000:inference-profile/${geo}.${id}`,
          models: [{ modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${id}` }],
          status: 'ACTIVE',
          type: 'SYSTEM_DEFINED',
        });
    }
    return { inferenceProfileSummaries: summaries };
  }

  /** Readiness, for a load balancer: 503 while the store cannot take ledger lines (fail-closed),
   * no upstream has credentials, or the gateway is shutting down. */
  private ready(res: ServerResponse): void {
    const problems: string[] = [];
    const store = this.ctx.storeProblem();
    if (store) problems.push(`store: ${store}`);
    // Serving on (lines are durable in the spool), but reports and new keys need the database.
    const spool = this.ctx.store instanceof SpooledStore ? this.ctx.store.status() : null;
    if (spool?.down) problems.push(`postgres: unreachable (${spool.down}); ${spool.lines} ledger lines spooled`);
    if (spool?.refused) problems.push(`postgres: ledger lines refused (${spool.refused}); ${spool.lines} kept in the spool, retried`);
    // Never reached since start: it knows no key or budget yet, so it cannot serve.
    const blind = this.ctx.store instanceof SpooledStore && this.ctx.store.knownVersions().keys < 0;
    if (blind) problems.push('store: PostgreSQL not reached since start (keys and budgets unknown)');
    const upstreams = this.ctx.upstreams.map((u) => ({ name: u.name, route: u.route, ready: u.credentialProblem() === null }));
    if (!upstreams.some((u) => u.ready)) problems.push('no upstream has credentials');
    if (this.closing) problems.push('shutting down');
    const blocking = problems.filter((p) => !p.startsWith('postgres:') && !(p.startsWith('store:') && this.ctx.config.store.on_failure === 'open'));
    sendJson(res, blocking.length ? 503 : 200, {
      status: blocking.length ? 'not_ready' : problems.length ? 'degraded' : 'ok',
      version: VERSION,
      problems,
      upstreams,
      ledger: {
        healthy: this.ctx.ledger.healthy,
        pending_lines: this.ctx.ledger.pending,
        dropped_lines: this.ctx.ledger.dropped,
        written_lines: this.ctx.ledger.written,
      },
      connections: { open: this.conns.size, max: this.maxConnections },
      // What Claude Code's telemetry may use here (the doctor's --probe reads it).
      telemetry: { otlp_http: true, otlp_grpc_port: this.grpc?.port ?? null },
      ...(this.ctx.store instanceof SpooledStore ? { spool: this.ctx.store.status() } : {}),
    });
  }

  /** Prometheus text format; a bearer token when metrics.token is set. */
  private async scrape(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new GatewayError('TG_METHOD', `${req.method} /metrics: use GET`, { allow: 'GET' });
    const m = this.ctx.metrics;
    if (!m) throw new GatewayError('TG_NOT_FOUND', 'metrics are off (metrics.enabled: false)');
    const want = this.ctx.config.metrics.token;
    if (want) {
      const got = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1]?.trim() ?? '';
      const h = (x: string) => createHash('sha256').update(x).digest();
      if (!timingSafeEqual(h(got), h(want))) throw new GatewayError('TG_METRICS_AUTH', 'metrics need the bearer token set in metrics.token');
    }
    const text = await m.text();
    res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  /** The one error boundary: every failure leaves as an Anthropic-shaped error. */
  private fail(req: IncomingMessage, res: Tagged, err: unknown, requestId: string, cloud?: 'bedrock' | 'vertex'): void {
    // Nobody is left to answer; the ledger already has the line (499).
    if (err instanceof ClientAbortError) {
      res.destroy();
      return;
    }
    if (err instanceof StoreUnavailableError) err = new GatewayError('TG_STORE_UNAVAILABLE', `${err.message}; retry shortly`);
    const ge = err instanceof GatewayError ? err : new GatewayError('TG_INTERNAL', 'internal error');
    res[ERROR_CODE] = ge.code;
    if (!(err instanceof GatewayError)) this.ctx.logger.error('unhandled error', { request_id: requestId, error: (err as Error)?.stack ?? String(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { 'x-tollgate-request-id': requestId, ...ge.headers };
    // The gateway's own deterministic refusals (its 4xx, and errors only an operator can fix)
    // tell Claude Code's client not to retry them (it honours x-should-retry), so a bad key
    // fails fast with the message instead of backing off for minutes.
    if (!('x-should-retry' in headers) && !ge.retryable) headers['x-should-retry'] = 'false';
    // After refusing a request whose body we did not read (a bad key is refused before it),
    // close the connection rather than drain it.
    if (!req.complete) headers.connection = 'close';
    if (cloud) sendCloudError(res, cloud, ge.status, ge.body(requestId), headers);
    else sendError(res, ge.status, ge.body(requestId), headers);
  }

  /** The models this engineer may use, as the Models API lists them (newest first): those the
   * policy of their team or key refuses are left out (Claude Code's model discovery offers what
   * is listed). */
  private async allowedModels(req: IncomingMessage): Promise<{ type: 'model'; id: string; display_name: string; created_at: string }[]> {
    const auth = await this.ctx.keys.authenticate(req.headers);
    if (!auth.ok) throw new GatewayError(auth.code, 'listing models needs the signed-in bearer or a virtual key');
    const created = `${this.ctx.catalog.date}T00:00:00Z`;
    return this.ctx.catalog.models
      .filter((m) => m.ids.first_party && this.ctx.spend.policy.decide(auth.key, m.ids.first_party, () => 0).ok)
      .map((m) => ({ type: 'model' as const, id: m.ids.first_party as string, display_name: m.display_name, created_at: created }))
      .reverse();
  }

  /** GET /v1/models with the Models API's paging: limit (1–1000, default 20), after_id, before_id. */
  private async models(req: IncomingMessage, res: ServerResponse, search: string): Promise<void> {
    const all = await this.allowedModels(req);
    const q = new URLSearchParams(search);
    const limitRaw = q.get('limit');
    const limit = limitRaw === null ? 20 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new GatewayError('TG_BAD_REQUEST', `limit: a whole number from 1 to 1000, got ${JSON.stringify(limitRaw)}`);
    const after = q.get('after_id');
    const before = q.get('before_id');
    if (after && before) throw new GatewayError('TG_BAD_REQUEST', 'after_id and before_id: give one or the other');
    const at = (id: string, name: string) => {
      const i = all.findIndex((m) => m.id === id);
      if (i < 0) throw new GatewayError('TG_BAD_REQUEST', `${name}: no model ${JSON.stringify(id.slice(0, 100))} in this list`);
      return i;
    };
    let page;
    let hasMore: boolean;
    if (before) {
      const i = at(before, 'before_id');
      page = all.slice(Math.max(0, i - limit), i);
      hasMore = i - limit > 0;
    } else {
      const from = after ? at(after, 'after_id') + 1 : 0;
      page = all.slice(from, from + limit);
      hasMore = from + limit < all.length;
    }
    sendJson(res, 200, { data: page, has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page[page.length - 1]?.id ?? null });
  }

  /** GET /v1/models/{id}: any id the catalog knows (an alias, a dated or cloud id) answers with
   * its first-party model, if this engineer may use it. */
  private async model(req: IncomingMessage, res: ServerResponse, rawId: string): Promise<void> {
    const all = await this.allowedModels(req);
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      throw new GatewayError('TG_BAD_REQUEST', 'the model id is not valid percent-encoding');
    }
    const first = this.ctx.catalog.resolve(id)?.ids.first_party;
    const m = all.find((x) => x.id === id) ?? all.find((x) => x.id === first);
    if (!m) throw new GatewayError('TG_NOT_FOUND', `model: ${JSON.stringify(id.slice(0, 100))} is not a model this key may use`);
    sendJson(res, 200, m);
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.active;
  }

  private drained(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onIdle = () => {
        this.onIdle = null;
        resolve();
      };
    });
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`
   * (server.shutdown_grace_ms), then cuts the rest — they still record what was metered, with
   * TG_SHUTDOWN — and resolves once every ledger line is written.
   */
  close(graceMs = this.ctx.config.server.shutdown_grace_ms): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  /** Ends the grace period now (a second SIGTERM): requests in flight are cut and recorded. */
  cutNow(): void {
    this.endGrace();
  }

  private async shutdown(graceMs: number): Promise<void> {
    clearInterval(this.poller);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Idle keep-alive sockets would hold close() open; busy ones close after their answer.
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((r) => {
      this.endGrace = r;
      timer = setTimeout(r, graceMs);
    });
    await Promise.race([this.drained(), graceOver]);
    clearTimeout(timer);
    if (this.active > 0) {
      this.ctx.logger.warn(
        `shutdown: cutting ${this.active} requests still in flight after the grace period (server.shutdown_grace_ms ${graceMs}); their ledger lines are written`,
      );
      this.cut.fire();
      let t2: NodeJS.Timeout | undefined;
      await Promise.race([
        this.drained(),
        new Promise<void>((r) => {
          t2 = setTimeout(r, CUT_WAIT_MS);
        }),
      ]);
      clearTimeout(t2);
    }
    for (const s of this.conns.keys()) s.destroy();
    await closed;
    await this.grpc?.close();
    this.ctx.ledger.close();
    if (this.ctx.ledger.pending > 0)
      this.ctx.logger.error(`shutdown: ${this.ctx.ledger.pending} ledger lines could not be written: ${this.ctx.ledger.failure?.message ?? 'unknown error'}`);
    await Promise.all(this.ctx.upstreams.map((u) => u.close()));
  }
}
