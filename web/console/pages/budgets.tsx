// Budgets: spent against limit, the burn rate and the day each runs out at that rate; set and
// remove them (admins).
import { useState } from 'preact/hooks';
import { api, query, usd, when } from '../api.js';
import { Field, Loading, Problem, Table, useData } from '../ui.js';

interface Budget {
  id: string;
  scope: string;
  value: string | null;
  period: string;
  mode: string;
  limit_usd: number;
  spent_usd: number;
  remaining_usd: number;
  resets_at: string | null;
  state: string;
  source: string;
  burn_usd_per_day: number | null;
  runs_out_at: string | null;
}

export function BudgetsPage({ admin }: { admin: boolean }) {
  const list = useData(() => api<Budget[]>('GET', '/admin/budgets'), []);
  const [form, setForm] = useState({ scope: 'team', value: '', period: 'month', limit_usd: '', mode: 'hard' });
  const [msg, setMsg] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);

  const save = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    setMsg(null);
    try {
      const b = await api<{ scope: string; scope_value: string | null; period: string; limit_usd: number; mode: string }>('PUT', '/admin/budgets', {
        ...form,
        value: form.scope === 'org' ? undefined : form.value,
        limit_usd: form.limit_usd,
      });
      setMsg(
        `Budget set: ${b.scope}${b.scope_value ? ` ${b.scope_value}` : ''}, ${usd(b.limit_usd)} a ${b.period === 'total' ? 'lifetime' : b.period} (${b.mode}).`,
      );
      list.reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const remove = async (b: Budget) => {
    if (!confirm(`Remove the ${b.period} budget of ${b.scope} ${b.value ?? ''}?`)) return;
    try {
      await api('DELETE', `/admin/budgets${query({ scope: b.scope, value: b.value, period: b.period })}`);
      list.reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };

  return (
    <section>
      <h1>Budgets</h1>
      <Problem text={list.error ?? err} />
      {msg && <p class="ok">{msg}</p>}
      <Loading on={list.loading} />
      {list.data && (
        <Table
          label="budgets"
          rows={list.data}
          empty="No budgets. Set one below, in the config (budgets:), or with tollgate budgets set."
          cols={[
            { title: 'Scope', cell: (b) => `${b.scope}${b.value ? ` ${b.value}` : ''}` },
            { title: 'Period', cell: (b) => b.period },
            { title: 'Mode', cell: (b) => b.mode },
            { title: 'Spent', cell: (b) => usd(b.spent_usd), num: true },
            { title: 'Limit', cell: (b) => usd(b.limit_usd), num: true },
            {
              title: 'Used',
              cell: (b) => {
                const pct = b.limit_usd > 0 ? (b.spent_usd / b.limit_usd) * 100 : 0;
                return (
                  <span class="meter" title={`${pct.toFixed(1)}%`}>
                    <span class={`bar ${pct >= 100 ? 'over' : pct >= 80 ? 'warn' : ''}`} style={{ width: `${Math.min(100, pct)}%` }} />
                    <span class="pct">{pct.toFixed(0)}%</span>
                  </span>
                );
              },
            },
            { title: 'Burn / day', cell: (b) => (b.burn_usd_per_day === null ? '—' : usd(b.burn_usd_per_day)), num: true },
            {
              title: 'Runs out',
              cell: (b) => (b.state === 'exhausted' ? 'spent' : b.runs_out_at ? when(b.runs_out_at).slice(0, 16) : 'not this period'),
            },
            { title: 'Resets', cell: (b) => when(b.resets_at).slice(0, 10) },
            { title: 'State', cell: (b) => <span class={`state ${b.state.replace(/\W+/g, '-')}`}>{b.state}</span> },
            {
              title: '',
              cell: (b) =>
                admin && b.source === 'cli' ? (
                  <button class="link danger" onClick={() => void remove(b)}>
                    Remove
                  </button>
                ) : b.source === 'config' ? (
                  <span class="muted">config</span>
                ) : null,
            },
          ]}
        />
      )}
      {admin && (
        <form class="card" onSubmit={save} aria-label="set a budget">
          <h2>Set a budget</h2>
          <div class="controls">
            <Field label="Scope">
              <select name="scope" value={form.scope} onChange={(e) => setForm({ ...form, scope: e.currentTarget.value })}>
                {['org', 'team', 'user', 'project', 'key'].map((s) => (
                  <option value={s}>{s}</option>
                ))}
              </select>
            </Field>
            {form.scope !== 'org' && (
              <Field label={form.scope === 'key' ? 'Key id' : form.scope}>
                <input name="value" required value={form.value} onInput={(e) => setForm({ ...form, value: e.currentTarget.value })} />
              </Field>
            )}
            <Field label="Period">
              <select name="period" value={form.period} onChange={(e) => setForm({ ...form, period: e.currentTarget.value })}>
                {['day', 'week', 'month', 'total'].map((s) => (
                  <option value={s}>{s}</option>
                ))}
              </select>
            </Field>
            <Field label="Limit (USD)">
              <input
                name="limit"
                required
                inputMode="decimal"
                placeholder="250"
                value={form.limit_usd}
                onInput={(e) => setForm({ ...form, limit_usd: e.currentTarget.value })}
              />
            </Field>
            <Field label="Mode">
              <select name="mode" value={form.mode} onChange={(e) => setForm({ ...form, mode: e.currentTarget.value })}>
                <option value="hard">hard (refuse when spent)</option>
                <option value="soft">soft (alert only)</option>
              </select>
            </Field>
            <button type="submit" class="primary">
              Set budget
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
