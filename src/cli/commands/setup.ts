// tollgate setup: writes Claude Code settings for a route (all aliases pinned), then runs the
// doctor on the result.
import type { Command } from 'commander';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { diagnose, exitCode, renderReport } from '../../clientconfig/doctor.js';
import { readClaudeConfig } from '../../clientconfig/settings.js';
import { generateSettings, mergeSettings, SetupError, shellExports, type SetupRoute } from '../../clientconfig/setup.js';
import { loadCatalog } from '../../routing/catalog.js';
import { out, UsageError, type GlobalOpts } from '../shared.js';
import { where, type Where } from './doctor.js';
import { withOps } from './keys.js';

function writeAtomic(path: string, text: string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tollgate-${process.pid}.tmp`;
  writeFileSync(tmp, text, mode ? { mode } : undefined);
  renameSync(tmp, path);
}

export function register(program: Command, globals: () => GlobalOpts): void {
  where(program.command('setup'))
    .description('write Claude Code settings for a route, with all model aliases pinned, then run the doctor on them')
    .requiredOption('--route <route>', 'anthropic | bedrock | vertex | gateway')
    .option('--region <region>', 'AWS region (bedrock) or Vertex location: global, us, eu or a region (vertex; default global)')
    .option('--profile <profile>', 'bedrock model ids: geo (default), global or regional')
    .option('--project <project>', 'GCP project (vertex)')
    .option('--gateway-url <url>', 'tollgate URL (gateway)')
    .option('--key-helper <command>', 'apiKeyHelper: a command that prints the key (gateway)')
    .option('--mint', 'gateway: mint a key now (needs --user; local store from --config), keep it in ~/.config/tollgate/key (0600) and wire apiKeyHelper to it')
    .option('--user <user>', 'with --mint')
    .option('--team <team>', 'with --mint')
    .option('--opus <id>')
    .option('--sonnet <id>')
    .option('--haiku <id>')
    .option('--target <target>', 'user (~/.claude/settings.json), managed (a managed-settings.json for fleet roll-out), or shell (export lines)', 'user')
    .option('--out <file>', 'where to write a managed-settings.json (target managed)')
    .option('--print', 'print what would be written instead of writing it')
    .action(
      async (
        o: Where & {
          route: string;
          region?: string;
          profile?: string;
          project?: string;
          gatewayUrl?: string;
          keyHelper?: string;
          mint?: boolean;
          user?: string;
          team?: string;
          opus?: string;
          sonnet?: string;
          haiku?: string;
          target: string;
          out?: string;
          print?: boolean;
        },
      ) => {
        if (!['anthropic', 'bedrock', 'vertex', 'gateway'].includes(o.route)) throw new UsageError(`--route ${o.route}: anthropic, bedrock, vertex or gateway`);
        if (o.profile && !['geo', 'global', 'regional'].includes(o.profile)) throw new UsageError(`--profile ${o.profile}: geo, global or regional`);
        if (!['user', 'managed', 'shell'].includes(o.target)) throw new UsageError(`--target ${o.target}: user, managed or shell`);
        const home = resolve(o.home ?? homedir());
        let keyHelper = o.keyHelper;
        if (o.mint) {
          if (o.route !== 'gateway') throw new UsageError('--mint is for --route gateway');
          if (!o.user) throw new UsageError('--mint needs --user');
          const k = withOps(globals(), (ops) => ops.createKey({ user: o.user, team: o.team, name: 'tollgate setup' }));
          const keyFile = join(home, '.config', 'tollgate', 'key');
          if (!o.print) {
            writeAtomic(keyFile, k.secret + '\n', 0o600);
            chmodSync(keyFile, 0o600);
          }
          keyHelper = `cat ${keyFile}`;
          process.stderr.write(`minted ${k.record.id} for ${o.user}; the key is in ${keyFile} (mode 0600), not in any settings file\n`);
        }
        let gen;
        try {
          gen = generateSettings(
            {
              route: o.route as SetupRoute,
              region: o.region,
              profile: o.profile as 'geo',
              project: o.project,
              gatewayUrl: o.gatewayUrl,
              keyHelper,
              models: { opus: o.opus, sonnet: o.sonnet, haiku: o.haiku },
            },
            loadCatalog(),
          );
        } catch (err) {
          if (err instanceof SetupError) throw new UsageError(err.message);
          throw err;
        }
        let checkEnv: NodeJS.ProcessEnv = process.env;
        let managed = o.managedSettings;
        if (o.target === 'shell') {
          out(shellExports(gen));
          checkEnv = { ...process.env, ...gen.env };
        } else {
          const path = o.target === 'managed' ? resolve(o.out ?? 'managed-settings.json') : join(home, '.claude', 'settings.json');
          let existing: Record<string, unknown> = {};
          if (o.target === 'user' && existsSync(path)) {
            try {
              existing = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
            } catch {
              throw new UsageError(`${path} is not valid JSON; fix or move it first`);
            }
          }
          const merged = mergeSettings(existing, gen);
          const text = JSON.stringify(merged, null, 2) + '\n';
          if (o.print) out(text);
          else {
            writeAtomic(path, text);
            process.stderr.write(`wrote ${path}\n`);
          }
          if (o.target === 'managed') managed = o.print ? undefined : path;
        }
        // The doctor on the result: what Claude Code will now do.
        const cfg = readClaudeConfig({ env: checkEnv, home, cwd: resolve(o.cwd ?? process.cwd()), managedPath: managed });
        if (o.print || o.target === 'shell') {
          for (const [k, v] of Object.entries(gen.env)) cfg.env.set(k, { value: v, source: o.target === 'shell' ? 'shell' : 'generated settings' });
          if (gen.apiKeyHelper) cfg.apiKeyHelper = { value: gen.apiKeyHelper, source: 'generated settings' };
        }
        const report = diagnose(cfg, loadCatalog());
        process.stderr.write('\n' + renderReport(report));
        process.exitCode = exitCode(report);
      },
    );
}
