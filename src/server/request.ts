// One request through the gateway: the object that owns its ledger line, its spend admission,
// its upstream attempts and the usage those billed, and how it ends. Every path out of a
// request goes through finish(), which settles spend and writes the line exactly once.
import type { ServerResponse } from 'node:http';
import { addUsage, emptyUsage, type Usage } from '../metering/usage.js';
import type { Admission } from '../policy/spend.js';
import type { Endpoint, Upstream } from '../providers/types.js';
import type { Attempt, KeyRecord, LedgerLine } from '../store/types.js';
import type { GatewayContext } from './context.js';

/** Why a request in flight stopped early: its client left, or the gateway's shutdown cut it. */
export interface Stop {
  clientGone: boolean;
  cut: boolean;
}

export const SHUTDOWN_MESSAGE =
  'the gateway is shutting down and cut this request after its grace period (server.shutdown_grace_ms); retry (another replica will answer)';

export class RequestContext {
  readonly line: LedgerLine;
  admission: Admission | null = null;
  /** Usage and cost of attempts abandoned for failover after their stream started: the
   * upstream billed them, so the line's totals include them. */
  readonly billed: { usage: Usage; cost: number } = { usage: emptyUsage(), cost: 0 };
  readonly stop: Stop = { clientGone: false, cut: false };
  /** Aborts the upstream call in progress when the client leaves or the shutdown cuts. */
  readonly abort = new AbortController();
  private written: Promise<void> | null = null;

  constructor(
    readonly ctx: GatewayContext,
    public key: KeyRecord,
    readonly endpoint: Endpoint,
    readonly t0: number,
    id: string,
  ) {
    this.line = {
      id,
      ts: ctx.wallNow(),
      key_id: key.id,
      user: key.user,
      team: key.team,
      project: key.project,
      session_id: null,
      endpoint,
      model_requested: null,
      model_served: null,
      upstream: null,
      route: null,
      region: null,
      http_status: 0,
      error_type: null,
      error_code: null,
      stop_reason: null,
      streamed: false,
      input_tokens: 0,
      output_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation_5m_input_tokens: 0,
      cache_creation_1h_input_tokens: 0,
      web_search_requests: 0,
      web_fetch_requests: 0,
      cost_nanousd: 0,
      priced: true,
      ttfb_ms: null,
      duration_ms: 0,
      client_aborted: false,
      upstream_request_id: null,
      message_id: null,
      upstream_model: null,
      endpoint_type: null,
      attempts: [],
    };
  }

  /** The request's project, from the engineer's billing tag (before admission: project budgets
   * apply to it). */
  attribute(project: string): void {
    this.key = { ...this.key, project };
    this.line.project = project;
  }

  /** Policy, rate limits and budgets for the model asked for: throws the gateway's refusals,
   * nothing reaches an upstream. */
  admit(model: string, bodyBytes: number): Admission {
    this.line.model_requested = model;
    this.admission = this.ctx.spend.admit(this.key, model, bodyBytes, this.line.id);
    return this.admission;
  }

  /** Follows the client and the shutdown while the request runs; returns the unsubscriber. */
  watch(res: ServerResponse): () => void {
    const onClose = () => {
      if (!res.writableFinished) {
        this.stop.clientGone = true;
        this.abort.abort();
      }
    };
    const off = this.ctx.shutdown.on(() => {
      this.stop.cut = true;
      this.abort.abort();
    });
    res.on('close', onClose);
    return () => {
      res.off('close', onClose);
      off();
    };
  }

  get stopped(): boolean {
    return this.stop.clientGone || this.stop.cut;
  }

  /** A new attempt on an upstream: the line names the upstream last tried. */
  startAttempt(upstream: Upstream): Attempt {
    const a: Attempt = { upstream: upstream.name, status: 0, error: null, duration_ms: 0 };
    this.line.attempts.push(a);
    this.line.upstream = upstream.name;
    this.line.route = upstream.route;
    this.line.region = upstream.region;
    return a;
  }

  /** An attempt given up after its stream had started: what it metered stays with it and in
   * the request's totals. */
  abandon(attempt: Attempt, metered: { usage: Usage; cost: number } | undefined): void {
    if (!metered) return;
    attempt.usage = metered.usage;
    attempt.cost_nanousd = metered.cost;
    addUsage(this.billed.usage, metered.usage);
    this.billed.cost += metered.cost;
  }

  /** Adds the abandoned attempts' usage to a line whose own usage is known (or none). */
  includeBilled(): void {
    addUsage(this.line, this.billed.usage);
    this.line.cost_nanousd += this.billed.cost;
  }

  get finished(): boolean {
    return this.written !== null;
  }

  /**
   * The request is over: `fields` complete the line, spend is settled at its exact cost, and the
   * line is written. Only the first call does anything; later ones return the same promise (a
   * response can end several ways, the line is written once). Resolves once it is durable.
   */
  finish(fields: Partial<LedgerLine> = {}): Promise<void> {
    if (this.written) return this.written;
    Object.assign(this.line, fields);
    this.line.duration_ms = this.ctx.now() - this.t0;
    if (this.admission) this.ctx.spend.settle(this.admission, this.line);
    this.written = this.ctx.ledger.write(this.line);
    // Counted and logged once durable, so /metrics and the access log agree with the ledger.
    this.written.then(
      () => this.ctx.observe(this.line),
      () => {},
    );
    return this.written;
  }
}
