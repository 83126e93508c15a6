// The advisors: seat or metered per user (from the ledger and the seat plans in data/), and
// which billing route to be on (the decision tree of the billing-route article, section 9).
import { readFileSync } from 'node:fs';
import { dataPath } from '../util/paths.js';
import { usdToNano } from '../policy/budgets.js';
import { formatUsd } from '../metering/prices.js';
import type { Store } from '../store/types.js';

export interface SeatPlan {
  id: string;
  name: string;
  usd_per_month: string;
  metered_equivalent_usd: string;
  min_seats: number;
  notes: string;
}

export interface SeatPlans {
  source: string;
  date: string;
  plans: SeatPlan[];
}

export function loadSeatPlans(file?: string): SeatPlans {
  const j = JSON.parse(readFileSync(file ?? dataPath('seat-plans.json'), 'utf8')) as SeatPlans;
  if (!Array.isArray(j.plans) || j.plans.length === 0) throw new Error(`${file ?? 'seat-plans.json'}: expected {"plans": [...]}`);
  for (const p of j.plans) {
    usdToNano(p.usd_per_month);
    usdToNano(p.metered_equivalent_usd);
  }
  return j;
}

export interface UserUsage {
  user: string;
  /** Metered cost in the period, nano-USD. */
  cost: number;
  /** Cost per UTC day with any use. */
  perDay: Map<string, number>;
}

/** Per-user cost and cost per active day from the ledger, for the seat advisor. */
export function userUsage(store: Pick<Store, 'report'>, since: number, until: number, team?: string): UserUsage[] {
  const byUser = new Map<string, UserUsage>();
  for (const r of store.report(['user', 'day'], { since, until, team })) {
    const u = String(r.user ?? '(none)');
    const e = byUser.get(u) ?? { user: u, cost: 0, perDay: new Map<string, number>() };
    e.cost += Number(r.cost_nanousd);
    e.perDay.set(String(r.day), Number(r.cost_nanousd));
    byUser.set(u, e);
  }
  return [...byUser.values()].sort((a, b) => b.cost - a.cost);
}

export interface SeatAdvice {
  user: string;
  metered_usd_per_month: number;
  active_days: number;
  working_days: number;
  /** How evenly use is spread over working days: active days / working days. */
  spread: number;
  recommendation: string;
  plan: string | null;
  seat_usd_per_month: number | null;
  saving_usd_per_month: number;
  reason: string;
}

const nano = (usd: string) => usdToNano(usd);
const usd = (n: number) => Math.round(n / 1e7) / 100;
/** For text: the one rounding rule for money shown to people. */
const money = (n: number) => formatUsd(Math.round(n), 2);

/** Working days (Mon–Fri) in [since, until). */
export function workingDays(since: number, until: number): number {
  let n = 0;
  for (let t = Date.UTC(new Date(since).getUTCFullYear(), new Date(since).getUTCMonth(), new Date(since).getUTCDate()); t < until; t += 86400e3) {
    const wd = new Date(t).getUTCDay();
    if (wd !== 0 && wd !== 6) n++;
  }
  return Math.max(1, n);
}

/**
 * Per user: metered cost scaled to a 30-day month vs each plan. A seat is recommended when it
 * is cheaper than metering AND the user's metered-equivalent use fits the plan's caps AND use
 * is spread over most working days (seats reward steady daily use; bursty use hits session
 * caps on the days it happens while paying for idle days).
 */
export function adviseSeats(
  users: UserUsage[],
  plans: SeatPlans,
  since: number,
  until: number,
  opts: { minSpread?: number; individual?: boolean } = {},
): SeatAdvice[] {
  const days = Math.max(1, (until - since) / 86400e3);
  const wdays = workingDays(since, until);
  const minSpread = opts.minSpread ?? 0.5;
  const byPrice = (a: SeatPlan, b: SeatPlan) => nano(a.usd_per_month) - nano(b.usd_per_month);
  const teamPlans = plans.plans.filter((p) => p.min_seats > 1).sort(byPrice);
  const individualPlans = plans.plans.filter((p) => p.min_seats <= 1).sort(byPrice);
  // Company engineers get team plans (admin, billing, data controls); individual plans only
  // when asked for, or when the plan data has no team plan.
  const individual = opts.individual || teamPlans.length === 0 ? [...teamPlans, ...individualPlans].sort(byPrice) : teamPlans;
  const advice = users.map((u) => {
    const monthly = Math.round((u.cost * 30) / days);
    const active = u.perDay.size;
    const spread = Math.min(1, active / wdays);
    const fits = individual.filter((p) => monthly <= nano(p.metered_equivalent_usd));
    const cheapest = fits.find((p) => nano(p.usd_per_month) < monthly);
    const base = { user: u.user, metered_usd_per_month: usd(monthly), active_days: active, working_days: wdays, spread: Math.round(spread * 100) / 100 };
    if (!cheapest) {
      const reason =
        fits.length === 0
          ? `heavier than any plan's caps (~$${money(monthly)}/month of list-price use): a seat would throttle this user`
          : `metered use (~$${money(monthly)}/month) costs less than the cheapest plan ($${individual[0]?.usd_per_month ?? '?'})`;
      return { ...base, recommendation: 'metered', plan: null, seat_usd_per_month: null, saving_usd_per_month: 0, reason };
    }
    if (spread < minSpread) {
      return {
        ...base,
        recommendation: 'metered',
        plan: null,
        seat_usd_per_month: null,
        saving_usd_per_month: 0,
        reason: `a ${cheapest.name} seat ($${cheapest.usd_per_month}) would be cheaper on paper, but use is bursty (${active} of ${wdays} working days): session caps bite on busy days while idle days are paid for`,
      };
    }
    const saving = monthly - nano(cheapest.usd_per_month);
    // Against individual plans: what the same user would pay on the cheapest one that fits.
    const solo = cheapest.min_seats > 1 ? individualPlans.find((p) => monthly <= nano(p.metered_equivalent_usd)) : undefined;
    const versus = solo
      ? nano(solo.usd_per_month) > nano(cheapest.usd_per_month)
        ? `; the team plan beats an individual ${solo.name} ($${solo.usd_per_month})`
        : `; an individual ${solo.name} ($${solo.usd_per_month}) would cost no more, without the team plan's admin and data controls`
      : '';
    return {
      ...base,
      recommendation: 'seat',
      plan: cheapest.id,
      seat_usd_per_month: Number(cheapest.usd_per_month),
      saving_usd_per_month: usd(saving),
      reason: `steady use on ${active} of ${wdays} working days, ~$${money(monthly)}/month metered vs $${cheapest.usd_per_month} for ${cheapest.name}${versus}`,
    };
  });
  // A team plan's minimum number of seats is paid for whoever uses them: with fewer takers
  // than the minimum, keep the plan only if the whole minimum still costs less than metering.
  for (const p of teamPlans) {
    const takers = advice.filter((a) => a.plan === p.id);
    if (takers.length === 0 || takers.length >= p.min_seats) continue;
    const planCost = nano(p.usd_per_month) * p.min_seats;
    const metered = takers.reduce((a, t) => a + Math.round(t.metered_usd_per_month * 1e9), 0);
    for (const t of takers) {
      if (planCost < metered) {
        t.reason += `; the plan's minimum of ${p.min_seats} seats ($${money(planCost)}/month) still costs less than metering these ${takers.length} users ($${money(metered)})`;
        t.saving_usd_per_month = usd((metered - planCost) / takers.length);
        t.seat_usd_per_month = usd(planCost / takers.length);
      } else {
        Object.assign(t, {
          recommendation: 'metered',
          plan: null,
          seat_usd_per_month: null,
          saving_usd_per_month: 0,
          reason: `${p.name} would suit this use, but only ${takers.length} user(s) need it and the plan's minimum is ${p.min_seats} seats ($${money(planCost)}/month vs $${money(metered)} metered)`,
        });
      }
    }
  }
  return advice;
}

export function hybridSummary(advice: SeatAdvice[]): {
  seats: Record<string, number>;
  metered_users: number;
  metered_usd_per_month: number;
  seats_usd_per_month: number;
  all_metered_usd_per_month: number;
  saving_usd_per_month: number;
} {
  const seats: Record<string, number> = {};
  let seatCost = 0;
  let metered = 0;
  let allMetered = 0;
  for (const a of advice) {
    allMetered += a.metered_usd_per_month;
    if (a.recommendation === 'seat' && a.plan) {
      seats[a.plan] = (seats[a.plan] ?? 0) + 1;
      seatCost += a.seat_usd_per_month ?? 0;
    } else metered += a.metered_usd_per_month;
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    seats,
    metered_users: advice.filter((a) => a.recommendation !== 'seat').length,
    metered_usd_per_month: r(metered),
    seats_usd_per_month: r(seatCost),
    all_metered_usd_per_month: r(allMetered),
    saving_usd_per_month: r(allMetered - metered - seatCost),
  };
}

export interface RouteQuestions {
  /** Not needed when a hard constraint (residency, an existing cloud) decides. */
  stage?: 'evaluation' | 'steady';
  /** Not needed when a hard constraint decides, or during evaluation. */
  usage?: 'even' | 'uneven';
  cloud: 'aws' | 'gcp' | 'none';
  residency?: string;
  chargeback: boolean;
}

/** The next question the decision tree needs answered, or null when it can decide: hard
 * constraints (residency, an existing cloud) first, then the stage, then the usage shape. */
export function missingRouteAnswer(q: Partial<RouteQuestions>): 'cloud' | 'stage' | 'usage' | null {
  if (q.residency) return null;
  if (q.cloud === undefined) return 'cloud';
  if (q.cloud !== 'none') return null;
  if (q.stage === undefined) return 'stage';
  if (q.stage === 'evaluation') return null;
  return q.usage === undefined ? 'usage' : null;
}

export interface RouteAdvice {
  route: 'anthropic' | 'bedrock' | 'vertex' | 'seats';
  region: string | null;
  reasons: string[];
}

/** Map a residency requirement to a region on the chosen cloud. */
function regionFor(cloud: 'aws' | 'gcp', residency: string | undefined): string {
  const r = (residency ?? '').toLowerCase();
  if (/^[a-z]{2}(-gov)?-[a-z]+-\d+$/.test(r) && cloud === 'aws') return r;
  if (/^[a-z]+-[a-z]+\d+$/.test(r) && cloud === 'gcp') return r;
  const eu = /^(eu|europe|de|fr|nl|ie|it|es|se)/.test(r);
  const ap = /^(ap|asia|jp|au|sg|in|kr)/.test(r);
  if (cloud === 'aws') return eu ? 'eu-west-1' : ap ? 'ap-northeast-1' : 'us-east-1';
  return eu ? 'europe-west1' : ap ? 'asia-southeast1' : r ? 'us-east5' : 'global';
}

/** The decision tree: hard constraints first, then the stage, then the usage shape. */
export function adviseRoute(q: RouteQuestions): RouteAdvice {
  const missing = missingRouteAnswer(q);
  if (missing) throw new Error(`the decision needs --${missing}`);
  const reasons: string[] = [];
  if (q.residency) {
    const cloud = q.cloud === 'none' ? 'aws' : q.cloud;
    const route = cloud === 'aws' ? 'bedrock' : 'vertex';
    reasons.push(
      `data residency (${q.residency}) is a hard constraint and overrides cost: pin inference to ${route === 'bedrock' ? 'AWS regions with a matching inference-profile geography' : 'a Vertex region'} in your own cloud account`,
    );
    if (q.cloud === 'none') reasons.push('no existing cloud named: Bedrock assumed (use --cloud gcp for Vertex)');
    if (q.chargeback) reasons.push('spend lands on the cloud bill, where cost-allocation tags and projects do the chargeback');
    return { route, region: regionFor(cloud, q.residency), reasons };
  }
  if (q.cloud !== 'none') {
    const route = q.cloud === 'aws' ? 'bedrock' : 'vertex';
    reasons.push(
      `an existing ${q.cloud.toUpperCase()} contract: metering through ${route === 'bedrock' ? 'Amazon Bedrock' : 'Vertex AI'} uses it (IAM, audit logs, committed spend)`,
    );
    if (q.chargeback) reasons.push("chargeback through the cloud bill (cost-allocation tags / projects) and tollgate's ledger");
    if (q.stage !== 'evaluation' && q.usage !== 'uneven')
      reasons.push('note: for high, even use seats may be cheaper — run `tollgate advise seats` on the ledger before committing');
    return { route, region: regionFor(q.cloud, undefined), reasons };
  }
  if (q.stage === 'evaluation') {
    reasons.push('evaluation: meter on the Anthropic API — pay only for the trial, nothing to provision');
    reasons.push('revisit with `tollgate advise seats` once use has settled');
    return { route: 'anthropic', region: null, reasons };
  }
  if (q.usage === 'even' && !q.chargeback) {
    // (stage is steady here: evaluation returned above)
    reasons.push('steady, even use with no cloud or chargeback requirement: per-seat plans win on cost and simplicity');
    reasons.push('keep occasional users on metering (the advice applies per user: `tollgate advise seats`)');
    return { route: 'seats', region: null, reasons };
  }
  reasons.push(
    q.usage === 'uneven'
      ? 'uneven use: seats would charge light users as much as heavy ones; metering is fairer'
      : 'chargeback needs per-team attribution that seats do not give',
  );
  reasons.push('a hybrid is fine: heavy, steady users on seats, the rest metered (`tollgate advise seats`)');
  return { route: 'anthropic', region: null, reasons };
}
