// The Store contract, as tests any implementation must pass: the embedded SQLite store runs it
// (test/store.test.ts); a PostgreSQL store will run the same suite. `open` opens the store at a
// fixed location (so reopening is a restart); `fresh` starts an empty one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rng } from '../../src/reports/seed.js';
import { DAY_MS, HOUR_MS } from '../../src/store/segments.js';
import { REPORT_DIMENSIONS, REPORT_TOTALS, type LedgerLine, type ReportDimension, type ReportRow, type Store } from '../../src/store/types.js';

export { rng };

export interface StoreFactory {
  /** Makes the next open() start from an empty store. */
  fresh(): void | Promise<void>;
  open(): Store;
}

export function ledgerLine(p: Partial<LedgerLine> & { id: string; ts: number }): LedgerLine {
  return {
    key_id: 'key_x',
    user: null,
    team: null,
    project: null,
    session_id: null,
    endpoint: 'messages',
    model_requested: null,
    model_served: null,
    upstream: 'anthropic',
    route: 'anthropic',
    region: null,
    http_status: 200,
    error_type: null,
    error_code: null,
    stop_reason: 'end_turn',
    streamed: true,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_5m_input_tokens: 0,
    cache_creation_1h_input_tokens: 0,
    web_search_requests: 0,
    web_fetch_requests: 0,
    cost_nanousd: 0,
    priced: true,
    ttfb_ms: 1,
    duration_ms: 2,
    client_aborted: false,
    upstream_request_id: null,
    message_id: null,
    upstream_model: null,
    endpoint_type: null,
    attempts: [],
    ...p,
  };
}

const START = Date.UTC(2026, 9, 26, 7, 13, 0);

/** Random lines over ~12 days at unaligned times: several users, teams (some none), models,
 * routes, errors, unpriced lines and both endpoints. */
export function randomLines(r: () => number, n: number, prefix: string): LedgerLine[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const out: LedgerLine[] = [];
  for (let i = 0; i < n; i++) {
    const user = pick(['ann', 'ben', 'cy', 'dee']);
    const err = r() < 0.1;
    out.push(
      ledgerLine({
        id: `${prefix}${i}`,
        ts: START + Math.floor(r() * 12 * DAY_MS),
        key_id: `key_${user}${r() < 0.2 ? '2' : ''}`,
        user,
        team: pick(['web', 'data', null]),
        project: pick(['p1', 'p2', null]),
        session_id: `s${Math.floor(r() * 20)}`,
        endpoint: r() < 0.1 ? 'count_tokens' : 'messages',
        model_served: err ? null : pick(['claude-opus-5-5', 'claude-haiku-4-5']),
        model_requested: pick(['claude-opus-5-5', 'claude-haiku-4-5', 'claude-sonnet-4-6']),
        route: pick(['anthropic', 'bedrock', null]),
        upstream: pick(['anthropic', 'bedrock-eu']),
        region: pick([null, 'eu-west-1']),
        http_status: err ? pick([429, 500, 529]) : 200,
        input_tokens: Math.floor(r() * 5000),
        output_tokens: Math.floor(r() * 2000),
        cache_read_input_tokens: Math.floor(r() * 90000),
        cache_creation_5m_input_tokens: Math.floor(r() * 9000),
        cache_creation_1h_input_tokens: r() < 0.3 ? Math.floor(r() * 9000) : 0,
        web_search_requests: r() < 0.05 ? 1 : 0,
        cost_nanousd: Math.floor(r() * 3e9),
        priced: r() > 0.05,
      }),
    );
  }
  return out;
}

const MEASURES = REPORT_TOTALS;

function dimValue(l: LedgerLine, d: ReportDimension): string | null {
  const iso = new Date(l.ts).toISOString();
  switch (d) {
    case 'key':
      return l.key_id;
    case 'session':
      return l.session_id;
    case 'model':
      return l.model_served ?? l.model_requested;
    case 'day':
      return iso.slice(0, 10);
    case 'month':
      return iso.slice(0, 7);
    case 'week': {
      const x = new Date(l.ts);
      return new Date(Date.UTC(x.getUTCFullYear(), x.getUTCMonth(), x.getUTCDate() - ((x.getUTCDay() + 6) % 7))).toISOString().slice(0, 10);
    }
    default:
      return l[d];
  }
}

/** The report recomputed from lines in memory: what the store must answer. */
export function recompute(
  lines: LedgerLine[],
  by: ReportDimension[],
  since: number,
  until: number,
  filter: { user?: string; endpoint?: string } = {},
): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const l of lines) {
    if (l.ts < since || l.ts >= until) continue;
    if (filter.user !== undefined && l.user !== filter.user) continue;
    if (filter.endpoint !== undefined && l.endpoint !== filter.endpoint) continue;
    const k = JSON.stringify(by.map((d) => dimValue(l, d)));
    const t = out.get(k) ?? out.set(k, Object.fromEntries(MEASURES.map((m) => [m, 0]))).get(k)!;
    t.requests! += 1;
    t.unpriced_requests! += l.priced ? 0 : 1;
    for (const m of MEASURES) if (m !== 'requests' && m !== 'unpriced_requests') t[m]! += l[m];
  }
  return out;
}

function asMap(rows: ReportRow[], by: ReportDimension[]): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const r of rows) {
    if (Number(r.requests ?? 0) === 0) continue;
    out.set(JSON.stringify(by.map((d) => r[d] ?? null)), Object.fromEntries(MEASURES.map((m) => [m, Number(r[m] ?? 0)])));
  }
  return out;
}

export function assertReportsMatch(store: Store, lines: LedgerLine[], r: () => number, rounds: number, note: string): void {
  const lo = START - DAY_MS;
  const hi = START + 14 * DAY_MS;
  for (let i = 0; i < rounds; i++) {
    const dims = REPORT_DIMENSIONS.filter(() => r() < 0.25).slice(0, 3);
    // Ranges of every shape: unaligned, hour-aligned, day-aligned, open-ended, empty.
    const kind = Math.floor(r() * 5);
    let since = lo + Math.floor(r() * (hi - lo));
    let until = since + Math.floor(r() * 6 * DAY_MS);
    if (kind === 1) {
      since = Math.floor(since / HOUR_MS) * HOUR_MS;
      until = Math.floor(until / HOUR_MS) * HOUR_MS;
    }
    if (kind === 2) {
      since = Math.floor(since / DAY_MS) * DAY_MS;
      until = Math.ceil(until / DAY_MS) * DAY_MS;
    }
    if (kind === 3) {
      since = 0;
      until = Number.MAX_SAFE_INTEGER;
    }
    const user = r() < 0.3 ? 'ben' : undefined;
    const got = asMap(store.report(dims, { since: kind === 3 ? undefined : since, until: kind === 3 ? undefined : until, user }), dims);
    const want = recompute(lines, dims, since, until, { user });
    assert.deepEqual(
      got,
      want,
      `${note}: report by [${dims.join(',')}] over [${new Date(since).toISOString()}, ${until === Number.MAX_SAFE_INTEGER ? '∞' : new Date(until).toISOString()})${user ? ' user ben' : ''}`,
    );
  }
}

export function storeConformance(name: string, f: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    it('keys: insert, find by hash and id, revoke once; the keys counter moves on each change', async () => {
      await f.fresh();
      const s = f.open();
      try {
        const v0 = s.versions();
        const k = {
          id: 'key_1',
          hash: 'ab'.repeat(32),
          prefix: 'tg_ab',
          name: null,
          user: 'ann',
          team: 'web',
          project: null,
          created_at: 1,
          last_used_at: null,
          revoked_at: null,
          expires_at: null,
        };
        s.insertKey(k);
        assert.deepEqual(s.findKeyByHash(k.hash), k);
        // An expiry round-trips (epoch ms beyond 32 bits).
        s.insertKey({ ...k, id: 'key_exp', hash: 'cd'.repeat(32), expires_at: 1_800_000_000_123 });
        assert.equal(s.findKey('key_exp')?.expires_at, 1_800_000_000_123);
        assert.deepEqual(s.findKey('key_1'), k);
        assert.equal(s.findKey('nope'), undefined);
        const v1 = s.versions();
        assert.ok(v1.keys > v0.keys);
        assert.equal(s.revokeKey('key_1', 5), true);
        assert.equal(s.revokeKey('key_1', 6), false, 'a second revocation changes nothing');
        assert.equal(s.findKey('key_1')?.revoked_at, 5);
        assert.ok(s.versions().keys > v1.keys);
        assert.equal(s.versions().budgets, v0.budgets);
        assert.deepEqual(
          s.listKeys().map((x) => x.id),
          ['key_1', 'key_exp'],
        );
      } finally {
        s.close();
      }
    });

    it('ledger: idempotent writes, order, latest, head and tail by commit sequence', async () => {
      await f.fresh();
      const s = f.open();
      try {
        assert.equal(s.ledgerEmpty(), true);
        assert.equal(s.ledgerHead(), 0);
        const a = ledgerLine({ id: 'l1', ts: 2000, cost_nanousd: 5 });
        const b = ledgerLine({ id: 'l2', ts: 1000, cost_nanousd: 7, attempts: [{ upstream: 'x', status: 529, error: 'overloaded', duration_ms: 3 }] });
        s.writeBatch([a, b], new Map());
        s.writeBatch([a], new Map());
        assert.equal(s.ledgerEmpty(), false);
        assert.deepEqual(
          s.queryLedger({}).map((l) => l.id),
          ['l2', 'l1'],
        );
        assert.deepEqual(
          s.queryLedger({ limit: 1, latest: true }).map((l) => l.id),
          ['l1'],
        );
        assert.deepEqual(
          s.queryLedger({})[0],
          { speed: null, inference_geo: null, price_tier: null, service_tier: null, ...b },
          'a line reads back as written',
        );
        const head = s.ledgerHead();
        assert.deepEqual(
          s.ledgerTail(0, 10).map((l) => [l.id, l.cost_nanousd]),
          [
            ['l1', 5],
            ['l2', 7],
          ],
          'commit order, not time order',
        );
        s.writeBatch([ledgerLine({ id: 'l3', ts: 1500, cost_nanousd: 1 })], new Map());
        assert.deepEqual(
          s.ledgerTail(head, 10).map((l) => l.id),
          ['l3'],
        );
        assert.equal(s.report([], {})[0]?.requests, 3, 'a replayed line is counted once');
      } finally {
        s.close();
      }
    });

    it('rollups: every report equals a recomputation from the lines, after random writes, replays, restarts and imports', async () => {
      await f.fresh();
      const r = rng(7);
      const all: LedgerLine[] = [];
      let s = f.open();
      try {
        for (let round = 0; round < 6; round++) {
          const lines = randomLines(r, 150 + Math.floor(r() * 150), `r${round}_`);
          // Random batch sizes, with some lines written twice (a retried batch).
          for (let i = 0; i < lines.length;) {
            const n = 1 + Math.floor(r() * 40);
            const batch = lines.slice(i, i + n);
            s.writeBatch(batch, new Map());
            if (r() < 0.3) s.writeBatch(batch.slice(0, 1 + Math.floor(r() * batch.length)), new Map());
            i += n;
          }
          all.push(...lines);
          // Imported usage lives beside the ledger and must not move its totals.
          s.writeExternalUsage([
            {
              id: `transcript:m${round}:r`,
              source: 'transcript',
              ts: START + round * HOUR_MS,
              principal: 'ann',
              session_id: null,
              model: 'claude-opus-5-5',
              region: null,
              input_tokens: 1,
              output_tokens: 1,
              cache_read_input_tokens: 0,
              cache_creation_input_tokens: 0,
              calls: 1,
              usage_type: null,
              cost_nanousd: 9,
              priced: true,
            },
          ]);
          assertReportsMatch(s, all, r, 12, `round ${round}`);
          if (round % 2 === 1) {
            s.close();
            s = f.open();
            assertReportsMatch(s, all, r, 4, `after restart ${round}`);
          }
        }
        // Summaries and the spend budgets read agree with the same recomputation.
        for (const by of ['user', 'team', 'model', 'day'] as const) {
          const want = recompute(all, [by], 0, Number.MAX_SAFE_INTEGER);
          const got = new Map(s.summarize(by, {}).map((x) => [JSON.stringify([x.group]), x.cost_nanousd]));
          assert.deepEqual(got, new Map([...want].map(([k, v]) => [k, v.cost_nanousd])), `summary by ${by}`);
        }
        const since = START + 3 * DAY_MS + 17 * 60_000;
        const until = START + 9 * DAY_MS + 5 * HOUR_MS;
        const inRange = all.filter((l) => l.ts >= since && l.ts < until);
        const sum = (ls: LedgerLine[]) => ls.reduce((a, l) => a + l.cost_nanousd, 0);
        assert.equal(s.spend('org', null, since, until), sum(inRange));
        assert.equal(s.spend('user', 'ben', since, until), sum(inRange.filter((l) => l.user === 'ben')));
        assert.equal(s.spend('team', 'web', since, until), sum(inRange.filter((l) => l.team === 'web')));
        assert.equal(s.spend('key', 'key_cy2', since, until), sum(inRange.filter((l) => l.key_id === 'key_cy2')));
        assert.equal(s.spend('project', 'p2', since, until), sum(inRange.filter((l) => l.project === 'p2')));
        const groups = s.spendGroups(since, until);
        assert.equal(
          groups.reduce((a, g) => a + g.cost_nanousd, 0),
          sum(inRange),
        );
        assert.equal(
          groups.filter((g) => g.user === 'dee' && g.team === null).reduce((a, g) => a + g.cost_nanousd, 0),
          sum(inRange.filter((l) => l.user === 'dee' && l.team === null)),
        );
        // The ledger's daily view for reconcile: messages only.
        const daily = s.ledgerDaily(since, until);
        assert.equal(
          daily.reduce((a, d) => a + d.cost, 0),
          sum(inRange.filter((l) => l.endpoint === 'messages')),
        );
        // A rebuild from the lines gives the same rollups.
        assert.equal(s.rebuildRollups().lines, all.length);
        assertReportsMatch(s, all, r, 10, 'after rebuild');
      } finally {
        s.close();
      }
    });

    it('prune: lines before a day go, totals over whole days stay, per-line views lose them', async () => {
      await f.fresh();
      const r = rng(11);
      // In time order, as a gateway writes them (the newest line is never pruned: it carries the
      // commit sequence forward).
      const all = randomLines(r, 600, 'p').sort((a, b) => a.ts - b.ts);
      const s = f.open();
      try {
        s.writeBatch(all, new Map());
        const cut = START + 5 * DAY_MS + 3 * HOUR_MS;
        const day = Math.floor(cut / DAY_MS) * DAY_MS;
        const before = all.filter((l) => l.ts < day);
        const pr = s.prune(cut);
        assert.equal(pr.deleted, before.length);
        assert.equal(pr.prunedBefore, day, 'floored to the UTC day');
        assert.equal(s.queryLedger({ until: day }).length, 0);
        // Whole days: still exact from the rollups.
        const want = recompute(all, ['day', 'team'], 0, Number.MAX_SAFE_INTEGER);
        assert.deepEqual(asMap(s.report(['day', 'team'], {}), ['day', 'team']), want);
        assert.equal(
          s.spend('org', null, START - (START % DAY_MS), START + 20 * DAY_MS),
          all.reduce((a, l) => a + l.cost_nanousd, 0),
        );
        // A rebuild keeps the pruned days' rollups and recomputes the rest.
        s.rebuildRollups();
        assert.deepEqual(asMap(s.report(['day', 'team'], {}), ['day', 'team']), want);
        assert.equal(s.prune(cut).deleted, 0, 'pruning again changes nothing');
      } finally {
        s.close();
      }
    });

    it('budgets: upsert replaces by scope and period, remove, the budgets counter moves', async () => {
      await f.fresh();
      const s = f.open();
      try {
        const v0 = s.versions().budgets;
        const b = {
          id: 'bud_1',
          scope: 'team' as const,
          scope_value: 'web',
          period: 'month' as const,
          limit_nanousd: 10,
          mode: 'hard' as const,
          alert_at: [50, 80],
          created_at: 1,
          updated_at: 1,
        };
        s.upsertBudget(b);
        s.upsertBudget({ ...b, limit_nanousd: 20, updated_at: 2 });
        assert.deepEqual(s.listBudgets(), [{ ...b, limit_nanousd: 20, updated_at: 2 }]);
        assert.ok(s.versions().budgets > v0);
        assert.equal(s.removeBudget('team', 'web'), 1);
        assert.equal(s.removeBudget('team', 'web'), 0);
        assert.equal(s.markAlertSent('bud_1', 0, 50, 1), true);
        assert.equal(s.markAlertSent('bud_1', 0, 50, 2), false, 'once per budget, period and threshold');
        s.appendAudit({ ts: 1, actor: 'cli:me', action: 'budget.set', target: 'team:web', details: { limit_usd: 1 } });
        assert.deepEqual(
          s.listAudit(5).map((e) => [e.action, e.details]),
          [['budget.set', { limit_usd: 1 }]],
        );
        assert.equal(
          s.readSnapshot(() => s.listBudgets().length),
          0,
        );
      } finally {
        s.close();
      }
    });

    it('sign-in: device grants by hash, user code or state; sessions; tokens used once; revocation moves the sessions counter; secrets made once', async () => {
      await f.fresh();
      const s = f.open();
      try {
        const g = {
          device_hash: 'h1',
          user_code: 'BCDF-GHJK',
          created_at: 1,
          expires_at: 100,
          interval_s: 5,
          last_poll_at: null,
          status: 'pending' as const,
          state: null,
          pkce_verifier: null,
          nonce: null,
          session_id: null,
          denied_reason: null,
        };
        s.insertDeviceGrant(g);
        s.updateDeviceGrant('h1', { state: 'st', pkce_verifier: 'v', nonce: 'n' });
        assert.equal(s.findDeviceGrant({ userCode: 'BCDF-GHJK' })?.state, 'st');
        assert.equal(s.findDeviceGrant({ state: 'st' })?.device_hash, 'h1');
        assert.equal(s.findDeviceGrant({ deviceHash: 'nope' }), undefined);
        const session = {
          id: 'ses_1',
          subject: 'u1',
          email: 'a@example.com',
          name: 'A',
          groups: ['eng'],
          team: 'platform',
          idp_refresh_token: 'r',
          created_at: 1,
          refreshed_at: 1,
          revoked_at: null,
        };
        s.insertSession(session);
        assert.deepEqual(s.findSession('ses_1'), session);
        s.updateSession('ses_1', { groups: ['sales'], team: null });
        assert.deepEqual([s.findSession('ses_1')?.groups, s.findSession('ses_1')?.team], [['sales'], null]);
        s.insertToken({ hash: 't1', session_id: 'ses_1', kind: 'refresh', expires_at: 100, used_at: null, revoked_at: null });
        s.insertToken({ hash: 't2', session_id: 'ses_1', kind: 'access', expires_at: 100, used_at: null, revoked_at: null });
        assert.equal(s.useToken('t1', 5), true);
        assert.equal(s.useToken('t1', 6), false, 'a refresh token is used once');
        const v = s.versions().sessions;
        s.revokeToken('t2', 7);
        assert.equal(s.findToken('t2')?.revoked_at, 7);
        assert.ok(s.versions().sessions > v);
        s.revokeSession('ses_1', 8);
        assert.equal(s.findSession('ses_1')?.revoked_at, 8);
        assert.equal(s.findToken('t1')?.revoked_at, 8);
        assert.equal(s.findToken('t2')?.revoked_at, 7, 'an earlier revocation keeps its time');
        assert.equal(
          s.secret('k', () => 'first'),
          'first',
        );
        assert.equal(
          s.secret('k', () => 'second'),
          'first',
          'made once',
        );
      } finally {
        s.close();
      }
    });

    it('usage from outside: telemetry deltas, imports once (transcripts: last snapshot wins), identities, matched logs', async () => {
      await f.fresh();
      const s = f.open();
      try {
        const p = {
          series: 'k|cost',
          ts: 1000,
          key_id: 'k',
          user: 'ann',
          team: 'web',
          session_id: 's',
          model: 'm',
          metric: 'claude_code.cost.usage',
          kind: null,
          cumulative: true,
          start_ts: 10,
        };
        s.recordTelemetryPoints([{ ...p, value: 1.5 }]);
        s.recordTelemetryPoints([{ ...p, ts: 2000, value: 4 }]);
        s.recordTelemetryEvents([
          {
            id: 's:1',
            ts: START,
            key_id: 'k',
            user: 'ann',
            team: 'web',
            session_id: 's',
            otel_user_id: null,
            model: 'm',
            input_tokens: 3,
            output_tokens: 4,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
            cost_nanousd: 77,
            duration_ms: 5,
          },
        ]);
        assert.deepEqual(
          s.telemetryDaily(0, Number.MAX_SAFE_INTEGER).map((d) => [d.user, d.cost, d.tokens]),
          [['ann', 77, 7]],
        );
        const base = {
          ts: START,
          principal: 'arn:aws:iam::1:user/ann',
          session_id: null,
          model: 'claude-opus-5-5',
          region: null,
          input_tokens: 1,
          output_tokens: 1,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 0,
          calls: 1,
          usage_type: null,
          cost_nanousd: 10,
          priced: true,
        };
        assert.deepEqual(
          s.writeExternalUsage([
            { ...base, id: 'transcript:m:r', source: 'transcript' },
            { ...base, id: 'bedrock:req-1', source: 'bedrock_log' },
            { ...base, id: 'bedrock:req-2', source: 'bedrock_log' },
          ]),
          { imported: 3, updated: 0, duplicates: 0 },
        );
        assert.deepEqual(
          s.writeExternalUsage([
            { ...base, id: 'transcript:m:r', source: 'transcript', output_tokens: 9 },
            { ...base, id: 'bedrock:req-1', source: 'bedrock_log', output_tokens: 9 },
          ]),
          { imported: 0, updated: 1, duplicates: 1 },
        );
        s.writeBatch([ledgerLine({ id: 'g1', ts: START, upstream_request_id: 'req-1' })], new Map());
        const rows = [...s.iterateExternalUsage({ sources: ['transcript', 'bedrock_log'] })];
        assert.deepEqual(
          rows.map((x) => [x.id, x.output_tokens, x.matched_ledger]),
          [
            ['bedrock:req-1', 1, true],
            ['bedrock:req-2', 1, false],
            ['transcript:m:r', 9, false],
          ],
        );
        assert.deepEqual(s.sourcesPresent(), { telemetry: true, transcript: true, bedrock_log: true, cloudtrail: false, cur: false });
        s.upsertIdentity({ external_id: 'arn:aws:iam::1:user/ann', user: 'ann', team: 'web' });
        s.upsertIdentity({ external_id: 'arn:aws:iam::1:user/ann', user: 'ann', team: 'data' });
        assert.deepEqual(s.listIdentities(), [{ external_id: 'arn:aws:iam::1:user/ann', user: 'ann', team: 'data' }]);
        assert.equal(s.removeIdentity('arn:aws:iam::1:user/ann'), true);
        assert.equal(s.removeIdentity('arn:aws:iam::1:user/ann'), false);
      } finally {
        s.close();
      }
    });
  });
}
