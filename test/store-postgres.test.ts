// The Store contract on PostgreSQL (a real server: see helpers/postgres.ts), and what is
// particular to it: migrations run once when several replicas start together, and a clear error
// when the database cannot be reached.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { mintKey } from '../src/identity/keys.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { tollgate } from './helpers/cli.js';
import { pgMigrations } from '../src/store/postgres/schema.js';
import { LEDGER_COLS } from '../src/store/postgres/ledger-sql.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from './helpers/postgres.js';
import { randomLines, rng, storeConformance } from './helpers/store-conformance.js';

/** A config naming the PostgreSQL store, with its password only in the environment. */
function writeConfig(dir: string, url: string): string {
  const f = join(dir, 'pg.yaml');
  writeFileSync(f, `store: { postgres: "${url.replace('tollgate@', 'tollgate:s3cret@')}" }\nupstreams:\n  - { name: a, type: anthropic, api_key: k }\n`);
  return f;
}

const skip = postgresUnavailable();
let server: TestPostgres | null = null;
let url = '';

before(async () => {
  if (!skip) server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

if (skip) {
  describe('PostgreSQL store', { skip: `no PostgreSQL here: ${skip}` }, () => {
    it('skipped', () => {});
  });
} else {
  storeConformance('PostgreSQL', {
    fresh: async () => {
      url = await server!.database();
    },
    open: () => new PostgresStore(url),
  });

  describe('PostgreSQL store', () => {
    it('replicas opening one new database together migrate it once', async () => {
      const db = await server!.database();
      const stores = [new PostgresStore(db), new PostgresStore(db), new PostgresStore(db)];
      try {
        assert.deepEqual(
          stores.map((s) => s.schemaVersion()),
          stores.map(() => pgMigrations.length),
        );
        assert.deepEqual(stores[0]!.migrate(), [], 'nothing left to apply');
      } finally {
        for (const s of stores) s.close();
      }
    });

    it('two writers at once: a reader following the ledger by commit sequence sees every line exactly once', async () => {
      const db = await server!.database();
      new PostgresStore(db).close();
      const storeModule = new URL('../src/store/postgres/index.js', import.meta.url).href;
      const helper = new URL('./helpers/store-conformance.js', import.meta.url).href;
      // Each writer: 150 one-line batches (the gateway's flushes under light load), as fast as it can.
      const writer = (name: string) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              '--input-type=module',
              '-e',
              `const { PostgresStore } = await import(${JSON.stringify(storeModule)});
               const { ledgerLine } = await import(${JSON.stringify(helper)});
               const s = new PostgresStore(process.argv[1]);
               for (let i = 0; i < 150; i++) s.writeBatch([ledgerLine({ id: '${name}' + i, ts: 1000 + i, cost_nanousd: 1 })], new Map());
               s.close();`,
              db,
            ],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let err = '';
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${name} exited ${code}: ${err}`))));
        });
      const reader = new PostgresStore(db);
      const seen: string[] = [];
      let cursor = 0;
      let done = false;
      const writers = Promise.all([writer('a'), writer('b')]).finally(() => (done = true));
      try {
        for (;;) {
          const finished = done;
          for (const l of reader.ledgerTail(cursor, 1000)) {
            seen.push(l.id);
            cursor = l.seq;
          }
          if (finished) break;
          await new Promise((r) => setImmediate(r));
        }
        await writers;
        for (const l of reader.ledgerTail(cursor, 1000)) seen.push(l.id);
        assert.equal(seen.length, 300, 'no line missed or seen twice');
        assert.equal(new Set(seen).size, 300);
      } finally {
        reader.close();
      }
    });

    it('tollgate store copy moves a SQLite installation: every table, rerunnable without duplicates, checked; tollgate migrate', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-copy-'));
      const file = join(dir, 'tollgate.db');
      const src = new SqliteStore(file);
      const r = rng(11);
      const lines = randomLines(r, 3000, 'c');
      src.writeBatch(lines.slice(0, 2000), new Map());
      const key = mintKey({ user: 'ann', team: 'web', project: null }, 1000);
      src.insertKey(key.record);
      src.revokeKey(key.record.id, 2000);
      src.upsertBudget({
        id: 'bud_x',
        scope: 'team',
        scope_value: 'web',
        period: 'month',
        limit_nanousd: 5e9,
        mode: 'hard',
        alert_at: [80],
        created_at: 1,
        updated_at: 2,
      });
      src.appendAudit({ ts: 5, actor: 'admin', action: 'keys.create', target: key.record.id, details: { user: 'ann' } });
      src.insertSession({
        id: 'ses1',
        subject: 'u1',
        email: 'ann@example.com',
        name: 'Ann',
        groups: ['eng'],
        team: 'web',
        idp_refresh_token: null,
        created_at: 1,
        refreshed_at: 1,
        revoked_at: null,
      });
      src.insertToken({ hash: 'h'.repeat(64), session_id: 'ses1', kind: 'refresh', expires_at: 9e12, used_at: null, revoked_at: null });
      const secret = src.secret('access_token_hs256', () => 'the-old-secret');
      // Some days pruned: their totals live only in the rollups, and must move too.
      const horizon = Math.min(...lines.map((l) => l.ts)) + 3 * 86_400_000;
      src.prune(horizon);
      src.close();

      const db = await server!.database();
      const status = tollgate(['migrate', '--status'], { cwd: dir, env: { TOLLGATE_CONFIG: writeConfig(dir, db) } });
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`schema version 0 of ${pgMigrations.length} \\(${pgMigrations.length} to apply: tollgate migrate\\)`));
      const migrated = tollgate(['migrate'], { cwd: dir, env: { TOLLGATE_CONFIG: writeConfig(dir, db) } });
      assert.match(migrated.stdout, new RegExp(`applied migrations? ${pgMigrations.map((_, i) => i + 1).join(', ')}; schema version ${pgMigrations.length}`));
      assert.doesNotMatch(migrated.stdout + migrated.stderr, /s3cret/);

      const copy = () => tollgate(['store', 'copy', '--from', `sqlite:${file}`, '--to', db], { cwd: dir });
      let c = copy();
      assert.equal(c.status, 0, c.stderr);
      assert.match(c.stdout, /every source line is in the target/);

      const check = () => {
        const a = new SqliteStore(file);
        const b = new PostgresStore(db);
        try {
          for (const by of [['team', 'model'], ['day'], ['user', 'key'], []] as const)
            assert.deepEqual(b.report([...by], {}), a.report([...by], {}), `report by ${by.join(',') || 'nothing'}`);
          assert.deepEqual(
            b.queryLedger({}).map((l) => l.id),
            a.queryLedger({}).map((l) => l.id),
          );
          assert.deepEqual(b.queryLedger({ limit: 5 }), a.queryLedger({ limit: 5 }), 'lines identical, field by field');
          assert.deepEqual(b.listKeys(), a.listKeys());
          assert.deepEqual(b.listBudgets(), a.listBudgets());
          assert.deepEqual(b.listAudit(10), a.listAudit(10));
          assert.deepEqual(b.findSession('ses1'), a.findSession('ses1'));
          assert.deepEqual(b.findToken('h'.repeat(64)), a.findToken('h'.repeat(64)));
          assert.equal(
            b.secret('access_token_hs256', () => 'new'),
            secret,
          );
          // The commit sequence follows the source's order, so budgets tail it from where they were.
          assert.equal(b.ledgerTail(0, 10_000).length, a.ledgerTail(0, 10_000).length);
        } finally {
          a.close();
          b.close();
        }
      };
      check();
      // More lines arrive at the old gateway; the copy is rerun and takes exactly those.
      const more = new SqliteStore(file);
      more.writeBatch(lines.slice(2000), new Map());
      more.close();
      c = copy();
      assert.equal(c.status, 0, c.stderr);
      assert.match(c.stdout, /ledger\s+\d+ read\s+1000 written/);
      check();
      rmSync(dir, { recursive: true, force: true });
    });

    it('the ledger is partitioned by month: an older database moves its lines over, months get their partition on the first line, prune drops whole months', async () => {
      const db = await server!.database();
      const raw = new pg.Client({ connectionString: db });
      await raw.connect();
      const serverMonth = (await raw.query<{ p: string }>("SELECT 'ledger_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') AS p")).rows[0]!.p;
      const partitions = async () =>
        (
          await raw.query<{ name: string }>(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ledger'::regclass ORDER BY 1",
          )
        ).rows
          .map((r) => r.name)
          // The migration also makes the server's current month (by its clock, not this one's).
          .filter((n) => n !== serverMonth);
      try {
        // A database left at migration 2 (before partitions), with lines over three months.
        for (let v = 0; v < 2; v++) await raw.query(pgMigrations[v]!);
        await raw.query('CREATE TABLE IF NOT EXISTS tollgate_schema (version INTEGER NOT NULL, applied_at BIGINT NOT NULL)');
        await raw.query('INSERT INTO tollgate_schema VALUES (1, 0), (2, 0)');
        const month = (m: number, day: number) => Date.UTC(2025, m, day, 12);
        const old = [
          ...randomLines(rng(7), 40, 'jan').map((l, i) => ({ ...l, ts: month(0, 1 + (i % 28)) })),
          ...randomLines(rng(8), 30, 'feb').map((l, i) => ({ ...l, ts: month(1, 1 + (i % 28)) })),
          ...randomLines(rng(9), 20, 'mar').map((l, i) => ({ ...l, ts: month(2, 1 + (i % 28)) })),
        ];
        // The columns a migration-2 ledger has (service_tier came with migration 4).
        const v2 = LEDGER_COLS.split(', ')
          .filter((c) => c !== '"service_tier"')
          .join(', ');
        await raw.query(`INSERT INTO ledger (${v2}) SELECT ${v2} FROM jsonb_populate_recordset(NULL::ledger, $1)`, [JSON.stringify(old)]);

        const s = new PostgresStore(db);
        try {
          assert.equal(s.schemaVersion(), pgMigrations.length);
          assert.deepEqual(await partitions(), ['ledger_202501', 'ledger_202502', 'ledger_202503']);
          const moved = s.queryLedger({});
          assert.equal(moved.length, old.length, 'every line moved over');
          assert.equal(
            moved.reduce((a, l) => a + l.cost_nanousd, 0),
            old.reduce((a, l) => a + l.cost_nanousd, 0),
          );
          // A line in a month without a partition makes it; the same line again is kept once.
          const later = randomLines(rng(10), 1, 'jun').map((l) => ({ ...l, ts: month(5, 3) }));
          s.writeBatch(later, new Map());
          s.writeBatch(later, new Map());
          assert.deepEqual(await partitions(), ['ledger_202501', 'ledger_202502', 'ledger_202503', 'ledger_202506']);
          assert.equal(s.queryLedger({ since: month(5, 1) }).length, 1);
          // This store now knows January's partition (a line shipped again)...
          s.writeBatch([old[0]!], new Map());
          const before = s.report(['model'], {});
          // ...when another process prunes before 1 March: January and February are dropped whole.
          const other = new PostgresStore(db);
          const r = other.prune(Date.UTC(2025, 2, 1));
          other.close();
          assert.equal(r.deleted, 70);
          assert.deepEqual(await partitions(), ['ledger_202503', 'ledger_202506']);
          assert.equal(s.queryLedger({}).length, 21);
          assert.deepEqual(s.report(['model'], {}), before, 'totals over whole days stay in the rollups');
          // A late line for a dropped month (a spool shipped after the prune) still lands.
          s.writeBatch(
            randomLines(rng(11), 1, 'late').map((l) => ({ ...l, ts: month(0, 9) })),
            new Map(),
          );
          assert.ok((await partitions()).includes('ledger_202501'));
          assert.equal(s.queryLedger({ until: Date.UTC(2025, 1, 1) }).length, 1);
        } finally {
          s.close();
        }
      } finally {
        await raw.end();
      }
    });

    it('says which database it cannot reach, without its password', () => {
      assert.throws(
        () => new PostgresStore('postgres://tollgate:s3cret@127.0.0.1:1/nowhere', { connectTimeoutMs: 2000 }),
        (err: Error) =>
          /cannot open the PostgreSQL store at postgres:\/\/tollgate:\*\*\*@127\.0\.0\.1:1\/nowhere/.test(err.message) && !err.message.includes('s3cret'),
      );
    });
  });
}
