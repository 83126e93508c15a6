// The Store contract on PostgreSQL (a real server: see helpers/postgres.ts), and what is
// particular to it: migrations run once when several replicas start together, and a clear error
// when the database cannot be reached.
import assert from 'node:assert/strict';
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

    it('says which database it cannot reach, without its password', () => {
      assert.throws(
        () => new PostgresStore('postgres://tollgate:s3cret@127.0.0.1:1/nowhere', { connectTimeoutMs: 2000 }),
        (err: Error) =>
          /cannot open the PostgreSQL store at postgres:\/\/tollgate:\*\*\*@127\.0\.0\.1:1\/nowhere/.test(err.message) && !err.message.includes('s3cret'),
      );
    });
  });
}
