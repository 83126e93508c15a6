// tollgate keys create|list|revoke — on the local store, or a remote gateway with --url.
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { keyView, OperationError, Operations } from '../../admin/operations.js';
import { admin } from '../remote.js';
import { openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';
import { wallClock } from '../../util/time.js';

export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** Runs a local operation with the store open; OperationErrors become usage errors. */
export function withOps<T>(globals: GlobalOpts, fn: (ops: Operations, store: ReturnType<typeof openStore>) => T): T {
  const store = openStore(openConfig(globals));
  try {
    return fn(new Operations(store, cliActor(), wallClock), store);
  } catch (err) {
    if (err instanceof OperationError) throw new UsageError(err.message);
    throw err;
  } finally {
    store.close();
  }
}

function printKeys(rows: Record<string, unknown>[], json?: boolean): void {
  if (json) return out(JSON.stringify(rows, null, 2));
  out(
    table(
      ['ID', 'PREFIX', 'USER', 'TEAM', 'PROJECT', 'NAME', 'CREATED', 'LAST USED', 'REVOKED', 'EXPIRES'],
      rows.map((r) => [r.id, `${String(r.prefix)}…`, r.user, r.team, r.project, r.name, r.created, r.last_used, r.revoked, r.expires] as (string | null)[]),
    ),
  );
}

export function register(program: Command, globals: () => GlobalOpts): void {
  const keys = program.command('keys').description('manage virtual keys (one per engineer; stored only as hashes)');

  keys
    .command('create')
    .description('mint a virtual key; the secret is printed once and cannot be shown again')
    .requiredOption('--user <user>', 'who the key belongs to (ledger and budgets attribute spend to this user)')
    .option('--team <team>', 'team, for routing, budgets and chargeback')
    .option('--project <project>', 'project, for chargeback')
    .option('--name <name>', 'a label, e.g. the laptop or CI job using it')
    .option('--expires <when>', 'refused after this: a date (2027-03-31), a time, or a span from now (90d, 12h, 4w); default: never')
    .option('--json', 'print {"id","key",...} as JSON')
    .action(async (o: { user: string; team?: string; project?: string; name?: string; expires?: string; json?: boolean }) => {
      const g = globals();
      let view: Record<string, unknown>;
      let secret: string;
      if (g.url) {
        const r = (await admin(g.url, 'POST', '/admin/keys', { user: o.user, team: o.team, project: o.project, name: o.name, expires: o.expires })) as Record<
          string,
          unknown
        >;
        secret = String(r.key);
        view = r;
      } else {
        const k = withOps(g, (ops) => ops.createKey(o));
        secret = k.secret;
        view = keyView(k.record);
      }
      if (o.json) {
        out(JSON.stringify({ ...view, key: secret }));
      } else {
        out(`${secret}\n`);
        process.stderr.write(
          `created ${String(view.id)} for user ${o.user}${o.team ? ` (team ${o.team})` : ''}${view.expires ? `, expires ${String(view.expires)}` : ''}. The key above is shown only once.\n` +
            `Claude Code: export ANTHROPIC_AUTH_TOKEN=<key>  (or ANTHROPIC_API_KEY, or an apiKeyHelper that prints it)\n`,
        );
      }
    });

  keys
    .command('list')
    .description('list keys (never their secrets)')
    .option('--json', 'print a JSON array')
    .action(async (o: { json?: boolean }) => {
      const g = globals();
      const rows = g.url
        ? ((await admin(g.url, 'GET', '/admin/keys')) as Record<string, unknown>[])
        : withOps(g, (_ops, store) => store.listKeys().map(keyView));
      printKeys(rows, o.json);
    });

  keys
    .command('revoke')
    .description('revoke a key; a running gateway refuses it within a second')
    .argument('<id>', 'key id (from keys list)')
    .action(async (id: string) => {
      const g = globals();
      if (g.url) {
        const r = (await admin(g.url, 'POST', `/admin/keys/${encodeURIComponent(id)}/revoke`)) as { already_revoked: boolean; revoked: string; user: string };
        return out(r.already_revoked ? `${id} was already revoked at ${r.revoked}` : `revoked ${id} (user ${r.user})`);
      }
      const r = withOps(g, (ops) => ops.revokeKey(id));
      out(r.already ? `${id} was already revoked at ${new Date(r.record.revoked_at as number).toISOString()}` : `revoked ${id} (user ${r.record.user})`);
    });
}
