// Prometheus metrics (prom-client, its own registry: nothing global, two gateways in one process
// keep their own figures). Counters move when a request's ledger line is written, from that
// line, so a scrape and the ledger agree; gauges that describe state (budgets, spool, open
// connections) are read at scrape time rather than kept up to date on the request path.
//
// Label sets are bounded: a model label is a catalog id or "other" (a client can send any
// string as a model), a route is configured, a team is configured or mapped from the IdP. Per
// user labels are off unless metrics.user_label is set.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LedgerLine } from '../store/types.js';
import type { ModelCatalog } from '../routing/catalog.js';

/** Latency buckets in seconds: from a cached count_tokens (ms) to a long Opus stream (minutes). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** What tollgate itself adds: sub-millisecond to tens of ms. */
const OVERHEAD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];

const TOKEN_CLASSES = [
  ['input', 'input_tokens'],
  ['output', 'output_tokens'],
  ['cache_read', 'cache_read_input_tokens'],
  ['cache_write_5m', 'cache_creation_5m_input_tokens'],
  ['cache_write_1h', 'cache_creation_1h_input_tokens'],
] as const;

export interface MetricsState {
  openConnections(): number;
  inFlight(): number;
  spooledLines(): number | null;
  ledgerPending(): number;
  /** Each budget's spent/limit now. */
  budgets(): { id: string; scope: string; value: string | null; period: string; utilisation: number }[];
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'model' | 'status' | 'endpoint'>;
  private readonly attempts: Counter<'upstream' | 'status'>;
  private readonly failovers: Counter<'from' | 'to'>;
  private readonly errors: Counter<'code'>;
  private readonly tokens: Counter<string>;
  private readonly cost: Counter<string>;
  private readonly ttfb: Histogram<'route'>;
  private readonly duration: Histogram<'route'>;
  private readonly overhead: Histogram<'route'>;
  private readonly storeWrite: Histogram<string>;
  private readonly catalog: ModelCatalog;
  /** Model ids seen → their label (bounded: unknown ids are not remembered). */
  private readonly labelOf = new Map<string, string>();
  private readonly byUser: boolean;
  /** Children per (route, model, team[, user]); bounded as the label values are. */
  private readonly children = new Map<
    string,
    {
      cost: Counter.Internal;
      tokens: Counter.Internal[];
      ttfb: Histogram.Internal<'route'>;
      duration: Histogram.Internal<'route'>;
      overhead: Histogram.Internal<'route'>;
    }
  >();

  constructor(catalog: ModelCatalog, opts: { userLabel: boolean; state: MetricsState; defaults?: boolean }) {
    const r = this.registry;
    this.byUser = opts.userLabel;
    this.catalog = catalog;
    this.requests = new Counter({
      name: 'tollgate_requests_total',
      help: 'Requests answered, by route, model (catalog id or "other"), HTTP status and endpoint (messages, count_tokens).',
      labelNames: ['route', 'model', 'status', 'endpoint'],
      registers: [r],
    });
    this.attempts = new Counter({
      name: 'tollgate_upstream_attempts_total',
      help: 'Attempts on upstreams, by upstream and HTTP status (0: no answer).',
      labelNames: ['upstream', 'status'],
      registers: [r],
    });
    this.failovers = new Counter({
      name: 'tollgate_failovers_total',
      help: 'Requests moved from one upstream to another.',
      labelNames: ['from', 'to'],
      registers: [r],
    });
    this.errors = new Counter({
      name: 'tollgate_errors_total',
      help: 'Error answers by code (TG_* from tollgate, or the upstream error type).',
      labelNames: ['code'],
      registers: [r],
    });
    const spendLabels = ['route', 'model', 'team', ...(this.byUser ? ['user'] : [])];
    this.tokens = new Counter({
      name: 'tollgate_tokens_total',
      help: 'Tokens metered, by class (input, output, cache_read, cache_write_5m, cache_write_1h).',
      labelNames: [...spendLabels, 'class'],
      registers: [r],
    });
    this.cost = new Counter({
      name: 'tollgate_cost_usd_total',
      help: 'Cost in USD from the price data (the ledger keeps it exact in nano-dollars).',
      labelNames: spendLabels,
      registers: [r],
    });
    this.ttfb = new Histogram({
      name: 'tollgate_ttfb_seconds',
      help: 'Time to the first byte sent to the client.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.duration = new Histogram({
      name: 'tollgate_request_duration_seconds',
      help: 'Whole request, first byte received to last byte sent.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.overhead = new Histogram({
      name: 'tollgate_overhead_seconds',
      help: 'Time tollgate added: the request duration less the time spent in upstream attempts.',
      labelNames: ['route'],
      buckets: OVERHEAD_BUCKETS,
      registers: [r],
    });
    this.storeWrite = new Histogram({
      name: 'tollgate_store_write_seconds',
      help: 'Committing a batch of ledger lines to the store.',
      buckets: STORE_BUCKETS,
      registers: [r],
    });
    const s = opts.state;
    new Gauge({ name: 'tollgate_open_connections', help: 'Client connections open.', registers: [r], collect: gaugeOf(() => s.openConnections()) });
    new Gauge({ name: 'tollgate_requests_in_flight', help: 'Requests being served.', registers: [r], collect: gaugeOf(() => s.inFlight()) });
    new Gauge({
      name: 'tollgate_ledger_pending_lines',
      help: 'Ledger lines not yet in the store (held while it fails).',
      registers: [r],
      collect: gaugeOf(() => s.ledgerPending()),
    });
    new Gauge({
      name: 'tollgate_spool_lines',
      help: 'Ledger lines in the local spool not yet shipped to PostgreSQL (0 on SQLite).',
      registers: [r],
      collect: gaugeOf(() => s.spooledLines() ?? 0),
    });
    new Gauge({
      name: 'tollgate_budget_utilisation_ratio',
      help: "A budget's spend in its current period over its limit (1 = exhausted).",
      labelNames: ['budget', 'scope', 'value', 'period'],
      registers: [r],
      collect() {
        this.reset();
        for (const b of s.budgets()) this.set({ budget: b.id, scope: b.scope, value: b.value ?? '', period: b.period }, b.utilisation);
      },
    });
    if (opts.defaults !== false) collectDefaultMetrics({ register: r, prefix: 'tollgate_' });
  }

  /** The catalog id of the model served (or asked for), whatever route id it came as; "other"
   * for an id the catalog does not know, so a client cannot mint label values. */
  private model(l: LedgerLine): string {
    const m = l.model_served ?? l.model_requested;
    if (!m) return 'none';
    const seen = this.labelOf.get(m);
    if (seen) return seen;
    const id = this.catalog.resolve(m)?.id;
    if (!id) return 'other';
    this.labelOf.set(m, id);
    return id;
  }

  /** A request's line, once written. The labelled children are looked up once per label set and
   * kept (prom-client hashes a label object on every call otherwise): this runs per request. */
  request(l: LedgerLine): void {
    const route = l.route ?? 'none';
    const model = this.model(l);
    const team = l.team ?? '';
    const user = this.byUser ? (l.user ?? '') : '';
    const key = `${route}\u0000${model}\u0000${team}\u0000${user}`;
    let c = this.children.get(key);
    if (!c) {
      const labels = this.byUser ? [route, model, team, user] : [route, model, team];
      c = {
        cost: this.cost.labels(...labels),
        tokens: TOKEN_CLASSES.map(([cls]) => this.tokens.labels(...labels, cls)),
        ttfb: this.ttfb.labels(route),
        duration: this.duration.labels(route),
        overhead: this.overhead.labels(route),
      };
      this.children.set(key, c);
    }
    this.requests.labels(route, model, String(l.http_status), l.endpoint).inc();
    for (const a of l.attempts) this.attempts.labels(a.upstream, String(a.status)).inc();
    if (l.http_status >= 400 || l.error_code) this.errors.labels(l.error_code ?? l.error_type ?? String(l.http_status)).inc();
    for (let i = 0; i < TOKEN_CLASSES.length; i++) {
      const n = l[(TOKEN_CLASSES[i] as (typeof TOKEN_CLASSES)[number])[1]];
      if (n > 0) (c.tokens[i] as Counter.Internal).inc(n);
    }
    if (l.cost_nanousd > 0) c.cost.inc(l.cost_nanousd / 1e9);
    if (l.ttfb_ms !== null) c.ttfb.observe(l.ttfb_ms / 1000);
    c.duration.observe(l.duration_ms / 1000);
    let upstreamMs = 0;
    for (const a of l.attempts) upstreamMs += a.duration_ms;
    c.overhead.observe(Math.max(0, l.duration_ms - upstreamMs) / 1000);
  }

  /** An error answered before any line was made (bad key, unknown path, malformed HTTP). */
  error(code: string): void {
    this.errors.inc({ code });
  }

  failover(from: string, to: string): void {
    this.failovers.inc({ from, to });
  }

  storeCommit(seconds: number): void {
    this.storeWrite.observe(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function gaugeOf(read: () => number): (this: Gauge) => void {
  return function (this: Gauge) {
    this.set(read());
  };
}
