// Claude Code's effective configuration as Claude Code itself assembles it: the shell
// environment, then the `env` blocks of its settings files in precedence order (user <
// project shared < project local < managed), plus apiKeyHelper from the same files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type SettingsScope = 'user' | 'project' | 'local' | 'managed';

export interface SettingsFile {
  scope: SettingsScope;
  path: string;
  exists: boolean;
  json: Record<string, unknown> | null;
  error: string | null;
}

export interface EnvValue {
  value: string;
  /** "shell", or the settings file that set it. */
  source: string;
}

export interface ClaudeConfig {
  env: Map<string, EnvValue>;
  apiKeyHelper: EnvValue | null;
  files: SettingsFile[];
  home: string;
  cwd: string;
}

/** Where managed (fleet) settings live on each OS. */
export function defaultManagedPath(): string {
  if (process.platform === 'darwin') return '/Library/Application Support/ClaudeCode/managed-settings.json';
  if (process.platform === 'win32') return 'C:\\Program Files\\ClaudeCode\\managed-settings.json';
  return '/etc/claude-code/managed-settings.json';
}

function readSettings(scope: SettingsScope, path: string): SettingsFile {
  if (!existsSync(path)) return { scope, path, exists: false, json: null, error: null };
  try {
    const j: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!j || typeof j !== 'object' || Array.isArray(j)) return { scope, path, exists: true, json: null, error: 'not a JSON object' };
    return { scope, path, exists: true, json: j as Record<string, unknown>, error: null };
  } catch (err) {
    return { scope, path, exists: true, json: null, error: `invalid JSON: ${(err as Error).message}` };
  }
}

export function readClaudeConfig(opts: { env: NodeJS.ProcessEnv; home: string; cwd: string; managedPath?: string }): ClaudeConfig {
  const files = [
    readSettings('user', join(opts.home, '.claude', 'settings.json')),
    readSettings('project', join(opts.cwd, '.claude', 'settings.json')),
    readSettings('local', join(opts.cwd, '.claude', 'settings.local.json')),
    readSettings('managed', opts.managedPath ?? defaultManagedPath()),
  ];
  const env = new Map<string, EnvValue>();
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined && v !== '') env.set(k, { value: v, source: 'shell' });
  let apiKeyHelper: EnvValue | null = null;
  // Later files win: this is the order of increasing precedence.
  for (const f of files) {
    if (!f.json) continue;
    const block = f.json.env;
    if (block && typeof block === 'object' && !Array.isArray(block)) {
      for (const [k, v] of Object.entries(block as Record<string, unknown>)) {
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
          env.set(k, { value: String(v), source: `${f.scope} settings (${f.path})` });
      }
    }
    if (typeof f.json.apiKeyHelper === 'string') apiKeyHelper = { value: f.json.apiKeyHelper, source: `${f.scope} settings (${f.path})` };
  }
  return { env, apiKeyHelper, files, home: opts.home, cwd: opts.cwd };
}
