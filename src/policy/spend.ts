// Spend control on the request path: model access, rate limits and budgets, decided from
// memory before anything reaches an upstream; settled when the request's ledger line is known.
import type { Config } from '../config/schema.js';
import { formatUsd, type PriceBook } from '../metering/prices.js';
import { emptyUsage } from '../metering/usage.js';
import type { ModelCatalog } from '../routing/catalog.js';
import { GatewayError } from '../server/errors.js';
import type { KeyRecord, LedgerLine, Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { AlertDispatcher } from './alerts.js';
import { BudgetEngine, configBudgetDefs, describeBudget, type BudgetEvent, type Reservation } from './budgets.js';
import { ModelPolicy } from './models.js';
import { periodAt } from './periods.js';
import { allowedHeaders, rejectedHeaders, usageBody } from './usage-limits.js';
import { RateLimiter, rateRules, type RateTicket } from './ratelimits.js';

export interface Admission {
  model: string;
  rewrittenFrom: string | null;
  reservation: Reservation | null;
  ticket: RateTicket | null;
  /** Headers for the client (Anthropic's unified rate-limit headers once a threshold passed). */
  headers: Record<string, string>;
  /** The headers carry the engineer's own cap: the upstream's anthropic-ratelimit-* (about the
   * gateway's account, not the engineer) are removed from the answer. */
  ownsRateLimitHeaders: boolean;
}

/** Dollars for people: cents for real amounts, four decimals below a dollar. */
function usd(nano: number): string {
  return '$' + formatUsd(nano, Math.abs(nano) < 1_000_000_000 ? 4 : 2);
}

export class SpendControl {
  readonly budgets: BudgetEngine;
  readonly rates: RateLimiter;
  readonly policy: ModelPolicy;

  constructor(
    /** Budget and unpriced-model alerts go out through it (routing alerts do not pass here). */
    readonly alerts: AlertDispatcher,
    private readonly config: Config,
    store: Store,
    private readonly prices: PriceBook,
    catalog: ModelCatalog,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.budgets = new BudgetEngine(store, configBudgetDefs(config.budgets), config.spend.timezone, now, (e) => this.onBudgetEvent(e), config.store.on_failure);
    this.rates = new RateLimiter(rateRules(config.rate_limits), now);
    this.policy = new ModelPolicy(config.policy, catalog);
  }

  private when(t: number): string {
    if (!Number.isFinite(t)) return 'never (a total budget)';
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: this.config.spend.timezone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(t));
    return `${local} ${this.config.spend.timezone} (${new Date(t).toISOString()})`;
  }

  private onBudgetEvent(e: BudgetEvent): void {
    const b = e.budget;
    if (e.kind === 'budget_threshold') {
      this.alerts.send({
        event: 'budget_threshold',
        text: `tollgate: ${describeBudget(b)} has passed ${e.threshold}%: ${usd(e.spent)} of ${usd(b.limit)} spent (${b.mode} limit; resets ${this.when(e.resetsAt)})`,
        data: {
          budget_id: b.id,
          scope: b.scope,
          scope_value: b.value,
          period: b.period,
          mode: b.mode,
          threshold_pct: e.threshold,
          spent_usd: Number(formatUsd(e.spent)),
          limit_usd: Number(formatUsd(b.limit)),
          period_start: new Date(e.periodStart).toISOString(),
          resets_at: Number.isFinite(e.resetsAt) ? new Date(e.resetsAt).toISOString() : null,
        },
      });
    } else {
      this.alerts.send({
        event: 'budget_exhausted',
        text: `tollgate: ${describeBudget(b)} is spent (${usd(e.spent)} of ${usd(b.limit)}); requests are being refused until ${this.when(e.resetsAt)}${e.user ? ` (first refused: ${e.user})` : ''}`,
        data: {
          budget_id: b.id,
          scope: b.scope,
          scope_value: b.value,
          period: b.period,
          spent_usd: Number(formatUsd(e.spent)),
          limit_usd: Number(formatUsd(b.limit)),
          resets_at: Number.isFinite(e.resetsAt) ? new Date(e.resetsAt).toISOString() : null,
          user: e.user,
        },
      });
    }
  }

  /** A conservative estimate of a request's cost: ~3 bytes per input token at full input price
   * (no cache discount), the configured output reservation, and the highest route surcharge.
   * An unpriced model is estimated at the highest rates (prices.unpriced: reserve). */
  estimate(model: string, bodyBytes: number): number {
    const u = emptyUsage();
    u.input_tokens = Math.ceil(bodyBytes / 3);
    u.output_tokens = this.config.spend.reserve_output_tokens;
    const c = this.prices.cost(model, u, {}, undefined, this.config.prices.unpriced === 'reserve' ? 'ceiling' : 'zero');
    return Math.ceil((c.nanoUsd * 11) / 10);
  }

  /** Unpriced models seen (bounded: names come from clients), for the once-per-model alert. */
  private readonly unpricedSeen = new Set<string>();

  private checkPriced(model: string): void {
    if (this.prices.lookup(model)) return;
    const policy = this.config.prices.unpriced;
    if (policy === 'refuse')
      throw new GatewayError('TG_MODEL_UNPRICED', `model "${model}" has no price in this gateway's price data; ask ${this.config.spend.contact} to add it`);
    if (this.unpricedSeen.has(model) || this.unpricedSeen.size >= 1000) return;
    this.unpricedSeen.add(model);
    const how =
      policy === 'reserve'
        ? 'budgets reserve and settle its requests at the highest known rates; the ledger flags them unpriced'
        : 'its requests cost $0 in the ledger and budgets (prices.unpriced: allow)';
    this.alerts.send({
      event: 'unpriced_model',
      text: `tollgate: model "${model}" has no price: ${how}. Add it to a price file (prices.file).`,
      data: { model, policy },
    });
  }

  /** Decides a request before any upstream sees it; throws the gateway's refusals. */
  admit(key: KeyRecord, model: string, bodyBytes: number, lineId?: string): Admission {
    const decision = this.policy.decide(key, model, () => this.budgets.utilization(key));
    if (!decision.ok) {
      throw new GatewayError(
        'TG_MODEL_NOT_ALLOWED',
        `model "${model}" is not allowed for ${key.team ? `team ${key.team}` : `key ${key.id}`}; allowed: ${decision.allowed.join(', ')}`,
      );
    }
    this.checkPriced(decision.model);
    const rate = this.rates.admit(key);
    if (!rate.ok) {
      const r = rate.refusal;
      const what = { rpm: 'requests per minute', tpm: 'tokens per minute', concurrent: 'concurrent requests' }[r.limit];
      throw new GatewayError(
        'TG_RATE_LIMITED',
        `${r.rule.scope} ${r.rule.value === '*' ? '(each)' : r.rule.value}: limit of ${r.max} ${what} reached (${r.current}); retry in ${r.retryAfterS}s`,
        { 'retry-after': String(r.retryAfterS) },
      );
    }
    const b = this.budgets.admit(key, this.estimate(decision.model, bodyBytes), lineId);
    if (!b.ok) {
      this.rates.finish(rate.ticket, 0);
      const r = b.refusal;
      if (r.unavailable)
        throw new GatewayError(
          'TG_STORE_UNAVAILABLE',
          `${describeBudget(r.budget)} cannot be checked: ${r.unavailable}; this gateway's share of it is used up (store.on_failure: closed); retry shortly`,
        );
      const inFlight = r.reserved > 0 ? ` (including ${usd(r.reserved)} in flight)` : '';
      const reset = Number.isFinite(r.resetsAt) ? `It resets ${this.when(r.resetsAt)}.` : 'It does not reset (a total budget).';
      const headers: Record<string, string> = {
        'x-should-retry': 'false',
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-reason': `tollgate_budget_${r.budget.period}`,
        'x-tollgate-budget': `${r.budget.scope}${r.budget.value ? `:${r.budget.value}` : ''}:${r.budget.period}`,
      };
      if (Number.isFinite(r.resetsAt)) headers['anthropic-ratelimit-unified-reset'] = String(Math.ceil(r.resetsAt / 1000));
      const message = `${describeBudget(r.budget)} is spent: ${usd(r.spent + r.reserved)} of ${usd(r.budget.limit)}${inFlight}. ${reset} To raise it, ask ${this.config.spend.contact}.`;
      if (key.kind === 'session') {
        // Claude Code signed in to the gateway: its protocol's 429 (billing_error), so it shows
        // this message and stops retrying.
        const cap = this.budgets.caps(key).find((c) => c.def.id === r.budget.id) ?? { def: r.budget, spent: r.spent, start: this.now(), end: r.resetsAt };
        throw new GatewayError(
          'TG_BUDGET_EXHAUSTED',
          message,
          { ...rejectedHeaders(cap, this.now()), 'x-tollgate-budget': headers['x-tollgate-budget']! },
          'billing_error',
        );
      }
      throw new GatewayError('TG_BUDGET_EXHAUSTED', message, headers);
    }
    if (key.kind === 'session') {
      const caps = this.budgets.caps(key);
      if (caps.length)
        return {
          model: decision.model,
          rewrittenFrom: decision.rewrittenFrom,
          reservation: b.reservation,
          ticket: rate.ticket,
          headers: allowedHeaders(caps),
          ownsRateLimitHeaders: true,
        };
    }
    const headers: Record<string, string> = {};
    if (b.warning) {
      headers['anthropic-ratelimit-unified-status'] = 'allowed_warning';
      headers['anthropic-ratelimit-unified-utilization'] = b.warning.utilization.toFixed(4);
      if (Number.isFinite(b.warning.resetsAt)) headers['anthropic-ratelimit-unified-reset'] = String(Math.ceil(b.warning.resetsAt / 1000));
    }
    return {
      model: decision.model,
      rewrittenFrom: decision.rewrittenFrom,
      reservation: b.reservation,
      ticket: rate.ticket,
      headers,
      ownsRateLimitHeaders: false,
    };
  }

  /** GET /api/oauth/usage: the engineer's caps in dollars, or what they spent without one. */
  usage(key: KeyRecord, store: Store): Record<string, unknown> {
    const caps = this.budgets.caps(key);
    if (caps.length) return usageBody(caps, { daily: 0, weekly: 0, monthly: 0 });
    const t = this.now();
    const spent = (p: 'day' | 'week' | 'month') => {
      const w = periodAt(p, t, this.config.spend.timezone);
      return store.spend('user', key.user, w.start, w.end);
    };
    return usageBody([], { daily: spent('day'), weekly: spent('week'), monthly: spent('month') });
  }

  /** The request is over: book its exact cost and tokens. */
  settle(a: Admission, line: LedgerLine): void {
    if (a.reservation) this.budgets.settle(a.reservation, line.cost_nanousd, line.ts);
    if (a.ticket)
      this.rates.finish(
        a.ticket,
        line.input_tokens + line.output_tokens + line.cache_read_input_tokens + line.cache_creation_5m_input_tokens + line.cache_creation_1h_input_tokens,
      );
  }
}
