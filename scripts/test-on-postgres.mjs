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
// These run on both stores. On SQLite only: faults (SQLite's own failure modes: a full disk, a
// read-only or locked file), store (the SQLite store's contract and migrations; the PostgreSQL
// one is store-postgres), cli (argument parsing, packaging, and a key-at-rest check that reads
// the SQLite file), claude-cli (its telemetry check reads SQLite's telemetry tables directly;
// the real CLI runs on PostgreSQL in claude-login and replicas).
const files = ['gateway', 'signin', 'ci-identity', 'spend', 'routes', 'reports', 'reconcile', 'ingest', 'html-report', 'doctor', 'claude-login']
  .map((f) => join(root, 'dist/test', `${f}.test.js`))
  .filter((f) => existsSync(f));
process.stderr.write(`tests on PostgreSQL: ${files.length} files\n`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TOLLGATE_TEST_STORE: 'postgres' },
});
process.exit(r.status ?? 1);
