// The tollgate command line. Every command lives in its own file under commands/ and is loaded
// only when it runs: `tollgate --version`, `--help` and each command pay for their own imports
// only (the gateway, the store and the report code are not loaded to print a version).
import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import type { GlobalOpts } from './shared.js';

interface CommandModule {
  register(program: Command, globals: () => GlobalOpts): void;
}

/** Each command: its one-line description (for the top-level help, checked against the
 * command's own by a test) and its module. */
export const COMMANDS: Record<string, { description: string; load: () => Promise<CommandModule> }> = {
  serve: {
    description: 'run the gateway (defaults: 127.0.0.1:8787, ./data/tollgate.db, the Anthropic API with $ANTHROPIC_API_KEY)',
    load: () => import('./commands/serve.js'),
  },
  keys: { description: 'manage virtual keys (one per engineer; stored only as hashes)', load: () => import('./commands/keys.js') },
  budgets: { description: 'spend limits per key, user, team, project or the organisation', load: () => import('./commands/budgets.js') },
  usage: { description: 'print ledger lines, one per request, oldest first (see also: usage summary)', load: () => import('./commands/usage.js') },
  report: { description: 'spend and tokens (every class) grouped by any dimensions over a time range', load: () => import('./commands/report.js') },
  insights: {
    description: 'cost drivers per user and session: cache hit rate, idle-gap cache rebuilds, short sessions, output share, model drift, input growth',
    load: () => import('./commands/insights.js'),
  },
  advise: { description: 'advisors: seat or metered per user, and which billing route', load: () => import('./commands/advise.js') },
  reconcile: {
    description:
      "side by side per group and day: the gateway ledger, Claude Code's telemetry and transcripts, Bedrock invocation logs, CloudTrail and the bill (CUR); every difference flagged with its likely cause",
    load: () => import('./commands/reconcile.js'),
  },
  ingest: {
    description: 'import usage kept outside the gateway (gzip and directories accepted; importing the same file twice changes nothing)',
    load: () => import('./commands/ingest.js'),
  },
  identities: {
    description: 'map external identities (IAM ARNs, assumed-role session names, emails, OTel user.id) to users and teams',
    load: () => import('./commands/identities.js'),
  },
  models: { description: "print the model catalog with each model's id on a route and region", load: () => import('./commands/models.js') },
  doctor: { description: "read Claude Code's effective configuration and say what will happen and what is wrong", load: () => import('./commands/doctor.js') },
  setup: {
    description: 'write Claude Code settings for a route, with all model aliases pinned, then run the doctor on them',
    load: () => import('./commands/setup.js'),
  },
  fleet: {
    description: 'managed settings per machine: current, stale, edited or unmanaged (needs CLAUDE_CODE_GATEWAY_HINT_HEADERS=1 in the settings served)',
    load: () => import('./commands/fleet.js'),
  },
  migrate: {
    description: "apply the store's missing schema migrations (PostgreSQL: run once per upgrade, before or while replicas run)",
    load: () => import('./commands/migrate.js'),
  },
  store: {
    description: 'move an installation from its SQLite file to PostgreSQL (store copy; safe to rerun)',
    load: () => import('./commands/store.js'),
  },
  prune: {
    description: 'delete ledger lines before a date (floored to its UTC day); rollups keep the totals for reports and budgets',
    load: () => import('./commands/prune.js'),
  },
  rollups: { description: 'the aggregate tables reports and budgets read (kept as lines are written)', load: () => import('./commands/rollups.js') },
  config: { description: 'check or describe the configuration', load: () => import('./commands/config.js') },
  dev: { description: 'tools for trying tollgate out', load: () => import('./commands/dev.js') },
};

/** Commands that work on a remote gateway through its admin API (--url or $TOLLGATE_URL). */
export const REMOTE = new Set(['keys', 'budgets', 'usage', 'report', 'reconcile', 'ingest', 'identities', 'fleet', 'advise']);

/** The command a command line names: the first word that is not a global option (or the word
 * after `help`). */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-c' || a === '--config') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a === 'help' ? args[i + 1] : a;
  }
  return undefined;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('tollgate')
    .description('Gateway and spend control for Claude Code fleets')
    .version(VERSION)
    .option('-c, --config <file>', 'config file (default: $TOLLGATE_CONFIG, ./tollgate.yaml)')
    .showHelpAfterError()
    // Options after a subcommand belong to it (`usage --json` and `usage summary --json`).
    .enablePositionalOptions()
    .exitOverride();
  let active: Command = program;
  program.hook('preAction', (_root, actionCommand) => {
    active = actionCommand;
  });
  // --config may also come after the subcommand, where users tend to put it.
  const globals = (): GlobalOpts => ({
    config: active.opts<GlobalOpts>().config ?? program.opts<GlobalOpts>().config,
    url: active.opts<GlobalOpts>().url ?? process.env.TOLLGATE_URL,
  });

  const name = commandName(argv.slice(2));
  const chosen = name !== undefined ? COMMANDS[name] : undefined;
  if (chosen) (await chosen.load()).register(program, globals);
  else {
    // Help, a version, or an unknown word: the list of commands is all that is needed.
    for (const [n, c] of Object.entries(COMMANDS)) program.command(n).description(c.description);
  }

  const addConfigOption = (c: Command): void => {
    for (const sub of c.commands) {
      if (sub.name() !== 'help') sub.option('-c, --config <file>', 'config file');
      // Commands the admin API covers run against a remote gateway with --url.
      if (REMOTE.has(c.name() === 'tollgate' ? sub.name() : c.name()) && !(c.name() === 'advise' && sub.name() === 'route'))
        sub.option('--url <url>', 'a remote gateway (its admin API; token in $TOLLGATE_ADMIN_TOKEN; default $TOLLGATE_URL)');
      sub.exitOverride();
      addConfigOption(sub);
    }
  };
  addConfigOption(program);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
