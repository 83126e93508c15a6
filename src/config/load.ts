// Loads the YAML config, expands ${VAR} from the environment and validates it against the one
// schema, reporting every problem at once with its key path.
import { UserError } from '../util/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { configSchema, defaultUpstreams, renamedKeys, type Config } from './schema.js';

export class ConfigError extends UserError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, or null when running on defaults. */
  file: string | null;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
  /** Environment variables referenced as ${VAR} that were not set (expanded to ""). */
  missingEnv: string[];
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Expand ${VAR} and ${VAR:-default} in every string of the parsed tree (never in the raw
 * text, so a value containing YAML syntax cannot change the document's structure). */
function expand(node: unknown, env: NodeJS.ProcessEnv, missing: Set<string>): unknown {
  if (typeof node === 'string') {
    return node.replace(VAR, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      missing.add(name);
      return '';
    });
  }
  if (Array.isArray(node)) return node.map((n) => expand(n, env, missing));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = expand(v, env, missing);
    return out;
  }
  return node;
}

function pathOf(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : (s ? '.' : '') + String(p);
  return s || '(root)';
}

/** Default config file lookup: --config, $TOLLGATE_CONFIG, ./tollgate.yaml, ./tollgate.yml. */
export function findConfigFile(explicit?: string): string | null {
  if (explicit) return resolve(explicit);
  if (process.env.TOLLGATE_CONFIG) return resolve(process.env.TOLLGATE_CONFIG);
  for (const f of ['tollgate.yaml', 'tollgate.yml']) if (existsSync(f)) return resolve(f);
  return null;
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): { config: Config; missingEnv: string[] } {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const missing = new Set<string>();
  const tree: unknown = doc.toJS() ?? {};
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) {
    throw new ConfigError(file, ['(root): expected a mapping of settings']);
  }
  const withDefaults = 'upstreams' in tree ? tree : { ...tree, upstreams: defaultUpstreams };
  const raw = expand(withDefaults, env, missing);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        return i.keys
          .map((k) => {
            const hint = renamedKeys[k];
            return `${pathOf([...i.path, k])}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`;
          })
          .join('\n  - ');
      }
      return `${pathOf(i.path)}: ${i.message}`;
    });
    throw new ConfigError(file, problems);
  }
  const names = new Set<string>();
  const problems: string[] = [];
  for (const u of parsed.data.upstreams) {
    if (names.has(u.name)) problems.push(`upstreams: duplicate name "${u.name}"`);
    names.add(u.name);
  }
  const r = parsed.data.routes;
  const lists: [string, string[]][] = [
    ...(r.default ? [['routes.default', r.default] as [string, string[]]] : []),
    ...Object.entries(r.teams ?? {}).map(([t, l]) => [`routes.teams.${t}`, l] as [string, string[]]),
    ...Object.entries(r.keys ?? {}).map(([k, l]) => [`routes.keys.${k}`, l] as [string, string[]]),
  ];
  for (const [where, list] of lists) {
    for (const n of list) if (!names.has(n)) problems.push(`${where}: no upstream named "${n}" (have: ${[...names].join(', ')})`);
  }
  if (problems.length) throw new ConfigError(file, problems);
  return { config: parsed.data, missingEnv: [...missing] };
}

export function loadConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = findConfigFile(explicit);
  if (file === null) {
    const { config, missingEnv } = parseConfig('{}', '(defaults)', env);
    return { config, file: null, baseDir: process.cwd(), missingEnv };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const { config, missingEnv } = parseConfig(text, file, env);
  return { config, file, baseDir: dirname(file), missingEnv };
}

/** Resolve a path from the config relative to the config file's directory. */
export function resolveFrom(loaded: LoadedConfig, p: string): string {
  return p === ':memory:' ? p : resolve(loaded.baseDir, p);
}
