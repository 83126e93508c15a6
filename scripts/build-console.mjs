#!/usr/bin/env node
// Builds the web console (web/console, Preact + uPlot in TSX) into dist/console: one bundled,
// minified script and one stylesheet, served by the gateway at /console. esbuild bundles (it
// does not type-check: web/console/tsconfig.json is checked by `npm run build` through tsc).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'web', 'console');
const out = join(root, 'dist', 'console');
mkdirSync(join(out, 'assets'), { recursive: true });

await build({
  entryPoints: [join(src, 'main.tsx')],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: join(out, 'assets', 'app.js'),
  logLevel: 'warning',
  legalComments: 'linked',
});
// The chart library's own stylesheet, then ours.
const css = readFileSync(join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), 'utf8') + '\n' + readFileSync(join(src, 'style.css'), 'utf8');
writeFileSync(join(out, 'assets', 'app.css'), css);
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
