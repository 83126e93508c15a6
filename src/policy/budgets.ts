// Budgets enforced before money is spent. Each budget keeps, in memory, the settled spend of
// its current period and the reservations of requests in flight. A request is admitted while
// every hard budget covering it has spent + reserved < limit; it then reserves an estimate,
// settled to the exact cost when its ledger line is written.
//
// Spend is never re-summed from the ledger on a change. A budget's spend is read once, when it
// appears (from the rollups, in one pass for many budgets), together with the ledger's commit
// sequence at that moment; from then on it moves by this process's own settled lines and by
// the lines other processes commit (read from the ledger's tail, each line once, by sequence).
// Budgets are indexed by scope, so a request checks only the budgets that cover it.
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
  /** The ledger's commit sequence the spend was read at: later lines of other processes are
   * added from the tail, earlier ones are in it already. */
  asOf: number;
}

type Who = Pick<KeyRecord, 'id' | 'user' | 'team' | 'project'>;

const slot = (scope: BudgetScope, value: string | null) => `${scope}\u0000${value ?? ''}`;

/** New budgets whose spend is read one by one; more are read in one pass per period. */
const ONE_BY_ONE = 8;
/** Ledger lines read from the tail per query. */
const TAIL_BATCH = 5000;
/** Own line ids remembered at most (a line that never reaches the store would stay forever). */
const MAX_OWN = 200_000;

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
  return (
    'bud_' +
    createHash('sha256')
      .update(`${scope}\u0000${value ?? ''}\u0000${period}`)
      .digest('hex')
      .slice(0, 16)
  );
}

export function describeBudget(b: Pick<BudgetDef, 'scope' | 'value' | 'period'>): string {
  const p = { day: 'daily', week: 'weekly', month: 'monthly', total: 'total' }[b.period];
  return b.scope === 'org' ? `the organisation's ${p} budget` : `the ${p} budget of ${b.scope} ${b.value}`;
}

export class BudgetEngine {
  private states: State[] = [];
  /** States by scope and value ("org" has one slot). */
  private index = new Map<string, State[]>();
  /** The last ledger line (commit sequence) applied from the tail. */
  private cursor = 0;
  /** Ledger ids of this process's admitted requests: settled here, skipped in the tail. */
  private readonly own = new Set<string>();
  private version = -1;

  constructor(
    private readonly store: Store,
    private readonly configBudgets: BudgetDef[],
    private readonly tz: string,
    private readonly now: () => number,
    private readonly onEvent: (e: BudgetEvent) => void = () => {},
  ) {
    this.cursor = store.ledgerHead();
    this.reload();
  }

  /** Re-reads the budget definitions (config + store). Budgets already known keep their spend
   * and reservations; only new ones read theirs. */
  reload(): void {
    // A version below 0: the store has not been reachable yet (a replica started while its
    // database was down). Once it is, every budget's spend is read afresh, and the tail is
    // followed from the ledger's head then (not replayed from the beginning).
    const v = this.store.versions().budgets;
    const recovering = this.version < 0 && v >= 0 && this.states.length > 0;
    this.version = v;
    if (recovering) {
      this.cursor = this.store.ledgerHead();
      this.states = [];
    }
    const fromStore = this.store.listBudgets().map((b) => budgetFromRecord(b, 'store'));
    // A budget set from the CLI or admin API replaces a config one with the same scope and period.
    const ids = new Set(fromStore.map((b) => b.id));
    const defs = [...this.configBudgets.filter((b) => !ids.has(b.id)), ...fromStore];
    const old = new Map(this.states.map((s) => [s.def.id, s]));
    const t = this.now();
    const fresh: State[] = [];
    this.states = defs.map((def) => {
      const prev = old.get(def.id);
      if (prev) {
        // The id is the scope, value and period: only the limit, mode or thresholds changed.
        prev.def = def;
        this.roll(prev, t);
        return prev;
      }
      const w = periodAt(def.period, t, this.tz);
      const s: State = { def, start: w.start, end: w.end, spent: 0, reserved: 0, alerted: new Set(), exhaustedAlerted: false, asOf: 0 };
      fresh.push(s);
      return s;
    });
    if (fresh.length) this.read(fresh);
    this.index = new Map();
    for (const s of this.states) {
      const k = slot(s.def.scope, s.def.value);
      const list = this.index.get(k);
      if (list) list.push(s);
      else this.index.set(k, [s]);
    }
  }

  /** Settled spend of new budgets, read with the commit sequence it is current to. */
  private read(fresh: State[]): void {
    const end = (s: State) => (s.end === Infinity ? Number.MAX_SAFE_INTEGER : s.end);
    this.store.readSnapshot(() => {
      const head = this.store.ledgerHead();
      if (fresh.length <= ONE_BY_ONE) {
        for (const s of fresh) s.spent = this.store.spend(s.def.scope, s.def.value, s.start, end(s));
      } else {
        const windows = new Map<string, State[]>();
        for (const s of fresh) {
          const k = `${s.start}:${end(s)}`;
          (windows.get(k) ?? windows.set(k, []).get(k)!).push(s);
        }
        for (const list of windows.values()) {
          const first = list[0] as State;
          const sums = new Map<string, number>();
          for (const g of this.store.spendGroups(first.start, end(first))) {
            for (const k of [slot('key', g.key_id), slot('user', g.user), slot('team', g.team), slot('project', g.project), slot('org', null)]) {
              sums.set(k, (sums.get(k) ?? 0) + g.cost_nanousd);
            }
          }
          for (const s of list) s.spent = s.def.scope !== 'org' && s.def.value === null ? 0 : (sums.get(slot(s.def.scope, s.def.value)) ?? 0);
        }
      }
      for (const s of fresh) s.asOf = head;
    });
  }

  /** The budgets covering a request: its key, user, team, project and the organisation. */
  private covering(keyId: string | null, who: { user: string | null; team: string | null; project: string | null }): State[] {
    const out: State[] = [];
    const add = (k: string) => {
      const list = this.index.get(k);
      if (list) for (const s of list) out.push(s);
    };
    if (keyId !== null) add(slot('key', keyId));
    if (who.user !== null) add(slot('user', who.user));
    if (who.team !== null) add(slot('team', who.team));
    if (who.project !== null) add(slot('project', who.project));
    add(slot('org', null));
    return out;
  }

  /**
   * Picks up what other processes did: budget definitions changed (CLI, admin API, another
   * gateway) and the spend of the lines they committed. Cheap when nothing changed: one
   * counter read and one indexed range read of the ledger's tail.
   */
  poll(): void {
    if (this.store.versions().budgets !== this.version) this.reload();
    const t = this.now();
    for (;;) {
      const lines = this.store.ledgerTail(this.cursor, TAIL_BATCH);
      for (const l of lines) {
        this.cursor = l.seq;
        if (this.own.delete(l.id) || l.cost_nanousd === 0) continue;
        for (const s of this.covering(l.key_id, l)) {
          if (l.seq <= s.asOf) continue;
          this.roll(s, t);
          if (l.ts >= s.start && l.ts < s.end) this.book(s, l.cost_nanousd);
        }
      }
      if (lines.length < TAIL_BATCH) break;
    }
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

  /** Admission: a refusal for the first exhausted hard budget, or a reservation. `lineId`: the
   * request's ledger line, settled here and so skipped when it comes back in the tail. */
  admit(
    key: Who,
    estimate: number,
    lineId?: string,
  ): { ok: true; reservation: Reservation; warning: { utilization: number; resetsAt: number } | null } | { ok: false; refusal: Refusal } {
    const t = this.now();
    const mine = this.covering(key.id, key);
    let warning: { utilization: number; resetsAt: number } | null = null;
    for (const s of mine) {
      this.roll(s, t);
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
    if (lineId !== undefined && this.own.size < MAX_OWN) this.own.add(lineId);
    return { ok: true, reservation: { states: mine, amount: estimate, settled: false }, warning };
  }

  /** Highest utilisation (spent / limit) among budgets covering a key, for policy rules. */
  utilization(key: Who): number {
    const t = this.now();
    let u = 0;
    for (const s of this.covering(key.id, key)) {
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
      this.book(s, cost);
    }
  }

  /** Adds settled spend and sends the thresholds it crosses. */
  private book(s: State, cost: number): void {
    s.spent += cost;
    for (const th of s.def.alertAt) {
      if (s.alerted.has(th) || s.spent * 100 < s.def.limit * th) continue;
      s.alerted.add(th);
      // Once per budget, threshold and period, across restarts and processes too.
      if (this.store.markAlertSent(s.def.id, s.start, th, this.now())) {
        this.onEvent({ kind: 'budget_threshold', budget: s.def, threshold: th, spent: s.spent, periodStart: s.start, resetsAt: s.end });
      }
    }
  }

  /** The hard budgets (caps) covering an identity, with their spend in the current period. */
  caps(key: Who): { def: BudgetDef; spent: number; start: number; end: number }[] {
    const t = this.now();
    return this.covering(key.id, key)
      .filter((s) => s.def.mode === 'hard')
      .map((s) => {
        this.roll(s, t);
        return { def: s.def, spent: s.spent, start: s.start, end: s.end };
      });
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

/** A budget as stored (set from the CLI or admin API) in the engine's terms. */
export function budgetFromRecord(b: BudgetRecord, source: BudgetDef['source']): BudgetDef {
  return { id: b.id, scope: b.scope, value: b.scope_value, period: b.period, limit: b.limit_nanousd, mode: b.mode, alertAt: b.alert_at, source };
}

export function configBudgetDefs(
  list: {
    key?: string;
    user?: string;
    team?: string;
    project?: string;
    org?: true;
    period: BudgetPeriod;
    limit_usd: number;
    mode: 'hard' | 'soft';
    alert_at: number[];
  }[],
): BudgetDef[] {
  return list.map((b) => {
    const [scope, value]: [BudgetScope, string | null] =
      b.key !== undefined
        ? ['key', b.key]
        : b.user !== undefined
          ? ['user', b.user]
          : b.team !== undefined
            ? ['team', b.team]
            : b.project !== undefined
              ? ['project', b.project]
              : ['org', null];
    return {
      id: budgetId(scope, value, b.period),
      scope,
      value,
      period: b.period,
      limit: usdToNano(b.limit_usd),
      mode: b.mode,
      alertAt: b.alert_at,
      source: 'config',
    };
  });
}

/** USD (from config or the CLI) to integer nano-USD without float drift. */
export function usdToNano(usd: number | string): number {
  const s = typeof usd === 'number' ? usd.toFixed(9) : usd.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw new Error(`not an amount of USD: ${usd}`);
  const [i, f = ''] = s.split('.');
  return Number(BigInt(i as string) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9)));
}
