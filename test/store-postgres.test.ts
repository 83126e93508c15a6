// The Store contract on PostgreSQL (a real server: see helpers/postgres.ts), and what is
// particular to it: migrations run once when several replicas start together, and a clear error
// when the database cannot be reached.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { PostgresStore } from '../src/store/postgres/index.js';
import { pgMigrations } from '../src/store/postgres/schema.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from './helpers/postgres.js';
import { storeConformance } from './helpers/store-conformance.js';

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

    it('says which database it cannot reach, without its password', () => {
      assert.throws(
        () => new PostgresStore('postgres://tollgate:s3cret@127.0.0.1:1/nowhere', { connectTimeoutMs: 2000 }),
        (err: Error) =>
          /cannot open the PostgreSQL store at postgres:\/\/tollgate:\*\*\*@127\.0\.0\.1:1\/nowhere/.test(err.message) && !err.message.includes('s3cret'),
      );
    });
  });
}
