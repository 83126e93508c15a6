// The budget engine against a real store: spend read once per budget, moved by its own settled
// lines and by other processes' lines from the ledger tail (each once), budgets indexed by scope.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite/index.js';
import type { LedgerLine, Store } from '../store/types.js';
import { BudgetEngine, budgetId, type BudgetDef } from './budgets.js';
import { ledgerLine } from '../../test/helpers/store-conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-budgets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const NOW = Date.UTC(2026, 10, 18, 12, 0, 0);

function line(id: string, user: string, team: string | null, cost: number, ts = NOW - 60_000): LedgerLine {
  return ledgerLine({ id, ts, key_id: `key_${user}`, user, team, cost_nanousd: cost });
}

/** Counts the store calls that read spend from the ledger or rollups. */
function counting(s: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const store = new Proxy(s, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (prop === 'spend' || prop === 'spendGroups') reads++;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store, reads: () => reads };
}

const def = (scope: BudgetDef['scope'], value: string | null, limit: number): BudgetDef => ({
  id: budgetId(scope, value, 'month'),
  scope,
  value,
  period: 'month',
  limit,
  mode: 'hard',
  alertAt: [],
  source: 'config',
});

describe('budget engine', () => {
  it("reads spend once per budget; other processes' lines arrive from the tail once, its own never twice", () => {
    const file = join(dir, `b${n++}.db`);
    const gw = new SqliteStore(file);
    const cli = new SqliteStore(file);
    try {
      gw.writeBatch([line('old1', 'ann', 'web', 100), line('old2', 'ben', 'web', 50)], new Map());
      const { store, reads } = counting(gw);
      const e = new BudgetEngine(store, [def('user', 'ann', 1000), def('team', 'web', 1000), def('key', 'key_ann', 1000)], 'UTC', () => NOW);
      const spent = () => Object.fromEntries(e.snapshot().map((s) => [`${s.def.scope}:${s.def.value}`, s.spent]));
      assert.deepEqual(spent(), { 'user:ann': 100, 'team:web': 150, 'key:key_ann': 100 });
      const afterStart = reads();
      // Its own request: admitted, settled, then committed — the tail skips it.
      const ann = { id: 'key_ann', user: 'ann', team: 'web', project: null };
      const a = e.admit(ann, 10, 'own1');
      assert.ok(a.ok);
      e.settle(a.reservation, 30, NOW);
      gw.writeBatch([line('own1', 'ann', 'web', 30)], new Map());
      // Another process's line (a second gateway), and an import that is not ledger spend.
      cli.writeBatch([line('other1', 'ann', 'web', 7)], new Map());
      e.poll();
      e.poll();
      assert.deepEqual(spent(), { 'user:ann': 137, 'team:web': 187, 'key:key_ann': 137 });
      assert.equal(reads(), afterStart, 'no spend re-read for a commit by another process');
      // A new budget from the CLI: only it reads its spend; the others keep theirs.
      cli.upsertBudget({
        id: budgetId('user', 'ben', 'month'),
        scope: 'user',
        scope_value: 'ben',
        period: 'month',
        limit_nanousd: 60,
        mode: 'hard',
        alert_at: [],
        created_at: NOW,
        updated_at: NOW,
      });
      e.poll();
      assert.equal(reads(), afterStart + 1);
      assert.deepEqual(spent(), { 'user:ann': 137, 'team:web': 187, 'key:key_ann': 137, 'user:ben': 50 });
      // A limit changed elsewhere applies at the next poll, spend kept.
      cli.upsertBudget({
        id: budgetId('user', 'ben', 'month'),
        scope: 'user',
        scope_value: 'ben',
        period: 'month',
        limit_nanousd: 40,
        mode: 'hard',
        alert_at: [],
        created_at: NOW,
        updated_at: NOW + 1,
      });
      e.poll();
      assert.equal(reads(), afterStart + 1);
      const ben = e.admit({ id: 'key_ben', user: 'ben', team: 'web', project: null }, 1);
      assert.equal(ben.ok, false, 'ben is over his new limit');
    } finally {
      cli.close();
      gw.close();
    }
  });

  it('reads many new budgets in one pass per period, each exact', () => {
    const file = join(dir, `b${n++}.db`);
    const s = new SqliteStore(file);
    try {
      const lines: LedgerLine[] = [];
      for (let i = 0; i < 300; i++) lines.push(line(`l${i}`, `u${i % 30}`, `t${i % 7}`, i + 1, NOW - (i % 50) * 3_600_000));
      s.writeBatch(lines, new Map());
      const defs = [
        ...Array.from({ length: 30 }, (_, i) => def('user', `u${i}`, 1e12)),
        ...Array.from({ length: 7 }, (_, i) => def('team', `t${i}`, 1e12)),
        def('org', null, 1e12),
      ];
      const { store, reads } = counting(s);
      const e = new BudgetEngine(store, defs, 'UTC', () => NOW);
      assert.equal(reads(), 1, 'one pass for 38 monthly budgets');
      const monthStart = Date.UTC(2026, 10, 1);
      for (const b of e.snapshot()) {
        const want = lines
          .filter((l) => l.ts >= monthStart && (b.def.scope === 'org' || (b.def.scope === 'user' ? l.user : l.team) === b.def.value))
          .reduce((a, l) => a + l.cost_nanousd, 0);
        assert.equal(b.spent, want, `${b.def.scope} ${b.def.value}`);
      }
    } finally {
      s.close();
    }
  });

  it('a request is checked against its own budgets only, however many there are', () => {
    const file = join(dir, `b${n++}.db`);
    const s = new SqliteStore(file);
    try {
      const defs = Array.from({ length: 1000 }, (_, i) => def('user', `u${i}`, 1000));
      const e = new BudgetEngine(s, [...defs, def('team', 'web', 1000)], 'UTC', () => NOW);
      const a = e.admit({ id: 'k', user: 'u7', team: 'web', project: null }, 5);
      assert.ok(a.ok);
      assert.deepEqual(a.reservation.states.length, 2, 'u7 and team web, not 1,001 budgets');
    } finally {
      s.close();
    }
  });
});
