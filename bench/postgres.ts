// npm run bench -- --case postgres: one gateway on PostgreSQL (a throwaway local server, each
// replica with its spool) against one on SQLite, same run, same fake upstream: added latency
// over direct calls and CPU per request of the gateway process; then throughput of two replicas
// on one PostgreSQL against one replica.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintKey } from '../src/identity/keys.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { claudeBody } from '../test/helpers/gateway.js';
import { postgresUnavailable, startPostgres } from '../test/helpers/postgres.js';
import { gateway, measure, median, run, type Gw } from './harness.js';

export async function benchPostgres(upstream: string, quick: boolean): Promise<void> {
  const why = postgresUnavailable();
  if (why) {
    console.log(`postgres benchmark skipped: ${why}`);
    return;
  }
  const pg = await startPostgres();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-pg-'));
  const gws: Gw[] = [];
  try {
    const db = await pg.database();
    const up = `upstreams:\n  - { name: anthropic, type: anthropic, base_url: "${upstream}", api_key: k }\n`;
    const cfg = (name: string, store: string, extra = '') => {
      const f = join(dir, `${name}.yaml`);
      writeFileSync(f, `store: { ${store} }\n${up}${extra}`);
      return f;
    };
    // A budget covering every request (large enough never to refuse): what the claims cost.
    const budget = 'budgets:\n  - { team: perf, period: day, limit_usd: 1000 }\n';
    const key = mintKey({ user: 'bench', team: 'perf' }, Date.now());
    const s = new SqliteStore(join(dir, 'bench.db'));
    s.insertKey(key.record);
    s.close();
    const p = new PostgresStore(db);
    p.insertKey(key.record);
    p.close();
    const sqlite = await gateway(cfg('sqlite', 'sqlite: ./bench.db'));
    const pgA = await gateway(cfg('pg-a', `postgres: "${db}", spool: ./spool-a.db`));
    const pgB = await gateway(cfg('pg-b', `postgres: "${db}", spool: ./spool-b.db`));
    const pgBudget = await gateway(cfg('pg-budget', `postgres: "${db}", spool: ./spool-c.db`, budget));
    const sqliteBudget = await gateway(cfg('sqlite-budget', 'sqlite: ./bench.db', budget));
    gws.push(sqlite, pgA, pgB, pgBudget, sqliteBudget);
    const body = claudeBody(20_000, { model: 'claude-sonnet-4-6' });
    const n = quick ? 300 : 1500;
    const rounds = quick ? 2 : 4;
    const conc = 8;
    // Warm up each, then interleave rounds: machine noise hits both alike.
    for (const u of [upstream, sqlite.url, pgA.url, pgBudget.url, sqliteBudget.url]) await run([u], body, key.secret, 100, conc);
    const lat: Record<string, number[]> = { direct: [], sqlite: [], postgres: [], 'sqlite+budget': [], 'postgres+budget': [] };
    const cpuMs: Record<string, number[]> = { sqlite: [], postgres: [], 'sqlite+budget': [], 'postgres+budget': [] };
    for (let r = 0; r < rounds; r++) {
      lat.direct!.push(median((await run([upstream], body, key.secret, n, conc)).ms));
      for (const [name, g] of [
        ['sqlite', sqlite],
        ['postgres', pgA],
        ['sqlite+budget', sqliteBudget],
        ['postgres+budget', pgBudget],
      ] as const) {
        const m = await measure(g, body, key.secret, n, conc);
        cpuMs[name]!.push(m.cpuMs);
        lat[name]!.push(m.latencyMs);
      }
    }
    const med = (k: string) => median(lat[k]!);
    const added = (k: string) => med(k) - med('direct');
    console.log(`one gateway, 20 KB streaming requests, concurrency ${conc}, ${rounds} rounds of ${n} (median of round medians, ms):`);
    console.log(
      `  direct ${med('direct').toFixed(2)}; SQLite ${med('sqlite').toFixed(2)} (+${added('sqlite').toFixed(2)}); PostgreSQL ${med('postgres').toFixed(2)} (+${added('postgres').toFixed(2)})`,
    );
    console.log(`  added latency PostgreSQL / SQLite: ${(added('postgres') / added('sqlite')).toFixed(2)}×`);
    const c = (k: string) => median(cpuMs[k]!);
    console.log(
      `  gateway CPU per request: SQLite ${c('sqlite').toFixed(3)} ms, PostgreSQL ${c('postgres').toFixed(3)} ms (${(c('postgres') / c('sqlite')).toFixed(2)}×; the PostgreSQL server's own CPU not included)`,
    );
    console.log(
      `  with a budget on every request ($1,000 a day): SQLite +${added('sqlite+budget').toFixed(2)} ms, ${c('sqlite+budget').toFixed(3)} ms CPU; PostgreSQL (claims) +${added('postgres+budget').toFixed(2)} ms, ${c('postgres+budget').toFixed(3)} ms CPU (${(added('postgres+budget') / added('postgres')).toFixed(2)}× the added latency and ${(c('postgres+budget') / c('postgres')).toFixed(2)}× the CPU of PostgreSQL without a budget)`,
    );
    // Throughput: the same offered load (concurrency 16) on one replica, then split over two.
    const tn = quick ? 1000 : 4000;
    const one1 = await run([pgA.url], body, key.secret, tn, 16);
    const two = await run([pgA.url, pgB.url], body, key.secret, tn, 16);
    const rps1 = tn / one1.seconds;
    const rps2 = tn / two.seconds;
    console.log(
      `throughput on PostgreSQL, concurrency 16: one replica ${rps1.toFixed(0)} req/s, two replicas ${rps2.toFixed(0)} req/s (${(rps2 / rps1).toFixed(2)}×; this machine has ${(await import('node:os')).availableParallelism()} cores shared by the client, the upstream, PostgreSQL and the replicas)`,
    );
    const check = new PostgresStore(db);
    const lines = Number(check.report([], {})[0]!.requests);
    check.close();
    console.log(`  ledger on PostgreSQL: ${lines} lines (every request of both replicas)`);
  } finally {
    for (const g of gws) g.child.kill();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
