#!/usr/bin/env node
// `npm start` builds only when the sources changed since the last build: it compares the
// newest source file (src, bench, test, tsconfig, package.json) with the build's stamp and
// runs tsc only if something is newer. A packed or installed tollgate ships dist/ already and
// never builds.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');

function newest(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let m = 0;
  for (const e of readdirSync(path)) m = Math.max(m, newest(join(path, e)));
  return m;
}

const sources = Math.max(...['src', 'bench', 'test', 'web', 'tsconfig.json', 'package.json'].map((p) => newest(join(root, p))));
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (built >= sources && existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) process.exit(0);

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  console.error('tollgate: the sources changed but TypeScript is not installed (npm ci installs it); a packed tollgate needs no build.');
  process.exit(1);
}
process.stderr.write('building tollgate (sources changed)…\n');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
// The web console (esbuild, a dev dependency like TypeScript).
const c = spawnSync(process.execPath, [join(root, 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
if (c.status !== 0) process.exit(c.status ?? 1);
writeFileSync(stamp, new Date().toISOString() + '\n');
