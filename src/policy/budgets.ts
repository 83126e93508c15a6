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
// Several replicas on one shared store (PostgreSQL) also hold claims: a replica admits a
// request against a hard budget only within its claim on the budget's headroom (its requests
// in flight + its spend not yet in the ledger + headroom for the next ones), and claims are
// granted atomically in the store within limit − settled spend − other replicas' claims. A
// database round trip happens only when a claim runs short (or, on the poll, to keep it), not
// per request. The last scraps of a budget (less than a request) go to one replica at a time,
// which may admit one request on them: so the bound below holds across any number of
// replicas, as for one process.
//
// Bound (docs/spend-control.md): when a budget runs out, the requests already in flight
// still finish, so the final spend is at most
//   limit + cost(last admitted request) + Σ over requests in flight of max(0, actual − reserved)
// and with reservations at least as large as actual costs, at most one request's cost over.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { StoreUnavailableError } from '../store/errors.js';
import type { BudgetClaimGrant, BudgetPeriod, BudgetRecord, BudgetScope, KeyRecord, Store } from '../store/types.js';
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
  /** With claims (replicas): what this replica holds of the headroom, until when, and its own
   * settled spend not yet seen in the ledger's tail. */
  claim: number;
  claimExpires: number;
  unshipped: number;
  lastEstimate: number;
  lastAdmit: number;
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
  /** The budget could not be checked: the shared store is unreachable and this replica's
   * claim does not cover the request (store.on_failure: closed). */
  unavailable?: string;
}

/** How long a claim lasts unless renewed (a replica that dies gives its claim back by then). */
export const CLAIM_TTL_MS = 10_000;

export interface Reservation {
  states: State[];
  amount: number;
  settled: boolean;
  /** The request's ledger line (its cost comes back in the tail under this id). */
  lineId?: string;
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

  /** Claims are held when the store is shared by replicas (it implements claimBudget). */
  private readonly claims: boolean;
  readonly replica = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly store: Store,
    private readonly configBudgets: BudgetDef[],
    private readonly tz: string,
    private readonly now: () => number,
    private readonly onEvent: (e: BudgetEvent) => void = () => {},
    /** While the shared store is unreachable and a claim does not cover a request: refuse
     * (closed) or admit on this replica's own figures (open). */
    private readonly onStoreFailure: 'closed' | 'open' = 'closed',
  ) {
    this.claims = typeof store.claimBudget === 'function';
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
      const s: State = {
        ...{ def, start: w.start, end: w.end, spent: 0, reserved: 0, alerted: new Set<number>(), exhaustedAlerted: false, asOf: 0 },
        ...{ claim: 0, claimExpires: 0, unshipped: 0, lastEstimate: 0, lastAdmit: 0 },
      };
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
    this.followTail(t);
    if (this.claims) this.keepClaims(t);
  }

  /** Applies the lines committed since the cursor (up to `upTo` if given): others' spend, and
   * our own lines arriving. */
  private followTail(t: number, upTo = Infinity): void {
    for (;;) {
      const lines = this.store.ledgerTail(this.cursor, TAIL_BATCH);
      for (const l of lines) {
        if (l.seq > upTo) return;
        this.cursor = l.seq;
        if (this.own.delete(l.id)) {
          // Our own line reached the ledger: its cost is in the settled spend claims are
          // granted against, no longer ours to hold.
          if (this.claims && l.cost_nanousd) for (const s of this.covering(l.key_id, l)) s.unshipped = Math.max(0, s.unshipped - l.cost_nanousd);
          continue;
        }
        if (l.cost_nanousd === 0) continue;
        for (const s of this.covering(l.key_id, l)) {
          if (l.seq <= s.asOf) continue;
          this.roll(s, t);
          if (l.ts >= s.start && l.ts < s.end) this.book(s, l.cost_nanousd);
        }
      }
      if (lines.length < TAIL_BATCH) break;
    }
  }

  /** Renews claims about to expire (keeping headroom while requests come), and gives back
   * those idle for a while, so other replicas can use them. */
  private keepClaims(t: number): void {
    for (const s of this.states) {
      if (s.def.mode !== 'hard' || s.claim === 0 || s.claimExpires - t > CLAIM_TTL_MS / 2) continue;
      const idle = s.reserved === 0 && s.unshipped === 0 && t - s.lastAdmit > CLAIM_TTL_MS;
      try {
        this.claim(s, idle ? 0 : s.reserved + s.unshipped + this.headroom(s, s.lastEstimate), t);
      } catch {
        // Unreachable: the claim stays good here until it expires; admission decides then.
      }
    }
  }

  private headroom(s: State, estimate: number): number {
    return Math.max(2 * estimate, Math.floor(s.def.limit / 20));
  }

  private claim(s: State, want: number, t: number): BudgetClaimGrant {
    const g = this.store.claimBudget!({
      budgetId: s.def.id,
      scope: s.def.scope,
      value: s.def.value,
      periodStart: s.start,
      periodEnd: s.end === Infinity ? Number.MAX_SAFE_INTEGER : s.end,
      limit: s.def.limit,
      replica: this.replica,
      want,
      now: t,
      ttlMs: CLAIM_TTL_MS,
    });
    s.claim = g.granted;
    s.claimExpires = t + CLAIM_TTL_MS;
    return g;
  }

  /** Admission under claims: null when this replica's claim (renewed if short) covers the
   * request, else why not. */
  private claimCovers(s: State, estimate: number, t: number): Refusal | null {
    if (s.reserved + s.unshipped + estimate <= s.claim && t < s.claimExpires) return null;
    let g: BudgetClaimGrant;
    let need = s.reserved + s.unshipped + estimate;
    try {
      // Our lines written since the last poll are in the settled spend the claim is granted
      // against: take them out of what we hold first, or they would count twice. Lines of ours
      // shipped meanwhile (the spool ships in the background) are followed after the grant, up
      // to the commit sequence its figure is current to — no further: a line past it is not in
      // that figure and still ours to hold.
      this.followTail(t);
      need = s.reserved + s.unshipped + estimate;
      g = this.claim(s, need + this.headroom(s, estimate), t);
      this.followTail(t, g.asOf);
      need = s.reserved + s.unshipped + estimate;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (this.onStoreFailure === 'open' || (need <= s.claim && t < s.claimExpires)) return null;
      return { budget: s.def, spent: s.spent, reserved: s.reserved, resetsAt: s.end, unavailable: err.reason };
    }
    if (need <= g.granted) return null;
    // The last scraps of the budget, all held here (no other replica can have any): one more
    // request on them, as one process admits one while spent + reserved < limit.
    if (g.final && g.granted - s.reserved - s.unshipped > 0) return null;
    return { budget: s.def, spent: Math.max(s.spent, g.spent), reserved: s.reserved + g.others, resetsAt: s.end };
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
    // Claims are per period; own spend of the old period no longer counts against the new one.
    s.claim = 0;
    s.claimExpires = 0;
    s.unshipped = 0;
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
    if (this.claims) {
      for (const s of mine) {
        if (s.def.mode !== 'hard') continue;
        s.lastEstimate = estimate;
        s.lastAdmit = t;
        const refusal = this.claimCovers(s, estimate, t);
        if (refusal) return { ok: false, refusal };
      }
    }
    for (const s of mine) s.reserved += estimate;
    if (lineId !== undefined && this.own.size < MAX_OWN) this.own.add(lineId);
    return { ok: true, reservation: { states: mine, amount: estimate, settled: false, lineId: this.own.has(lineId ?? '') ? lineId : undefined }, warning };
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
      // Until the line is seen in the ledger's tail, its cost is part of this replica's claim.
      if (this.claims && r.lineId !== undefined && cost > 0) s.unshipped += cost;
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
