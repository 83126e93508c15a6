// Spend caps as Claude Code's gateway protocol shows them to a signed-in engineer: the unified
// usage-limit headers on each answer (its "You've used NN% …" notice past 75 % and 95 %), the
// 429 billing_error headers at the cap, and the dollars /usage and the status line read from
// /api/oauth/usage. A cap is a hard budget covering the engineer; the binding one is a spent
// cap if any (the one that resets last), else the most used.
import type { BudgetDef } from './budgets.js';

export interface Cap {
  def: BudgetDef;
  spent: number;
  start: number;
  end: number;
}

const THRESHOLDS = [0.95, 0.75];
const PERIOD_NAMES: Record<BudgetDef['period'], string> = { day: 'daily', week: 'weekly', month: 'monthly', total: 'monthly' };

interface Judged extends Cap {
  exceeded: boolean;
  utilization: number;
}

function judge(c: Cap): Judged {
  return { ...c, exceeded: c.spent >= c.def.limit, utilization: c.def.limit > 0 ? c.spent / c.def.limit : 1 };
}

export function bindingCap(caps: Cap[]): Judged | null {
  let best: Judged | null = null;
  for (const c of caps.map(judge)) {
    if (!best) best = c;
    else if (c.exceeded !== best.exceeded) best = c.exceeded ? c : best;
    else if (c.exceeded) best = c.end > best.end ? c : best;
    else best = c.utilization > best.utilization ? c : best;
  }
  return best;
}

/** Below the cap the notice never says 100 %. */
function shownUtilization(c: Judged): number {
  const u = Math.round(c.utilization * 100) / 100;
  return c.exceeded ? u : Math.min(u, 0.99);
}

/** A total budget never resets: its reset is shown far ahead (Claude Code needs a time). */
function resetSeconds(c: Cap): number {
  return Math.floor((Number.isFinite(c.end) ? c.end : c.start + 366 * 86_400_000) / 1000);
}

/** Headers for an answer within the cap. */
export function allowedHeaders(caps: Cap[]): Record<string, string> {
  const b = bindingCap(caps);
  if (!b || b.exceeded) return {};
  const passed = THRESHOLDS.find((t) => b.utilization > t);
  const status = passed ? 'allowed_warning' : 'allowed';
  const reset = String(resetSeconds(b));
  return {
    'anthropic-ratelimit-unified-status': status,
    'anthropic-ratelimit-unified-reset': reset,
    'anthropic-ratelimit-unified-overage-reset': reset,
    'anthropic-ratelimit-unified-overage-utilization': String(shownUtilization(b)),
    'anthropic-ratelimit-unified-representative-claim': 'overage',
    'anthropic-ratelimit-unified-overage-status': status,
    ...(passed ? { 'anthropic-ratelimit-unified-overage-surpassed-threshold': String(passed) } : {}),
  };
}

/** Headers of the 429 at the cap. Representative-claim and overage-status stay off, or Claude
 * Code shows its own message instead of ours. */
export function rejectedHeaders(cap: Cap, now: number): Record<string, string> {
  const reset = String(resetSeconds(cap));
  return {
    'x-should-retry': 'false',
    'retry-after': String(Math.max(1, Math.ceil((resetSeconds(cap) * 1000 - now) / 1000))),
    'anthropic-ratelimit-unified-status': 'rejected',
    'anthropic-ratelimit-unified-reset': reset,
    'anthropic-ratelimit-unified-overage-reset': reset,
    'anthropic-ratelimit-unified-overage-utilization': '1',
    'anthropic-ratelimit-unified-overage-surpassed-threshold': '1',
    'anthropic-ratelimit-unified-overage-period': PERIOD_NAMES[cap.def.period],
    'anthropic-ratelimit-unified-overage-disabled-reason': 'org_spend_cap_reached',
  };
}

const cents = (nano: number) => Math.floor(nano / 10_000_000);

/** GET /api/oauth/usage for an engineer with caps; `spend` (daily, weekly, monthly nano-USD)
 * for one without. */
export function usageBody(caps: Cap[], spend: { daily: number; weekly: number; monthly: number }): Record<string, unknown> {
  const b = bindingCap(caps);
  if (!b) {
    return {
      extra_usage: {
        is_enabled: true,
        monthly_limit: null,
        used_credits: cents(spend.monthly),
        utilization: null,
        currency: 'USD',
        daily: { limit: null, used_credits: cents(spend.daily), utilization: null },
        weekly: { limit: null, used_credits: cents(spend.weekly), utilization: null },
      },
      limits: [],
    };
  }
  const judged = caps.map(judge);
  return {
    extra_usage: {
      is_enabled: true,
      monthly_limit: cents(b.def.limit),
      used_credits: cents(b.spent),
      utilization: Math.round(shownUtilization(b) * 100),
      currency: 'USD',
    },
    limits: judged.map((c) => ({
      kind: 'spend',
      group: PERIOD_NAMES[c.def.period],
      percent: Math.round(shownUtilization(c) * 100),
      resets_at: new Date(resetSeconds(c) * 1000).toISOString(),
      severity: c.exceeded || c.utilization > 0.95 ? 'critical' : c.utilization > 0.75 ? 'warning' : 'normal',
      is_active: c.def.id === b.def.id,
    })),
  };
}
