// Reports and advisors against hand-computed expectations, and exact reconciliation on the
// documented seed ledger.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PriceBook } from '../src/metering/prices.js';
import { adviseRoute, adviseSeats, hybridSummary, loadSeatPlans, workingDays } from '../src/reports/advisors.js';
import { seedLedger } from '../src/reports/seed.js';
import { loadCatalog } from '../src/routing/catalog.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { REPORT_DIMENSIONS, type LedgerLine } from '../src/store/types.js';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { BIN, tollgate } from './helpers/cli.js';
import { ledgerLine } from './helpers/store-conformance.js';

let dir: string;
let cfg: string;

const line = ledgerLine;

const T = (s: string) => Date.parse(s);
// Hand-made: two teams, two models, two months; costs chosen so sums are easy to check.
const LINES = [
  line({
    id: 'a1',
    ts: T('2026-10-30T10:00:00Z'),
    user: 'ann',
    team: 'web',
    project: 'p1',
    model_served: 'claude-opus-5-5',
    input_tokens: 100,
    output_tokens: 10,
    cost_nanousd: 1_000_000_000,
  }),
  line({
    id: 'a2',
    ts: T('2026-11-02T10:00:00Z'),
    user: 'ann',
    team: 'web',
    project: 'p1',
    model_served: 'claude-opus-5-5',
    input_tokens: 200,
    output_tokens: 20,
    cache_read_input_tokens: 7,
    cost_nanousd: 2_500_000_001,
  }),
  line({
    id: 'a3',
    ts: T('2026-11-03T10:00:00Z'),
    user: 'ben',
    team: 'web',
    project: 'p2',
    model_served: 'claude-haiku-4-5',
    input_tokens: 5,
    output_tokens: 1,
    cost_nanousd: 333,
  }),
  line({
    id: 'a4',
    ts: T('2026-11-03T11:00:00Z'),
    user: 'cy',
    team: 'data',
    project: 'p2',
    model_served: 'claude-haiku-4-5',
    route: 'bedrock',
    region: 'eu-west-1',
    input_tokens: 1,
    output_tokens: 1,
    cache_creation_1h_input_tokens: 9,
    web_search_requests: 2,
    cost_nanousd: 20_000_000_000,
  }),
];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-reports-'));
  cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, 'store: { sqlite: ./t.db }\n');
  const s = new SqliteStore(join(dir, 't.db'));
  s.writeBatch(LINES, new Map());
  s.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('tollgate report', () => {
  it('groups by several dimensions with the group fields by name and exact costs', () => {
    const r = tollgate(['report', '--by', 'team,model', '--json', '--config', cfg]);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.deepEqual(
      rows.map((x) => [x.team, x.model, x.requests, x.cost_nanousd]),
      [
        ['data', 'claude-haiku-4-5', 1, 20_000_000_000],
        ['web', 'claude-haiku-4-5', 1, 333],
        ['web', 'claude-opus-5-5', 2, 3_500_000_001],
      ],
    );
    const web = rows.find((x) => x.team === 'web' && x.model === 'claude-opus-5-5')!;
    assert.deepEqual([web.input_tokens, web.output_tokens, web.cache_read_input_tokens, web.cost_usd], [300, 30, 7, 3.500000001]);
    const data = rows[0]!;
    assert.deepEqual([data.cache_creation_1h_input_tokens, data.web_search_requests], [9, 2]);
  });

  it('buckets by day, ISO week (from Monday) and month, and filters by time range', () => {
    const weeks = JSON.parse(tollgate(['report', '--by', 'week', '--json', '--config', cfg]).stdout) as { week: string; requests: number }[];
    assert.deepEqual(
      weeks.map((w) => [w.week, w.requests]),
      [
        ['2026-10-26', 1],
        ['2026-11-02', 3],
      ],
      'Friday 10-30 and Monday 11-02 fall in different weeks, named by their Mondays',
    );
    const months = JSON.parse(tollgate(['report', '--by', 'month,route', '--json', '--config', cfg]).stdout) as {
      month: string;
      route: string;
      cost_nanousd: number;
    }[];
    assert.deepEqual(
      months.map((m) => [m.month, m.route, m.cost_nanousd]),
      [
        ['2026-10', 'anthropic', 1_000_000_000],
        ['2026-11', 'anthropic', 2_500_000_334],
        ['2026-11', 'bedrock', 20_000_000_000],
      ],
    );
    const nov = JSON.parse(tollgate(['report', '--by', 'day', '--since', '2026-11-03', '--until', '2026-11-04', '--json', '--config', cfg]).stdout) as {
      day: string;
      requests: number;
    }[];
    assert.deepEqual(nov, [{ ...nov[0]!, day: '2026-11-03', requests: 2 }]);
  });

  it('prints a table whose total reconciles exactly, and CSV', () => {
    const t = tollgate(['report', '--by', 'user', '--config', cfg]).stdout;
    assert.match(t, /TOTAL\s+4\s+306\s+32\s+7\s+0\s+9\s+2\s+23\.5000/);
    const csv = tollgate(['report', '--by', 'region', '--csv', '--config', cfg]).stdout.trim().split('\n');
    assert.equal(
      csv[0],
      'region,requests,input_tokens,output_tokens,cache_read_input_tokens,cache_creation_5m_input_tokens,cache_creation_1h_input_tokens,web_search_requests,cost_usd',
    );
    assert.ok(csv.includes('eu-west-1,1,1,1,0,0,9,2,20.000000000'));
    assert.ok(csv.includes(',3,305,31,7,0,0,0,3.500000334'), 'requests without a region form one group');
  });

  it('gives a chargeback view per team per month', () => {
    const rows = JSON.parse(tollgate(['report', 'chargeback', '--json', '--config', cfg]).stdout) as { month: string; team: string; cost_usd: number }[];
    assert.deepEqual(
      rows.map((r) => [r.month, r.team, r.cost_usd]),
      [
        ['2026-10', 'web', 1],
        ['2026-11', 'data', 20],
        ['2026-11', 'web', 2.500000334],
      ],
    );
    const p = JSON.parse(tollgate(['report', 'chargeback', '--by', 'project', '--json', '--config', cfg]).stdout) as { project: string }[];
    assert.deepEqual([...new Set(p.map((r) => r.project))].sort(), ['p1', 'p2']);
  });

  it('rejects bad dimensions and times clearly', () => {
    let r = tollgate(['report', '--by', 'team,planet', '--config', cfg]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--by team,planet: use one or more of user, team/);
    r = tollgate(['report', '--since', 'last tuesday', '--config', cfg]);
    assert.equal(r.status, 2);
  });

  it('reconciles exactly with the sum of ledger lines on the seed ledger, for every dimension', () => {
    const lines = seedLedger(PriceBook.load(loadCatalog()), { start: T('2026-10-01T00:00:00Z'), days: 30 });
    assert.ok(lines.length > 3000);
    const s = new SqliteStore(':memory:');
    s.writeBatch(lines, new Map());
    const want = lines.reduce((a, l) => a + BigInt(l.cost_nanousd), 0n);
    const wantTokens = lines.reduce((a, l) => a + l.input_tokens + l.output_tokens + l.cache_read_input_tokens + l.cache_creation_5m_input_tokens, 0);
    for (const d of REPORT_DIMENSIONS) {
      const rows = s.report([d], {});
      assert.equal(
        rows.reduce((a, r) => a + BigInt(Number(r.cost_nanousd)), 0n),
        want,
        d,
      );
      assert.equal(
        rows.reduce(
          (a, r) => a + Number(r.input_tokens) + Number(r.output_tokens) + Number(r.cache_read_input_tokens) + Number(r.cache_creation_5m_input_tokens),
          0,
        ),
        wantTokens,
        d,
      );
    }
    const teams = s
      .report(['team'], {})
      .map((r) => r.team)
      .sort();
    assert.deepEqual(teams, ['data', 'eu-finance', 'web']);
    s.close();
  });
});

describe('advisors', () => {
  const plans = loadSeatPlans();
  const since = T('2026-11-02T00:00:00Z'); // a Monday
  const until = T('2026-12-02T00:00:00Z'); // 30 days, 22 working days
  const perDay = (n: number, usd: number) => new Map(Array.from({ length: n }, (_, i) => [`d${i}`, usd * 1e9]));

  it('recommends a seat only when it is cheaper, fits the caps, and use is steady', () => {
    assert.equal(workingDays(since, until), 22);
    const a = adviseSeats(
      [
        { user: 'steady-pro', cost: 45e9, perDay: perDay(20, 45 / 20) },
        { user: 'steady-max', cost: 300e9, perDay: perDay(21, 300 / 21) },
        { user: 'bursty', cost: 300e9, perDay: perDay(4, 75) },
        { user: 'light', cost: 12e9, perDay: perDay(15, 0.8) },
        { user: 'whale', cost: 5000e9, perDay: perDay(22, 227) },
      ],
      plans,
      since,
      until,
      { individual: true },
    );
    const by = Object.fromEntries(a.map((x) => [x.user, x]));
    assert.deepEqual([by['steady-pro']!.recommendation, by['steady-pro']!.plan, by['steady-pro']!.saving_usd_per_month], ['seat', 'pro', 25]);
    assert.deepEqual([by['steady-max']!.recommendation, by['steady-max']!.plan, by['steady-max']!.saving_usd_per_month], ['seat', 'max5', 200]);
    assert.equal(by.bursty!.recommendation, 'metered');
    assert.match(by.bursty!.reason, /bursty \(4 of 22 working days\)/);
    assert.equal(by.light!.recommendation, 'metered');
    assert.match(by.light!.reason, /costs less than the cheapest plan/);
    assert.equal(by.whale!.recommendation, 'metered');
    assert.match(by.whale!.reason, /heavier than any plan's caps/);
    const h = hybridSummary(a);
    assert.deepEqual(h.seats, { pro: 1, max5: 1 });
    assert.equal(h.metered_users, 3);
    assert.equal(h.all_metered_usd_per_month, 5657);
    assert.equal(h.saving_usd_per_month, 225);
  });

  it('advises company engineers team plans, with their seat minimum, and says when a team plan beats individual seats', () => {
    const steady = (user: string, usd: number) => ({ user, cost: usd * 1e9, perDay: perDay(20, usd / 20) });
    const team = ['a', 'b', 'c', 'd', 'e'].map((u) => steady(u, 110));
    const a = adviseSeats([...team, steady('heavy', 300)], plans, since, until);
    const by = Object.fromEntries(a.map((x) => [x.user, x]));
    // Five steady users: Team standard ($30) fits each ($110 < its $120 cap), five seats meet the minimum.
    for (const u of ['a', 'b', 'c', 'd', 'e']) assert.deepEqual([by[u]!.recommendation, by[u]!.plan], ['seat', 'team_standard']);
    assert.match(by.a!.reason, /the team plan beats an individual Max 5x \(\$100\)/);
    // One heavy user alone on Team premium would pay for its 5-seat minimum: metered is cheaper.
    assert.equal(by.heavy!.recommendation, 'metered');
    assert.match(by.heavy!.reason, /only 1 user\(s\) need it and the plan's minimum is 5 seats \(\$750\.00\/month vs \$300\.00 metered\)/);
    assert.ok(
      a.every((x) => x.plan === null || x.plan.startsWith('team_')),
      'no individual plan without --individual',
    );
  });

  it("follows the article's decision tree on its four worked scenarios", () => {
    assert.equal(
      adviseRoute({ stage: 'evaluation', usage: 'uneven', cloud: 'none', chargeback: false }).route,
      'anthropic',
      'the solo developer trying it out',
    );
    assert.equal(adviseRoute({ stage: 'steady', usage: 'even', cloud: 'none', chargeback: false }).route, 'seats', 'ten people using it all day');
    assert.equal(adviseRoute({ stage: 'steady', usage: 'uneven', cloud: 'none', chargeback: false }).route, 'anthropic', 'two heavy, eight occasional');
    const eu = adviseRoute({ stage: 'steady', usage: 'even', cloud: 'aws', residency: 'eu', chargeback: true });
    assert.deepEqual([eu.route, eu.region], ['bedrock', 'eu-west-1'], 'the regulated enterprise on AWS');
    assert.match(eu.reasons[0]!, /hard constraint and overrides cost/);
    assert.deepEqual(
      [
        adviseRoute({ stage: 'evaluation', usage: 'even', cloud: 'gcp', residency: 'europe-west4', chargeback: false }).route,
        adviseRoute({ stage: 'evaluation', usage: 'even', cloud: 'gcp', residency: 'europe-west4', chargeback: false }).region,
      ],
      ['vertex', 'europe-west4'],
    );
  });

  it('the CLI prints the route with its reasons, config and settings; refuses missing answers off a terminal', () => {
    const r = tollgate(['advise', 'route', '--stage', 'steady', '--usage', 'even', '--cloud', 'gcp', '--residency', 'eu', '--chargeback', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { route: string; region: string; tollgate_config: string; claude_code_settings: { env: Record<string, string> } };
    assert.deepEqual([j.route, j.region], ['vertex', 'europe-west1']);
    assert.match(j.tollgate_config, /type: vertex, project: <your-gcp-project>, region: europe-west1/);
    assert.equal(j.claude_code_settings.env.ANTHROPIC_BASE_URL, 'http://127.0.0.1:8787');
    const m = tollgate(['advise', 'route', '--stage', 'steady']);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /--cloud.*give it as a flag/, 'the hard constraint is asked for first');
    const u = tollgate(['advise', 'route', '--cloud', 'none', '--stage', 'steady']);
    assert.match(u.stderr, /--usage.*give it as a flag/);
    // Hard constraints alone decide: no stage or usage needed.
    const hard = tollgate(['advise', 'route', '--cloud', 'aws', '--residency', 'eu', '--chargeback', '--json']);
    assert.equal(hard.status, 0, hard.stderr);
    assert.deepEqual([(JSON.parse(hard.stdout) as { route: string }).route, (JSON.parse(hard.stdout) as { region: string }).region], ['bedrock', 'eu-west-1']);
    assert.equal(tollgate(['advise', 'route', '--cloud', 'gcp', '--no-chargeback', '--json']).status, 0, 'an existing cloud decides too');
    const s = tollgate(['advise', 'seats', '--since', '2026-10-01', '--until', '2026-12-01', '--json', '--config', cfg]);
    assert.equal(s.status, 0, s.stderr);
    const seats = JSON.parse(s.stdout) as { users: { user: string }[]; assumptions: string[] };
    assert.deepEqual(seats.users.map((u) => u.user).sort(), ['ann', 'ben', 'cy']);
    assert.ok(seats.assumptions.some((a) => /session and weekly caps, not token budgets/.test(a)));
  });

  it(
    'asks the hard constraints first in a terminal, and stops asking once they decide',
    { skip: existsSync('/usr/bin/script') ? false : 'no script(1) for a terminal' },
    async () => {
      // script(1) gives the CLI a terminal; each answer is typed when its question appears.
      const child = spawn('/usr/bin/script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} advise route`, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const answers: [RegExp, string][] = [
        [/--residency: must inference stay in a region/, 'eu'],
        [/--chargeback: .*\[yes\/no\]/, 'yes'],
        [/--cloud: an existing cloud contract/, 'gcp'],
      ];
      let seen = '';
      const asked: string[] = [];
      const done = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const timer = setTimeout(() => child.kill(), 30_000);
      child.stdout!.on('data', (d: Buffer) => {
        seen += d.toString();
        const next = answers[asked.length];
        if (next && next[0].test(seen.slice(seen.lastIndexOf('--')))) {
          asked.push(next[1]);
          child.stdin!.write(`${next[1]}\n`);
        }
      });
      assert.equal(await done, 0, seen);
      clearTimeout(timer);
      assert.deepEqual(asked, ['eu', 'yes', 'gcp'], 'residency, chargeback, cloud — in that order');
      assert.doesNotMatch(seen, /--stage|--usage/, 'stage and usage are not asked once a hard constraint decides');
      assert.match(seen, /recommended: vertex in europe-west1/);
    },
  );

  it('insights: a summary of avoidable dollars first, findings most-avoidable first, --limit', () => {
    const d = mkdtempSync(join(tmpdir(), 'tollgate-insights-'));
    const c = join(d, 'c.yaml');
    writeFileSync(c, 'store: { sqlite: ./t.db }\n');
    const env = { TOLLGATE_NOW: '2026-11-30T12:00:00Z' };
    assert.equal(tollgate(['dev', 'seed-ledger', '--days', '30', '--config', c], { env }).status, 0);
    const text = tollgate(['insights', '--config', c], { env });
    assert.equal(text.status, 0, text.stderr);
    const first = text.stdout.split('\n')[0]!;
    assert.match(first, /^\d+ findings over \$[\d.]+ of spend; avoidable: \$[\d.]+ \(/);
    assert.match(text.stdout, /showing 20 of \d+, most avoidable first \(--limit for more\)/);
    const j = JSON.parse(tollgate(['insights', '--json', '--limit', '5', '--config', c], { env }).stdout) as {
      summary: { findings: number; avoidable_usd: number };
      findings: { avoidable_usd: number; cost_usd: number }[];
    };
    assert.equal(j.findings.length, 5);
    assert.ok(j.summary.findings > 20);
    for (let i = 1; i < j.findings.length; i++) assert.ok(j.findings[i - 1]!.avoidable_usd >= j.findings[i]!.avoidable_usd);
    const all = JSON.parse(tollgate(['insights', '--json', '--config', c], { env }).stdout) as { findings: { avoidable_usd: number }[] };
    const sum = all.findings.reduce((a, f) => a + Math.round(f.avoidable_usd * 1e9), 0) / 1e9;
    assert.ok(Math.abs(sum - j.summary.avoidable_usd) < 1e-6, 'the summary adds up the findings');
    assert.equal(tollgate(['insights', '--limit', '0', '--config', c], { env }).status, 2);
    rmSync(d, { recursive: true, force: true });
  });
});

describe('fleet-sized ledgers: seed, stream, prune', () => {
  it('seeds a fleet through the write path; listings stream the same lines the totals add up to; prune keeps totals', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tollgate-fleet-'));
    const c = join(d, 'c.yaml');
    writeFileSync(c, 'store: { sqlite: ./t.db }\n');
    const env = { TOLLGATE_NOW: '2026-11-20T12:00:00Z' };
    try {
      const seeded = tollgate(['dev', 'seed-ledger', '--lines', '4000', '--users', '60', '--config', c], { env });
      assert.equal(seeded.status, 0, seeded.stderr);
      assert.match(seeded.stdout, /wrote 4000 fleet ledger lines \(60 users\)/);
      assert.equal(tollgate(['dev', 'seed-ledger', '--lines', '10', '--config', c], { env }).status, 2, 'only an empty ledger is seeded');
      const lines = JSON.parse(tollgate(['usage', '--json', '--config', c], { env }).stdout) as { cost_nanousd: number; time: string; user: string }[];
      assert.equal(lines.length, 4000);
      assert.ok(
        lines.every((l, i) => i === 0 || lines[i - 1]!.time <= l.time),
        'oldest first',
      );
      const total = lines.reduce((a, l) => a + l.cost_nanousd, 0);
      const byUser = JSON.parse(tollgate(['usage', 'summary', '--by', 'user', '--json', '--config', c], { env }).stdout) as {
        cost_nanousd: number;
        requests: number;
      }[];
      assert.equal(
        byUser.reduce((a, r) => a + r.cost_nanousd, 0),
        total,
      );
      assert.equal(
        byUser.reduce((a, r) => a + r.requests, 0),
        4000,
      );
      assert.ok(byUser.length > 40 && byUser.length <= 60);
      const latest = JSON.parse(tollgate(['usage', '--json', '--limit', '3', '--config', c], { env }).stdout) as { time: string }[];
      assert.deepEqual(
        latest.map((l) => l.time),
        lines.slice(-3).map((l) => l.time),
        '--limit: the latest, oldest first',
      );
      // A plain listing streams a table with a header and one row per line.
      const table = tollgate(['usage', '--config', c], { env }).stdout.trimEnd().split('\n');
      assert.equal(table.length, 4002);
      // Prune the older half (by day), archiving it first.
      const days = [...new Set(lines.map((l) => l.time.slice(0, 10)))].sort();
      const cut = days[Math.floor(days.length / 2)]!;
      const archive = join(d, 'old.jsonl.gz');
      const before = JSON.parse(tollgate(['report', '--by', 'day,team', '--json', '--config', c], { env }).stdout) as unknown[];
      const pr = tollgate(['prune', '--before', cut, '--archive', archive, '--json', '--config', c], { env });
      assert.equal(pr.status, 0, pr.stderr);
      const res = JSON.parse(pr.stdout) as { deleted: number; archived: number; pruned_before: string };
      const older = lines.filter((l) => l.time < `${cut}T`).length;
      assert.deepEqual([res.deleted, res.archived, res.pruned_before], [older, older, `${cut}T00:00:00.000Z`]);
      const { gunzipSync } = await import('node:zlib');
      const kept = gunzipSync(readFileSync(archive))
        .toString()
        .trim()
        .split('\n')
        .map((x) => JSON.parse(x) as { cost_nanousd: number });
      assert.equal(kept.length, older);
      assert.equal(JSON.parse(tollgate(['usage', '--json', '--config', c], { env }).stdout).length, 4000 - older);
      assert.deepEqual(
        JSON.parse(tollgate(['report', '--by', 'day,team', '--json', '--config', c], { env }).stdout),
        before,
        'totals by day survive the prune',
      );
      assert.equal(tollgate(['rollups', 'rebuild', '--config', c], { env }).status, 0);
      assert.deepEqual(JSON.parse(tollgate(['report', '--by', 'day,team', '--json', '--config', c], { env }).stdout), before, 'and a rollup rebuild');
      assert.equal(tollgate(['prune', '--before', cut, '--archive', archive, '--config', c], { env }).status, 2, 'an existing archive is not overwritten');
      assert.equal(tollgate(['prune', '--before', '2030-01-01', '--config', c], { env }).status, 2, 'not into the future');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('retention', () => {
  it('store.retention_days: the gateway deletes old lines a step at a time and the totals stay', async () => {
    const { startGateway, storeFor } = await import('./helpers/gateway.js');
    const d = mkdtempSync(join(tmpdir(), 'tollgate-retention-'));
    const now = Date.UTC(2026, 10, 20, 12);
    const s = await storeFor(d);
    const lines: LedgerLine[] = [];
    // 2,500 lines 40–45 days old (three steps of the gateway's prune), 10 from yesterday.
    for (let i = 0; i < 2500; i++) lines.push(line({ id: `old${i}`, ts: now - 45 * 86400e3 + i * 60_000, user: 'ann', team: 'web', cost_nanousd: 1000 + i }));
    for (let i = 0; i < 10; i++) lines.push(line({ id: `new${i}`, ts: now - 86400e3 + i * 60_000, user: 'ann', team: 'web', cost_nanousd: 7 }));
    s.writeBatch(lines, new Map());
    const before = s.report(['day'], {});
    s.close();
    const g = await startGateway('upstreams:\n  - { name: anthropic, type: anthropic, base_url: "http://127.0.0.1:9", api_key: k }\n', {
      dir: d,
      storeExtra: 'retention_days: 30',
      wallNow: () => now,
    });
    try {
      const deadline = Date.now() + 20_000;
      while (g.gw.retentionDeleted < 2500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(g.gw.retentionDeleted, 2500);
      assert.deepEqual(
        g.gw.ctx.store.queryLedger({}).map((l) => l.id),
        lines.slice(2500).map((l) => l.id),
        'only the recent lines are left',
      );
      assert.deepEqual(g.gw.ctx.store.report(['day'], {}), before, 'totals per day are unchanged');
    } finally {
      await g.stop();
    }
  });
});
