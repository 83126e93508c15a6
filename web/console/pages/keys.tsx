// Virtual keys: create (the secret is shown once, here), list, revoke.
import { useState } from 'preact/hooks';
import { api, when } from '../api.js';
import { Field, Loading, Problem, Table, useData } from '../ui.js';

interface Key {
  id: string;
  prefix: string;
  name: string | null;
  user: string;
  team: string | null;
  project: string | null;
  created: string;
  last_used: string | null;
  revoked: string | null;
  expires: string | null;
}

export function KeysPage({ admin }: { admin: boolean }) {
  const list = useData(() => api<Key[]>('GET', '/admin/keys'), []);
  const [form, setForm] = useState({ user: '', team: '', project: '', name: '', expires: '' });
  const [secret, setSecret] = useState<{ key: string; id: string; user: string } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [showRevoked, setShowRevoked] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      const body = Object.fromEntries(Object.entries(form).filter(([, v]) => v.trim() !== ''));
      const k = await api<Key & { key: string }>('POST', '/admin/keys', body);
      setSecret({ key: k.key, id: k.id, user: k.user });
      setForm({ user: '', team: '', project: '', name: '', expires: '' });
      list.reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const revoke = async (k: Key) => {
    if (!confirm(`Revoke ${k.id} (${k.user})? Claude Code using it is refused from its next request.`)) return;
    try {
      await api('POST', `/admin/keys/${encodeURIComponent(k.id)}/revoke`);
      list.reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const rows = (list.data ?? []).filter((k) => showRevoked || !k.revoked);

  return (
    <section>
      <h1>Keys</h1>
      <Problem text={list.error ?? err} />
      {secret && (
        <div class="card secret" role="status">
          <p>
            Key <code>{secret.id}</code> for <strong>{secret.user}</strong>. Copy it now: it is not shown again (tollgate keeps only its hash).
          </p>
          <pre data-testid="new-key">{secret.key}</pre>
          <p class="muted">
            In Claude Code: <code>ANTHROPIC_AUTH_TOKEN=&lt;this key&gt;</code> and <code>ANTHROPIC_BASE_URL={location.origin}</code>
          </p>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.key)}>
            Copy
          </button>{' '}
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      {admin && (
        <form class="card" onSubmit={create} aria-label="create a key">
          <h2>Create a key</h2>
          <div class="controls">
            <Field label="User">
              <input name="user" required value={form.user} onInput={(e) => setForm({ ...form, user: e.currentTarget.value })} />
            </Field>
            <Field label="Team">
              <input name="team" value={form.team} onInput={(e) => setForm({ ...form, team: e.currentTarget.value })} />
            </Field>
            <Field label="Project">
              <input name="project" value={form.project} onInput={(e) => setForm({ ...form, project: e.currentTarget.value })} />
            </Field>
            <Field label="Name">
              <input name="name" placeholder="laptop" value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
            </Field>
            <Field label="Expires (optional)">
              <input type="date" name="expires" value={form.expires} onChange={(e) => setForm({ ...form, expires: e.currentTarget.value })} />
            </Field>
            <button type="submit" class="primary">
              Create key
            </button>
          </div>
        </form>
      )}
      <label class="inline">
        <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.currentTarget.checked)} /> show revoked
      </label>
      <Loading on={list.loading} />
      <Table
        label="keys"
        rows={rows}
        empty="No keys."
        cols={[
          { title: 'Id', cell: (k) => <code>{k.id}</code> },
          { title: 'Starts', cell: (k) => <code>{k.prefix}…</code> },
          { title: 'User', cell: (k) => k.user },
          { title: 'Team', cell: (k) => k.team ?? '—' },
          { title: 'Name', cell: (k) => k.name ?? '—' },
          { title: 'Created', cell: (k) => when(k.created).slice(0, 16) },
          { title: 'Last used', cell: (k) => when(k.last_used).slice(0, 16) },
          { title: 'Expires', cell: (k) => (k.expires ? when(k.expires).slice(0, 10) : 'never') },
          {
            title: 'State',
            cell: (k) =>
              k.revoked ? (
                <span class="state exhausted">revoked {when(k.revoked).slice(0, 10)}</span>
              ) : k.expires && Date.parse(k.expires) <= Date.now() ? (
                <span class="state exhausted">expired</span>
              ) : admin ? (
                <button class="link danger" onClick={() => void revoke(k)} aria-label={`revoke ${k.id}`}>
                  Revoke
                </button>
              ) : (
                <span class="state ok">active</span>
              ),
          },
        ]}
      />
    </section>
  );
}
