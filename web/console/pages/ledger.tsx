// The ledger: the latest lines with filters, and one request's detail (tokens, cost, attempts,
// timing). Lines hold no prompt text, so neither does this page.
import { useState } from 'preact/hooks';
import { api, int, nextDay, query, usd, when } from '../api.js';
import { Field, Loading, Problem, Table, useData } from '../ui.js';

interface Attempt {
  upstream: string;
  status: number;
  error: string | null;
  duration_ms: number;
  cost_nanousd?: number;
}

export interface Line {
  id: string;
  time: string;
  key_id: string | null;
  user: string | null;
  team: string | null;
  project: string | null;
  session_id: string | null;
  endpoint: string;
  model_requested: string | null;
  model_served: string | null;
  upstream: string | null;
  route: string | null;
  region: string | null;
  http_status: number;
  error_type: string | null;
  error_code: string | null;
  stop_reason: string | null;
  streamed: boolean;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_5m_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  web_search_requests: number;
  cost_usd: number;
  cost_nanousd: number;
  priced: boolean;
  price_tier?: string | null;
  ttfb_ms: number | null;
  duration_ms: number;
  client_aborted: boolean;
  upstream_request_id: string | null;
  upstream_model: string | null;
  attempts: Attempt[];
}

const LIMIT = 200;

export function LedgerPage({ open }: { open: string | null }) {
  const [f, setF] = useState({ user: '', team: '', project: '', key: '', from: '', to: '' });
  const [applied, setApplied] = useState(f);
  const list = useData(
    () =>
      api<Line[]>(
        'GET',
        `/admin/usage${query({ user: applied.user, team: applied.team, project: applied.project, key: applied.key, since: applied.from, until: applied.to && nextDay(applied.to), limit: LIMIT, order: 'desc' })}`,
      ),
    [applied],
  );
  const go = (id: string | null) => {
    location.hash = id ? `#/ledger/${encodeURIComponent(id)}` : '#/ledger';
  };
  return (
    <section>
      <h1>Ledger</h1>
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(f);
        }}
      >
        {(['user', 'team', 'project', 'key'] as const).map((k) => (
          <Field label={k}>
            <input name={k} value={f[k]} onInput={(e) => setF({ ...f, [k]: e.currentTarget.value })} />
          </Field>
        ))}
        <Field label="From">
          <input type="date" name="from" value={f.from} onChange={(e) => setF({ ...f, from: e.currentTarget.value })} />
        </Field>
        <Field label="To">
          <input type="date" name="to" value={f.to} onChange={(e) => setF({ ...f, to: e.currentTarget.value })} />
        </Field>
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      {open && <LineDetail id={open} onClose={() => go(null)} />}
      <Problem text={list.error} />
      <Loading on={list.loading} />
      {list.data && (
        <>
          <p class="muted">{list.data.length < LIMIT ? `${list.data.length} lines` : `the latest ${LIMIT} lines (narrow the filters for older ones)`}</p>
          <Table
            label="ledger lines"
            rows={list.data}
            onRow={(l) => go(l.id)}
            empty="No lines match."
            cols={[
              { title: 'Time', cell: (l) => when(l.time).slice(0, 19) },
              { title: 'User', cell: (l) => l.user ?? '—' },
              { title: 'Team', cell: (l) => l.team ?? '—' },
              { title: 'Model', cell: (l) => l.model_served ?? l.model_requested ?? '—' },
              { title: 'Route', cell: (l) => l.route ?? '—' },
              { title: 'Status', cell: (l) => <span class={l.http_status >= 400 ? 'state exhausted' : ''}>{l.http_status}</span> },
              { title: 'In', cell: (l) => int(l.input_tokens), num: true },
              { title: 'Out', cell: (l) => int(l.output_tokens), num: true },
              { title: 'Cost', cell: (l) => (l.priced ? usd(l.cost_usd, 6) : 'unpriced'), num: true },
              {
                title: '',
                cell: (l) => (
                  <a href={`#/ledger/${encodeURIComponent(l.id)}`} aria-label={`detail of ${l.id}`}>
                    detail
                  </a>
                ),
              },
            ]}
          />
        </>
      )}
    </section>
  );
}

function LineDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const d = useData(() => api<Line>('GET', `/admin/usage/lines/${encodeURIComponent(id)}`), [id]);
  const l = d.data;
  return (
    <div class="card detail" role="region" aria-label="request detail">
      <button class="close" onClick={onClose} aria-label="close">
        ×
      </button>
      <h2>
        Request <code>{id}</code>
      </h2>
      <Problem text={d.error} />
      {l && (
        <div class="grid">
          <dl>
            <dt>Time</dt>
            <dd>{when(l.time)}</dd>
            <dt>Who</dt>
            <dd>
              {l.user ?? '—'} · team {l.team ?? '—'} · project {l.project ?? '—'}
            </dd>
            <dt>Key</dt>
            <dd>
              <code>{l.key_id ?? '—'}</code>
            </dd>
            <dt>Session</dt>
            <dd>{l.session_id ?? '—'}</dd>
            <dt>Endpoint</dt>
            <dd>
              {l.endpoint}
              {l.streamed ? ' (streamed)' : ''}
            </dd>
            <dt>Model</dt>
            <dd>
              asked {l.model_requested ?? '—'} · served {l.model_served ?? '—'} · upstream id {l.upstream_model ?? '—'}
            </dd>
            <dt>Route</dt>
            <dd>
              {l.route ?? '—'} via {l.upstream ?? '—'} {l.region ? `(${l.region})` : ''}
            </dd>
            <dt>Status</dt>
            <dd>
              {l.http_status}
              {l.error_code || l.error_type ? ` ${l.error_code ?? l.error_type}` : ''}
              {l.stop_reason ? ` · stop ${l.stop_reason}` : ''}
              {l.client_aborted ? ' · client left' : ''}
            </dd>
            <dt>Timing</dt>
            <dd data-testid="timing">
              first byte {l.ttfb_ms === null ? '—' : `${l.ttfb_ms.toFixed(0)} ms`} · total {l.duration_ms.toFixed(0)} ms
            </dd>
          </dl>
          <dl>
            <dt>Input</dt>
            <dd>{int(l.input_tokens)}</dd>
            <dt>Output</dt>
            <dd>{int(l.output_tokens)}</dd>
            <dt>Cache read</dt>
            <dd>{int(l.cache_read_input_tokens)}</dd>
            <dt>Cache write 5m / 1h</dt>
            <dd>
              {int(l.cache_creation_5m_input_tokens)} / {int(l.cache_creation_1h_input_tokens)}
            </dd>
            <dt>Web searches</dt>
            <dd>{l.web_search_requests}</dd>
            <dt>Cost</dt>
            <dd data-testid="line-cost">
              {l.priced ? usd(l.cost_usd, 9) : 'unpriced'} {l.price_tier ? `(${l.price_tier})` : ''}
            </dd>
            <dt>Upstream request id</dt>
            <dd>
              <code>{l.upstream_request_id ?? '—'}</code>
            </dd>
          </dl>
        </div>
      )}
      {l && (
        <>
          <h3>Attempts</h3>
          <Table
            label="attempts"
            rows={l.attempts}
            empty="No upstream was tried (refused by the gateway)."
            cols={[
              { title: '#', cell: (a) => l.attempts.indexOf(a) + 1 },
              { title: 'Upstream', cell: (a) => a.upstream },
              { title: 'Status', cell: (a) => a.status || 'no answer' },
              { title: 'Error', cell: (a) => a.error ?? '—' },
              { title: 'Time', cell: (a) => `${a.duration_ms.toFixed(0)} ms`, num: true },
            ]}
          />
        </>
      )}
    </div>
  );
}
