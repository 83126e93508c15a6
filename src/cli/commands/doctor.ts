// tollgate doctor: Claude Code's own configuration, on any route — what it will do and what is wrong.
import type { Command } from 'commander';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { diagnose, exitCode, renderReport } from '../../clientconfig/doctor.js';
import { probe, probeTelemetry } from '../../clientconfig/probe.js';
import { readClaudeConfig } from '../../clientconfig/settings.js';
import { loadCatalog } from '../../routing/catalog.js';
import { out, type GlobalOpts } from '../shared.js';

export interface Where {
  home?: string;
  cwd?: string;
  managedSettings?: string;
}

export function where(c: Command): Command {
  return c
    .option('--home <dir>', 'the home directory whose ~/.claude to read (default: yours)')
    .option('--cwd <dir>', 'the project directory (default: the current one)')
    .option('--managed-settings <file>', 'managed settings file (default: the OS location)');
}

function read(o: Where, env: NodeJS.ProcessEnv = process.env) {
  return readClaudeConfig({ env, home: resolve(o.home ?? homedir()), cwd: resolve(o.cwd ?? process.cwd()), managedPath: o.managedSettings });
}

export function register(program: Command, _globals: () => GlobalOpts): void {
  where(program.command('doctor'))
    .description("read Claude Code's effective configuration and say what will happen and what is wrong")
    .option('--json', 'print the report as JSON')
    .option('--probe', 'also send one minimal request through the configured endpoint')
    .addHelpText('after', '\nExit status: 0 clean, 1 warnings, 2 errors. Secrets are never printed, only where they come from and a fingerprint.')
    .action(async (o: Where & { json?: boolean; probe?: boolean }) => {
      const cfg = read(o);
      const report = diagnose(cfg, loadCatalog());
      const p = o.probe ? await probe(cfg, report) : null;
      // The telemetry port, as the gateway itself says which it serves.
      const tf = o.probe ? await probeTelemetry(cfg, report) : null;
      if (tf) report.findings = [...report.findings.filter((f) => f.code !== 'TELEMETRY_GRPC_PORT'), tf];
      if (o.json) out(JSON.stringify({ ...report, ...(p ? { probe: p } : {}) }, null, 2));
      else {
        out(renderReport(report));
        if (p) {
          out(
            p.ok
              ? `probe: OK in ${p.latency_ms} ms, answered by ${p.model ?? '?'}${p.route ? ` via tollgate route ${p.route} (upstream ${p.upstream})` : ''}`
              : `probe: FAILED after ${p.latency_ms} ms${p.status ? ` (HTTP ${p.status})` : ''}: ${p.error}`,
          );
        }
      }
      process.exitCode = Math.max(exitCode(report), p && !p.ok ? 2 : 0);
    });
}
