// tollgate keys create|list|revoke
import type { Command } from 'commander';
import { mintKey } from '../../identity/keys.js';
import { iso, openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

function checkName(what: string, v: string | undefined): void {
  if (v !== undefined && !NAME.test(v)) throw new UsageError(`--${what} "${v}": use letters, digits and . _ @ + - (at most 128 characters)`);
}

export function register(program: Command, globals: () => GlobalOpts): void {
  const keys = program.command('keys').description('manage virtual keys (one per engineer; stored only as hashes)');

  keys.command('create')
    .description('mint a virtual key; the secret is printed once and cannot be shown again')
    .requiredOption('--user <user>', 'who the key belongs to (ledger and budgets attribute spend to this user)')
    .option('--team <team>', 'team, for routing, budgets and chargeback')
    .option('--project <project>', 'project, for chargeback')
    .option('--name <name>', 'a label, e.g. the laptop or CI job using it')
    .option('--json', 'print {"id","key",...} as JSON')
    .action((o: { user: string; team?: string; project?: string; name?: string; json?: boolean }) => {
      checkName('user', o.user);
      checkName('team', o.team);
      checkName('project', o.project);
      if (o.name !== undefined && (o.name.length > 200 || [...o.name].some((ch) => ch.charCodeAt(0) < 0x20))) throw new UsageError('--name: at most 200 printable characters');
      const store = openStore(openConfig(globals()));
      try {
        const { secret, record } = mintKey({ user: o.user, team: o.team, project: o.project, name: o.name }, Date.now());
        store.insertKey(record);
        if (o.json) {
          out(JSON.stringify({ id: record.id, key: secret, user: record.user, team: record.team, project: record.project, name: record.name, created_at: iso(record.created_at) }));
        } else {
          out(`${secret}\n`);
          process.stderr.write(`created ${record.id} for user ${record.user}${record.team ? ` (team ${record.team})` : ''}. The key above is shown only once.\n` +
            `Claude Code: export ANTHROPIC_AUTH_TOKEN=<key>  (or ANTHROPIC_API_KEY, or an apiKeyHelper that prints it)\n`);
        }
      } finally {
        store.close();
      }
    });

  keys.command('list')
    .description('list keys (never their secrets)')
    .option('--json', 'print a JSON array')
    .action((o: { json?: boolean }) => {
      const store = openStore(openConfig(globals()));
      try {
        const rows = store.listKeys().map((k) => ({
          id: k.id, prefix: k.prefix, name: k.name, user: k.user, team: k.team, project: k.project,
          created: iso(k.created_at), last_used: iso(k.last_used_at), revoked: iso(k.revoked_at),
        }));
        if (o.json) out(JSON.stringify(rows, null, 2));
        else out(table(['ID', 'PREFIX', 'USER', 'TEAM', 'PROJECT', 'NAME', 'CREATED', 'LAST USED', 'REVOKED'],
          rows.map((r) => [r.id, r.prefix + '…', r.user, r.team, r.project, r.name, r.created, r.last_used, r.revoked])));
      } finally {
        store.close();
      }
    });

  keys.command('revoke')
    .description('revoke a key; a running gateway refuses it within a second')
    .argument('<id>', 'key id (from keys list)')
    .action((id: string) => {
      const store = openStore(openConfig(globals()));
      try {
        const k = store.findKey(id);
        if (!k) throw new UsageError(`no key with id ${id} (see tollgate keys list)`);
        if (k.revoked_at !== null) {
          out(`${id} was already revoked at ${iso(k.revoked_at)}`);
          return;
        }
        store.revokeKey(id, Date.now());
        out(`revoked ${id} (user ${k.user})`);
      } finally {
        store.close();
      }
    });
}
