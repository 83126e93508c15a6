// Budgets enforced before money is spent. Each budget keeps, in memory, the settled spend of
// its current period (rebuilt from the ledger at start and when budgets change) and the
// reservations of requests in flight. A request is admitted while every hard budget covering
// it has spent + reserved < limit; it then reserves an estimate, settled to the exact cost
// when its ledger line is written.
//
// Bound (docs/spend-control.md): when a budget runs out, the requests already in flight
// still finish, so the final spend is at most
//   limit + cost(last admitted request) + Σ over requests in flight of max(0, actual − reserved)
// and with reservations at least as large as actual costs, at most one request's cost over.
import { createHash } from 'node:crypto';
import type { BudgetPeriod, BudgetRecord, BudgetScope, KeyRecord, Store } from '../store/types.js';
import { periodAt } from './periods.js';

export interface BudgetDef {
  id: string;
  scope: BudgetScope;
  value: string | null;
  period: BudgetPeriod;
  limit: number;
  mode: 'hard' | 'soft';
  alertAt: number[];
  source: 'config' | 'store';
}

interface State {
  def: BudgetDef;
  start: number;
  end: number;
  spent: number;
  reserved: number;
  /** Thresholds already alerted in this period (mirrors alerts_sent). */
  alerted: Set<number>;
  exhaustedAlerted: boolean;
}

export type BudgetEvent =
  | { kind: 'budget_threshold'; budget: BudgetDef; threshold: number; spent: number; periodStart: number; resetsAt: number }
  | { kind: 'budget_exhausted'; budget: BudgetDef; spent: number; periodStart: number; resetsAt: number; user: string | null };

export interface Refusal {
  budget: BudgetDef;
  spent: number;
  reserved: number;
  resetsAt: number;
}

export interface Reservation {
  states: State[];
  amount: number;
  settled: boolean;
}

export function budgetId(scope: BudgetScope, value: string | null, period: BudgetPeriod): string {
  return 'bud_' + createHash('sha256').update(`${scope}\u0000${value ?? ''}\u0000${period}`).digest('hex').slice(0, 16);
}

export function describeBudget(b: Pick<BudgetDef, 'scope' | 'value' | 'period'>): string {
  const p = { day: 'daily', week: 'weekly', month: 'monthly', total: 'total' }[b.period];
  return b.scope === 'org' ? `the organisation's ${p} budget` : `the ${p} budget of ${b.scope} ${b.value}`;
}

function covers(d: BudgetDef, key: Pick<KeyRecord, 'id' | 'user' | 'team' | 'project'>): boolean {
  switch (d.scope) {
    case 'org': return true;
    case 'key': return d.value === key.id;
    case 'user': return d.value === key.user;
    case 'team': return d.value === key.team;
    case 'project': return d.value === key.project;
  }
}

export class BudgetEngine {
  private states: State[] = [];

  constructor(
    private readonly store: Store,
    private readonly configBudgets: BudgetDef[],
    private readonly tz: string,
    private readonly now: () => number,
    private readonly onEvent: (e: BudgetEvent) => void = () => {},
  ) {
    this.reload();
  }

  /** Re-reads budgets (config + store) and rebuilds spend from the ledger. */
  reload(): void {
    const fromStore: BudgetDef[] = this.store.listBudgets().map((b: BudgetRecord) => ({
      id: b.id, scope: b.scope, value: b.scope_value, period: b.period, limit: b.limit_nanousd, mode: b.mode, alertAt: b.alert_at, source: 'store',
    }));
    // A budget set from the CLI or admin API replaces a config one with the same scope and period.
    const ids = new Set(fromStore.map((b) => b.id));
    const defs = [...this.configBudgets.filter((b) => !ids.has(b.id)), ...fromStore];
    const old = new Map(this.states.map((s) => [s.def.id, s]));
    const t = this.now();
    this.states = defs.map((def) => {
      const w = periodAt(def.period, t, this.tz);
      const prev = old.get(def.id);
      return {
        def, start: w.start, end: w.end,
        spent: this.store.spend(def.scope, def.value, w.start, w.end === Infinity ? Number.MAX_SAFE_INTEGER : w.end),
        reserved: prev && prev.start === w.start ? prev.reserved : 0,
        alerted: prev && prev.start === w.start ? prev.alerted : new Set<number>(),
        exhaustedAlerted: prev && prev.start === w.start ? prev.exhaustedAlerted : false,
      };
    });
  }

  /** Moves a state into the period containing t; spend in a new period starts at zero. */
  private roll(s: State, t: number): void {
    if (t < s.end && t >= s.start) return;
    const w = periodAt(s.def.period, t, this.tz);
    s.start = w.start;
    s.end = w.end;
    s.spent = 0;
    s.alerted = new Set();
    s.exhaustedAlerted = false;
  }

  /** Admission: a refusal for the first exhausted hard budget, or a reservation. */
  admit(key: Pick<KeyRecord, 'id' | 'user' | 'team' | 'project'>, estimate: number): { ok: true; reservation: Reservation; warning: { utilization: number; resetsAt: number } | null } | { ok: false; refusal: Refusal } {
    const t = this.now();
    const mine: State[] = [];
    let warning: { utilization: number; resetsAt: number } | null = null;
    for (const s of this.states) {
      if (!covers(s.def, key)) continue;
      this.roll(s, t);
      mine.push(s);
      if (s.def.mode === 'hard' && s.spent + s.reserved >= s.def.limit) {
        if (!s.exhaustedAlerted) {
          s.exhaustedAlerted = true;
          this.onEvent({ kind: 'budget_exhausted', budget: s.def, spent: s.spent, periodStart: s.start, resetsAt: s.end, user: key.user });
        }
        return { ok: false, refusal: { budget: s.def, spent: s.spent, reserved: s.reserved, resetsAt: s.end } };
      }
      const u = s.spent / s.def.limit;
      const lowest = Math.min(...s.def.alertAt, 100) / 100;
      if (u >= lowest && (!warning || u > warning.utilization)) warning = { utilization: u, resetsAt: s.end };
    }
    for (const s of mine) s.reserved += estimate;
    return { ok: true, reservation: { states: mine, amount: estimate, settled: false }, warning };
  }

  /** Highest utilisation (spent / limit) among budgets covering a key, for policy rules. */
  utilization(key: Pick<KeyRecord, 'id' | 'user' | 'team' | 'project'>): number {
    const t = this.now();
    let u = 0;
    for (const s of this.states) {
      if (!covers(s.def, key)) continue;
      this.roll(s, t);
      u = Math.max(u, s.spent / s.def.limit);
    }
    return u;
  }

  /** Releases a reservation and books the exact cost of a request that started at `ts`. */
  settle(r: Reservation, cost: number, ts: number): void {
    if (r.settled) return;
    r.settled = true;
    for (const s of r.states) {
      s.reserved = Math.max(0, s.reserved - r.amount);
      this.roll(s, this.now());
      if (ts < s.start || ts >= s.end) continue;
      s.spent += cost;
      for (const th of s.def.alertAt) {
        if (s.alerted.has(th) || s.spent * 100 < s.def.limit * th) continue;
        s.alerted.add(th);
        // Once per budget, threshold and period, across restarts too.
        if (this.store.markAlertSent(s.def.id, s.start, th, this.now())) {
          this.onEvent({ kind: 'budget_threshold', budget: s.def, threshold: th, spent: s.spent, periodStart: s.start, resetsAt: s.end });
        }
      }
    }
  }

  /** Current figures for listings. */
  snapshot(): { def: BudgetDef; spent: number; reserved: number; start: number; end: number }[] {
    const t = this.now();
    return this.states.map((s) => {
      this.roll(s, t);
      return { def: s.def, spent: s.spent, reserved: s.reserved, start: s.start, end: s.end };
    });
  }
}

export function configBudgetDefs(list: { key?: string; user?: string; team?: string; project?: string; org?: true; period: BudgetPeriod; limit_usd: number; mode: 'hard' | 'soft'; alert_at: number[] }[]): BudgetDef[] {
  return list.map((b) => {
    const [scope, value]: [BudgetScope, string | null] = b.key !== undefined ? ['key', b.key] : b.user !== undefined ? ['user', b.user]
      : b.team !== undefined ? ['team', b.team] : b.project !== undefined ? ['project', b.project] : ['org', null];
    return { id: budgetId(scope, value, b.period), scope, value, period: b.period, limit: usdToNano(b.limit_usd), mode: b.mode, alertAt: b.alert_at, source: 'config' };
  });
}

/** USD (from config or the CLI) to integer nano-USD without float drift. */
export function usdToNano(usd: number | string): number {
  const s = typeof usd === 'number' ? usd.toFixed(9) : usd.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw new Error(`not an amount of USD: ${usd}`);
  const [i, f = ''] = s.split('.');
  return Number(BigInt(i as string) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9)));
}
