// The second half of `npm test`: the gateway's end-to-end tests again, on PostgreSQL
// (TOLLGATE_TEST_STORE=postgres: every test gateway gets a fresh database on a throwaway
// server). The store contract itself runs on both stores in the first half
// (store.test, store-postgres.test). Skipped, saying why, where no PostgreSQL can be started.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const { postgresUnavailable } = await import(join(root, 'dist/test/helpers/postgres.js'));
const why = postgresUnavailable();
if (why) {
  process.stderr.write(`tests on PostgreSQL skipped: ${why}\n`);
  process.exit(0);
}
// Every end-to-end suite runs on both stores, except: store (the SQLite store's contract and
// migrations; PostgreSQL's are store-postgres and replicas, in the first half) and, inside
// faults, "the store failing" (SQLite's own failure modes: a full disk, a read-only file, its
// WAL; PostgreSQL's outage is in replicas).
const files = [
  'gateway',
  'signin',
  'ci-identity',
  'spend',
  'routes',
  'reports',
  'reconcile',
  'ingest',
  'html-report',
  'cli',
  'faults',
  'doctor',
  'claude-cli',
  'claude-login',
  'admin-api',
  'observability',
  'console',
]
  .map((f) => join(root, 'dist/test', `${f}.test.js`))
  .filter((f) => existsSync(f));
process.stderr.write(`tests on PostgreSQL: ${files.length} files\n`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TOLLGATE_TEST_STORE: 'postgres' },
});
process.exit(r.status ?? 1);
