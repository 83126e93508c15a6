// The tollgate command line. Every command takes --config FILE.
import { Command, CommanderError } from 'commander';
import { z } from 'zod';
import { ConfigError } from '../config/load.js';
import { configSchema } from '../config/schema.js';
import { redactUrl } from '../util/redact.js';
import { TimeInputError } from '../util/time.js';
import { VERSION } from '../util/version.js';
import * as advise from './commands/advise.js';
import * as budgets from './commands/budgets.js';
import * as doctor from './commands/doctor.js';
import * as ingest from './commands/ingest.js';
import * as insights from './commands/insights.js';
import * as keys from './commands/keys.js';
import * as models from './commands/models.js';
import * as report from './commands/report.js';
import * as reconcileCmd from './commands/reconcile.js';
import * as serve from './commands/serve.js';
import * as usage from './commands/usage.js';
import { openConfig, out, UsageError, type GlobalOpts } from './shared.js';

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
  program.hook('preAction', (_root, actionCommand) => { active = actionCommand; });
  // --config may also come after the subcommand, where users tend to put it.
  const globals = (): GlobalOpts => ({
    config: active.opts<GlobalOpts>().config ?? program.opts<GlobalOpts>().config,
    url: active.opts<GlobalOpts>().url ?? process.env.TOLLGATE_URL,
  });
  serve.register(program, globals);
  keys.register(program, globals);
  budgets.register(program, globals);
  usage.register(program, globals);
  models.register(program);
  doctor.register(program, globals);
  report.register(program, globals);
  report.registerDev(program, globals);
  advise.register(program, globals);
  insights.register(program, globals);
  reconcileCmd.register(program, globals);
  ingest.register(program, globals);

  const config = program.command('config').description('check or describe the configuration');
  config.command('check').description('validate the config file and report every problem at once').action(() => {
    const loaded = openConfig(globals());
    out(`${loaded.file ?? '(defaults)'}: OK`);
    for (const u of loaded.config.upstreams) {
      const where = u.type === 'anthropic' ? u.base_url : u.base_url ?? (u.type === 'bedrock' ? `region ${u.region}` : `project ${u.project}, region ${u.region}`);
      out(`upstream ${u.name} (${u.type}): ${redactUrl(where)}`);
    }
    for (const v of loaded.missingEnv) out(`warning: $${v} is not set`);
  });
  config.command('schema').description('print the JSON Schema of the config (for editors)').action(() => {
    out(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
  });

  const addConfigOption = (c: Command): void => {
    for (const sub of c.commands) {
      if (sub.name() !== 'help') sub.option('-c, --config <file>', 'config file');
      // Keys and budgets can be managed on a remote gateway through its admin API.
      if (c.name() === 'keys' || c.name() === 'budgets') sub.option('--url <url>', 'a remote gateway (admin API; token in $TOLLGATE_ADMIN_TOKEN)');
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
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof TimeInputError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
