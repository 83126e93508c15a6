// People (teams and users with their routes and policies), alerts and the audit log,
// reconciliation, the seat advice and the fleet's managed settings.
import { useState } from 'preact/hooks';
import { api, day, int, nextDay, query, usd, when } from '../api.js';
import { Field, Loading, Problem, Table, useData } from '../ui.js';

interface Team {
  team: string;
  users: number;
  keys: number;
  active_keys: number;
  route: string[];
  policy: { allow?: string[]; rewrite?: { from: string; to: string }[] } | null;
  budgets: string[];
  month_requests: number;
  month_cost_usd: number;
}
interface User {
  user: string;
  team: string | null;
  keys: number;
  active_keys: number;
  route: string[];
  month_requests: number;
  month_cost_usd: number;
}

const policyText = (p: Team['policy']) =>
  !p
    ? 'any model'
    : [p.allow ? `allow ${p.allow.join(', ')}` : '', ...(p.rewrite ?? []).map((r) => `${r.from}→${r.to}`)].filter(Boolean).join('; ') || 'any model';

export function PeoplePage() {
  const teams = useData(() => api<Team[]>('GET', '/admin/teams'), []);
  const users = useData(() => api<User[]>('GET', '/admin/users'), []);
  return (
    <section>
      <h1>Teams and users</h1>
      <Problem text={teams.error ?? users.error} />
      <h2>Teams</h2>
      <Loading on={teams.loading} />
      <Table
        label="teams"
        rows={teams.data ?? []}
        cols={[
          { title: 'Team', cell: (t) => t.team },
          { title: 'Route', cell: (t) => t.route.join(' → ') },
          { title: 'Policy', cell: (t) => policyText(t.policy) },
          { title: 'Budgets', cell: (t) => t.budgets.join(', ') || '—' },
          { title: 'Users', cell: (t) => t.users, num: true },
          { title: 'Keys', cell: (t) => `${t.active_keys}/${t.keys}`, num: true },
          { title: 'Requests (month)', cell: (t) => int(t.month_requests), num: true },
          { title: 'Spend (month)', cell: (t) => usd(t.month_cost_usd), num: true },
        ]}
      />
      <h2>Users</h2>
      <Loading on={users.loading} />
      <Table
        label="users"
        rows={users.data ?? []}
        cols={[
          { title: 'User', cell: (u) => u.user },
          { title: 'Team', cell: (u) => u.team ?? '—' },
          { title: 'Route', cell: (u) => u.route.join(' → ') },
          { title: 'Keys', cell: (u) => `${u.active_keys}/${u.keys}`, num: true },
          { title: 'Requests (month)', cell: (u) => int(u.month_requests), num: true },
          { title: 'Spend (month)', cell: (u) => usd(u.month_cost_usd), num: true },
        ]}
      />
    </section>
  );
}

interface Audit {
  time: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}
interface Alerts {
  budget_alerts: { budget_id: string; threshold: number; time: string; period_start: string }[];
  upstreams: { name: string; route: string; region: string | null; ready: boolean; problem: string | null; cooling: boolean }[];
}

export function ActivityPage() {
  const alerts = useData(() => api<Alerts>('GET', '/admin/alerts'), []);
  const audit = useData(() => api<Audit[]>('GET', '/admin/audit?limit=200'), []);
  return (
    <section>
      <h1>Alerts and audit</h1>
      <Problem text={alerts.error ?? audit.error} />
      <h2>Upstreams</h2>
      <Table
        label="upstreams"
        rows={alerts.data?.upstreams ?? []}
        cols={[
          { title: 'Upstream', cell: (u) => u.name },
          { title: 'Route', cell: (u) => u.route },
          { title: 'Region', cell: (u) => u.region ?? '—' },
          {
            title: 'State',
            cell: (u) =>
              !u.ready ? (
                <span class="state exhausted">not ready: {u.problem}</span>
              ) : u.cooling ? (
                <span class="state warning">cooling down</span>
              ) : (
                <span class="state ok">ready</span>
              ),
          },
        ]}
      />
      <h2>Budget alerts sent</h2>
      <Table
        label="budget alerts"
        rows={alerts.data?.budget_alerts ?? []}
        empty="No budget alert has gone out."
        cols={[
          { title: 'Time', cell: (a) => when(a.time).slice(0, 19) },
          { title: 'Budget', cell: (a) => a.budget_id },
          { title: 'Threshold', cell: (a) => `${a.threshold}%`, num: true },
          { title: 'Period from', cell: (a) => when(a.period_start).slice(0, 10) },
        ]}
      />
      <h2>Audit log</h2>
      <Loading on={audit.loading} />
      <Table
        label="audit log"
        rows={audit.data ?? []}
        cols={[
          { title: 'Time', cell: (e) => when(e.time).slice(0, 19) },
          { title: 'Who', cell: (e) => e.actor },
          { title: 'Action', cell: (e) => e.action },
          { title: 'Target', cell: (e) => e.target ?? '—' },
          { title: 'Details', cell: (e) => (e.details ? <code class="small">{JSON.stringify(e.details)}</code> : '—') },
        ]}
      />
    </section>
  );
}

interface ReconRow {
  day: string;
  group: string | null;
  ledger_usd: number;
  telemetry_usd: number;
  bedrock_logs_usd: number;
  cur_usd: number;
  transcripts_usd: number;
  difference_usd: number;
  flags: string[];
}

export function ReconcilePage() {
  const [from, setFrom] = useState(day(-29));
  const [to, setTo] = useState(day(0));
  const [by, setBy] = useState('user');
  const r = useData(
    () => api<{ rows: ReconRow[]; not_set_up: string[] }>('GET', `/admin/reconcile${query({ since: from, until: nextDay(to), by })}`),
    [from, to, by],
  );
  return (
    <section>
      <h1>Reconcile</h1>
      <p class="muted">
        The ledger beside Claude Code's telemetry, transcripts, Bedrock invocation logs and the bill, per group and day. Flags name the likely cause.
      </p>
      <form class="controls" onSubmit={(e) => e.preventDefault()}>
        <Field label="From">
          <input type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </Field>
        <Field label="To">
          <input type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </Field>
        <Field label="By">
          <select value={by} onChange={(e) => setBy(e.currentTarget.value)}>
            {['user', 'team', 'model', 'day'].map((d) => (
              <option value={d}>{d}</option>
            ))}
          </select>
        </Field>
      </form>
      <Problem text={r.error} />
      <Loading on={r.loading} />
      {r.data && r.data.not_set_up.length > 0 && <p class="muted">Not compared (nothing imported or received): {r.data.not_set_up.join(', ')}</p>}
      <Table
        label="reconciliation"
        rows={r.data?.rows ?? []}
        empty="Nothing in this range."
        cols={[
          { title: 'Day', cell: (x) => x.day },
          { title: by, cell: (x) => x.group ?? '—' },
          { title: 'Ledger', cell: (x) => usd(x.ledger_usd, 4), num: true },
          { title: 'Telemetry', cell: (x) => usd(x.telemetry_usd, 4), num: true },
          { title: 'Bedrock logs', cell: (x) => usd(x.bedrock_logs_usd, 4), num: true },
          { title: 'Transcripts', cell: (x) => usd(x.transcripts_usd, 4), num: true },
          { title: 'Bill', cell: (x) => usd(x.cur_usd, 4), num: true },
          { title: 'Difference', cell: (x) => usd(x.difference_usd, 4), num: true },
          { title: 'Flags', cell: (x) => (x.flags.length ? <span class="state warning">{x.flags.join('; ')}</span> : '—') },
        ]}
      />
    </section>
  );
}

interface Seats {
  users: {
    user: string;
    metered_usd_per_month: number;
    active_days: number;
    working_days: number;
    recommendation: string;
    plan: string | null;
    saving_usd_per_month: number;
    reason: string;
  }[];
  team: {
    seats: Record<string, number>;
    metered_users: number;
    seats_usd_per_month: number;
    metered_usd_per_month: number;
    all_metered_usd_per_month: number;
    saving_usd_per_month: number;
  };
  assumptions: string[];
}

interface RouteAdvice {
  route: string;
  region: string | null;
  reasons: string[];
}

/** Which billing route: the decision questions, answered here; the answer updates as they change. */
function RouteAdvisor() {
  const [q, setQ] = useState({ cloud: 'none', stage: 'steady', usage: 'uneven', residency: '', chargeback: 'true' });
  const a = useData(() => api<RouteAdvice>('GET', `/admin/advice/route${query(q)}`), [q.cloud, q.stage, q.usage, q.residency, q.chargeback]);
  const sel = (name: keyof typeof q, label: string, options: string[]) => (
    <Field label={label}>
      <select name={name} value={q[name]} onChange={(e) => setQ({ ...q, [name]: e.currentTarget.value })}>
        {options.map((o) => (
          <option value={o}>{o}</option>
        ))}
      </select>
    </Field>
  );
  return (
    <div class="card" role="region" aria-label="route advice">
      <h2>Which billing route</h2>
      <div class="controls">
        {sel('cloud', 'Existing cloud contract', ['none', 'aws', 'gcp'])}
        {sel('stage', 'Stage', ['evaluation', 'steady'])}
        {sel('usage', 'Use across the team', ['even', 'uneven'])}
        {sel('chargeback', 'Chargeback needed', ['true', 'false'])}
        <Field label="Data residency (optional)">
          <input
            name="residency"
            placeholder="eu, eu-central-1"
            value={q.residency}
            onChange={(e) => setQ({ ...q, residency: e.currentTarget.value.trim() })}
          />
        </Field>
      </div>
      <Problem text={a.error} />
      {a.data && (
        <>
          <p class="total">
            Recommended:{' '}
            <strong data-testid="route-advice">
              {a.data.route === 'seats' ? 'per-seat plans' : `${a.data.route}${a.data.region ? ` in ${a.data.region}` : ''}`}
            </strong>
          </p>
          <ul>
            {a.data.reasons.map((r) => (
              <li>{r}</li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

export function AdvicePage() {
  const s = useData(() => api<Seats>('GET', '/admin/advice/seats'), []);
  const t = s.data?.team;
  return (
    <section>
      <h1>Advice</h1>
      <RouteAdvisor />
      <h2>Seat or metered</h2>
      <p class="muted">The last 30 days per user, against the seat plans.</p>
      <Problem text={s.error} />
      <Loading on={s.loading} />
      {t && (
        <p class="total">
          Team:{' '}
          {Object.entries(t.seats)
            .map(([p, n]) => `${n} × ${p}`)
            .join(', ') || 'no seats'}
          , {t.metered_users} metered · {usd(t.seats_usd_per_month + t.metered_usd_per_month)} a month vs {usd(t.all_metered_usd_per_month)} all metered (saves{' '}
          {usd(t.saving_usd_per_month)})
        </p>
      )}
      <Table
        label="seat advice"
        rows={s.data?.users ?? []}
        empty="No usage in the last 30 days."
        cols={[
          { title: 'User', cell: (u) => u.user },
          { title: 'Metered / month', cell: (u) => usd(u.metered_usd_per_month), num: true },
          { title: 'Active days', cell: (u) => `${u.active_days}/${u.working_days}`, num: true },
          { title: 'Advice', cell: (u) => u.recommendation },
          { title: 'Plan', cell: (u) => u.plan ?? '—' },
          { title: 'Saves / month', cell: (u) => usd(u.saving_usd_per_month), num: true },
          { title: 'Why', cell: (u) => u.reason },
        ]}
      />
      {s.data && (
        <ul class="muted small">
          {s.data.assumptions.map((a) => (
            <li>{a}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

interface Fleet {
  identity: string;
  user: string;
  team: string | null;
  status: string;
  checksum: string;
  expected: string | null;
  seen_at: string;
}

export function FleetPage() {
  const f = useData(() => api<Fleet[]>('GET', '/admin/fleet'), []);
  return (
    <section>
      <h1>Fleet</h1>
      <p class="muted">
        Managed settings each machine runs (reported with CLAUDE_CODE_GATEWAY_HINT_HEADERS=1): current, stale (an older version this gateway served), edited
        (changed on the machine) or unmanaged.
      </p>
      <Problem text={f.error} />
      <Loading on={f.loading} />
      <Table
        label="fleet"
        rows={f.data ?? []}
        empty="No machine has reported its managed settings yet."
        cols={[
          { title: 'User', cell: (r) => r.user },
          { title: 'Team', cell: (r) => r.team ?? '—' },
          { title: 'Status', cell: (r) => <span class={`state ${r.status === 'current' ? 'ok' : 'warning'}`}>{r.status}</span> },
          { title: 'Runs', cell: (r) => <code>{r.checksum.slice(7, 19)}</code> },
          { title: 'Should run', cell: (r) => <code>{r.expected?.slice(7, 19) ?? '—'}</code> },
          { title: 'Last seen', cell: (r) => when(r.seen_at).slice(0, 19) },
        ]}
      />
    </section>
  );
}
