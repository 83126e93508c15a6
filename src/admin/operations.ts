// Changes to keys and budgets, shared by the CLI (local store) and the admin API, each written
// to the audit log with who made it.
import { mintKey } from '../identity/keys.js';
import { budgetFromRecord, budgetId, usdToNano } from '../policy/budgets.js';
import { periodAt } from '../policy/periods.js';
import { formatUsd, nanoToUsd } from '../metering/prices.js';
import type { BudgetPeriod, BudgetRecord, BudgetScope, KeyRecord, Store } from '../store/types.js';

export class OperationError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

function checkName(what: string, v: string | null | undefined): void {
  if (v !== undefined && v !== null && !NAME.test(v)) throw new OperationError(`${what} "${v}": use letters, digits and . _ @ + - (at most 128 characters)`);
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** When a new key expires: an ISO date or time, or a span from now (90d, 12h); null: never. */
export function expiry(v: unknown, now: number): number | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new OperationError('expires: a date (2027-03-31), a time, or a span such as 90d');
  const span = /^(\d+)\s*([hdw])$/.exec(v.trim());
  const at = span ? now + Number(span[1]) * { h: 3_600_000, d: 86_400_000, w: 604_800_000 }[span[2] as 'h' | 'd' | 'w'] : Date.parse(v);
  if (!Number.isFinite(at)) throw new OperationError(`expires "${v}": a date (2027-03-31), a time, or a span such as 90d`);
  if (at <= now) throw new OperationError(`expires "${v}": that is not in the future`);
  return at;
}

export function keyView(k: KeyRecord): Record<string, unknown> {
  return {
    id: k.id,
    prefix: k.prefix,
    name: k.name,
    user: k.user,
    team: k.team,
    project: k.project,
    created: iso(k.created_at),
    last_used: iso(k.last_used_at),
    revoked: iso(k.revoked_at),
    expires: iso(k.expires_at ?? null),
  };
}

export class Operations {
  constructor(
    private readonly store: Store,
    private readonly actor: string,
    private readonly now: () => number = Date.now,
  ) {}

  private audit(action: string, target: string | null, details: Record<string, unknown> | null): void {
    this.store.appendAudit({ ts: this.now(), actor: this.actor, action, target, details });
  }

  createKey(input: { user?: unknown; team?: unknown; project?: unknown; name?: unknown; expires?: unknown }): { secret: string; record: KeyRecord } {
    const str = (v: unknown, what: string): string | undefined => {
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string') throw new OperationError(`${what}: expected a string`);
      return v;
    };
    const user = str(input.user, 'user');
    if (!user) throw new OperationError('user: required');
    const team = str(input.team, 'team');
    const project = str(input.project, 'project');
    const name = str(input.name, 'name');
    checkName('user', user);
    checkName('team', team);
    checkName('project', project);
    if (name !== undefined && (name.length > 200 || [...name].some((c) => c.charCodeAt(0) < 0x20)))
      throw new OperationError('name: at most 200 printable characters');
    const expiresAt = expiry(input.expires, this.now());
    const k = mintKey({ user, team, project, name, expiresAt }, this.now());
    this.store.insertKey(k.record);
    this.audit('key.create', k.record.id, { user, team: team ?? null, project: project ?? null, name: name ?? null, expires: iso(expiresAt) });
    return k;
  }

  revokeKey(id: string): { record: KeyRecord; already: boolean } {
    const k = this.store.findKey(id);
    if (!k) throw new OperationError(`no key with id ${id}`, 404);
    if (k.revoked_at !== null) return { record: k, already: true };
    this.store.revokeKey(id, this.now());
    this.audit('key.revoke', id, { user: k.user });
    return { record: this.store.findKey(id) as KeyRecord, already: false };
  }

  setBudget(input: { scope?: unknown; value?: unknown; period?: unknown; limit_usd?: unknown; mode?: unknown; alert_at?: unknown }): BudgetRecord {
    const scope = input.scope as BudgetScope;
    if (!['key', 'user', 'team', 'project', 'org'].includes(String(scope))) throw new OperationError('scope: one of key, user, team, project, org');
    const value = scope === 'org' ? null : input.value;
    if (scope !== 'org' && (typeof value !== 'string' || !value)) throw new OperationError(`${scope}: a value is required`);
    if (typeof value === 'string') checkName(scope, value);
    const period = input.period as BudgetPeriod;
    if (!['day', 'week', 'month', 'total'].includes(String(period))) throw new OperationError('period: one of day, week, month, total');
    const limit = typeof input.limit_usd === 'number' || typeof input.limit_usd === 'string' ? input.limit_usd : undefined;
    let nano: number;
    try {
      nano = usdToNano(limit ?? '');
    } catch {
      throw new OperationError(`limit: expected an amount of USD such as 250 or 12.50, got ${JSON.stringify(input.limit_usd)}`);
    }
    if (nano <= 0) throw new OperationError('limit: must be more than 0');
    const mode = input.mode ?? 'hard';
    if (mode !== 'hard' && mode !== 'soft') throw new OperationError('mode: hard or soft');
    const alertAt = input.alert_at ?? [50, 80, 100];
    if (!Array.isArray(alertAt) || !alertAt.every((n) => Number.isInteger(n) && n >= 1 && n <= 1000))
      throw new OperationError('alert_at: percentages such as 50,80,100');
    const t = this.now();
    const rec: BudgetRecord = {
      id: budgetId(scope, value as string | null, period),
      scope,
      scope_value: value as string | null,
      period,
      limit_nanousd: nano,
      mode,
      alert_at: [...new Set(alertAt as number[])].sort((a, b) => a - b),
      created_at: t,
      updated_at: t,
    };
    this.store.upsertBudget(rec);
    this.audit('budget.set', rec.id, { scope, value, period, limit_usd: formatUsd(nano, 2), mode, alert_at: rec.alert_at });
    return rec;
  }

  removeBudget(input: { scope?: unknown; value?: unknown; period?: unknown }): number {
    const scope = input.scope as BudgetScope;
    if (!['key', 'user', 'team', 'project', 'org'].includes(String(scope))) throw new OperationError('scope: one of key, user, team, project, org');
    const value = scope === 'org' ? null : typeof input.value === 'string' ? input.value : null;
    if (scope !== 'org' && !value) throw new OperationError(`${scope}: a value is required`);
    const period = input.period === undefined ? undefined : (input.period as BudgetPeriod);
    if (period !== undefined && !['day', 'week', 'month', 'total'].includes(period)) throw new OperationError('period: one of day, week, month, total');
    const n = this.store.removeBudget(scope, value, period);
    if (n === 0)
      throw new OperationError(
        `no budget for ${scope}${value ? ` ${value}` : ''}${period ? ` (${period})` : ''} set from the CLI or admin API (config budgets are changed in the config file)`,
        404,
      );
    this.audit('budget.remove', `${scope}:${value ?? ''}:${period ?? '*'}`, { scope, value, period: period ?? null, removed: n });
    return n;
  }
}

/** Budgets with their current figures, for `budgets list` and GET /admin/budgets. */
export function budgetRows(
  store: Store,
  configBudgets: { id: string; scope: BudgetScope; value: string | null; period: BudgetPeriod; limit: number; mode: 'hard' | 'soft'; alertAt: number[] }[],
  tz: string,
  now: number,
): Record<string, unknown>[] {
  const stored = store.listBudgets();
  const ids = new Set(stored.map((b) => b.id));
  const all = [
    ...configBudgets.filter((b) => !ids.has(b.id)).map((b) => ({ ...b, source: 'config' })),
    // Listed as set from the CLI (or the admin API), beside those from the config file.
    ...stored.map((b) => ({ ...budgetFromRecord(b, 'store'), source: 'cli' })),
  ];
  return all.map((b) => {
    const w = periodAt(b.period, now, tz);
    const spent = store.spend(b.scope, b.value, w.start, Number.isFinite(w.end) ? w.end : Number.MAX_SAFE_INTEGER);
    const state = spent >= b.limit ? (b.mode === 'hard' ? 'exhausted' : 'over (soft)') : b.alertAt.some((a) => spent * 100 >= b.limit * a) ? 'warning' : 'ok';
    return {
      id: b.id,
      scope: b.scope,
      value: b.value,
      period: b.period,
      mode: b.mode,
      limit_usd: nanoToUsd(b.limit),
      spent_usd: nanoToUsd(spent),
      remaining_usd: nanoToUsd(Math.max(0, b.limit - spent)),
      resets_at: Number.isFinite(w.end) ? new Date(w.end).toISOString() : null,
      state,
      alert_at: b.alertAt,
      source: b.source,
    };
  });
}
