// The tollgate console: sign-in, then one page per concern, chosen by the URL's hash
// (#/spend, #/ledger/<id> …) so a page can be bookmarked and the gateway serves one file.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, setCsrf, whenSignedOut, type Session } from './api.js';
import { SpendPage } from './pages/spend.js';
import { BudgetsPage } from './pages/budgets.js';
import { KeysPage } from './pages/keys.js';
import { LedgerPage } from './pages/ledger.js';
import { ActivityPage, AdvicePage, FleetPage, PeoplePage, ReconcilePage } from './pages/more.js';
import { Field, Problem } from './ui.js';

const PAGES = [
  ['spend', 'Spend'],
  ['budgets', 'Budgets'],
  ['keys', 'Keys'],
  ['people', 'Teams & users'],
  ['ledger', 'Ledger'],
  ['activity', 'Alerts & audit'],
  ['reconcile', 'Reconcile'],
  ['advice', 'Advice'],
  ['fleet', 'Fleet'],
] as const;

function useHash(): string[] {
  const [h, setH] = useState(location.hash);
  useEffect(() => {
    const on = () => setH(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return h.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
}

function SignIn({ session, onIn }: { session: Session; onIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      onIn(await api<Session>('POST', '/console/login', { token }));
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  return (
    <main class="signin">
      <h1>tollgate</h1>
      <p class="muted">Spend, budgets and keys of this gateway.</p>
      {session.ways.identity_provider && (
        <p>
          <a class="button primary" href="/console/auth/oidc">
            Sign in with your identity provider
          </a>
        </p>
      )}
      {session.ways.admin_token && (
        <form onSubmit={submit} class="card">
          <Field label="Admin token">
            <input type="password" name="token" autoComplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
          </Field>
          <button type="submit" class="primary">
            Sign in
          </button>
        </form>
      )}
      {!session.ways.admin_token && !session.ways.identity_provider && (
        <p class="problem">
          No way to sign in is configured: set TOLLGATE_ADMIN_TOKEN (or admin.token), or auth.oidc with console.admin_groups, and restart the gateway.
        </p>
      )}
      <Problem text={err} />
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [page, arg] = useHash();
  const load = () =>
    api<Session>('GET', '/console/api/session').then(
      (s) => {
        setCsrf(s.csrf ?? '');
        setSession(s);
      },
      (x: Error) => setErr(x.message),
    );
  useEffect(() => {
    whenSignedOut(() => void load());
    void load();
  }, []);
  if (err) return <Problem text={`The gateway did not answer: ${err}`} />;
  if (!session) return <p class="muted">Loading…</p>;
  if (!session.signed_in)
    return (
      <SignIn
        session={session}
        onIn={(s) => {
          setCsrf(s.csrf ?? '');
          setSession({ ...s, ways: session.ways });
        }}
      />
    );
  const admin = session.role === 'admin';
  const current = PAGES.some(([p]) => p === page) ? page : 'spend';
  const signOut = async () => {
    await api('POST', '/console/logout').catch(() => {});
    void load();
  };
  return (
    <>
      <header>
        <a class="brand" href="#/spend">
          tollgate
        </a>
        <nav aria-label="pages">
          {PAGES.map(([p, title]) => (
            <a href={`#/${p}`} class={p === current ? 'active' : ''} aria-current={p === current ? 'page' : undefined}>
              {title}
            </a>
          ))}
        </nav>
        <span class="who">
          {session.actor} <span class="role">{admin ? 'admin' : 'read-only'}</span>{' '}
          <button class="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        {current === 'spend' && <SpendPage />}
        {current === 'budgets' && <BudgetsPage admin={admin} />}
        {current === 'keys' && <KeysPage admin={admin} />}
        {current === 'people' && <PeoplePage />}
        {current === 'ledger' && <LedgerPage open={arg || null} />}
        {current === 'activity' && <ActivityPage />}
        {current === 'reconcile' && <ReconcilePage />}
        {current === 'advice' && <AdvicePage />}
        {current === 'fleet' && <FleetPage />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
