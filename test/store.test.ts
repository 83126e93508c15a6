// The Store contract on the embedded SQLite store, and what is particular to it: rollups
// filled when an older store file is migrated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { migrations } from '../src/store/migrations.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { randomLines, recompute, rng, storeConformance } from './helpers/store-conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
let file = '';

storeConformance('SQLite', {
  fresh: () => {
    file = join(dir, `s${n++}.db`);
  },
  open: () => new SqliteStore(file),
});

describe('SQLite store', () => {
  it('a store from before rollups gets them filled from its lines when it is opened', () => {
    const f = join(dir, 'old.db');
    const db = new Database(f);
    for (let v = 0; v < 7; v++) db.exec(migrations[v] as string);
    db.pragma('user_version = 7');
    const lines = randomLines(rng(3), 300, 'o');
    const ins =
      db.prepare(`INSERT INTO ledger (id, ts, key_id, user, team, project, session_id, endpoint, model_requested, model_served, upstream, route, region,
      http_status, streamed, input_tokens, output_tokens, cache_read_input_tokens, cache_creation_5m_input_tokens, cache_creation_1h_input_tokens,
      web_search_requests, web_fetch_requests, cost_nanousd, priced, duration_ms, client_aborted, attempts)
      VALUES (@id, @ts, @key_id, @user, @team, @project, @session_id, @endpoint, @model_requested, @model_served, @upstream, @route, @region,
      @http_status, 1, @input_tokens, @output_tokens, @cache_read_input_tokens, @cache_creation_5m_input_tokens, @cache_creation_1h_input_tokens,
      @web_search_requests, @web_fetch_requests, @cost_nanousd, @p, @duration_ms, 0, '[]')`);
    for (const l of lines) ins.run({ ...l, p: l.priced ? 1 : 0 });
    db.close();
    const s = new SqliteStore(f);
    try {
      const want = recompute(lines, ['team', 'model'], 0, Number.MAX_SAFE_INTEGER);
      const hourRows = Number(s.db.prepare('SELECT COUNT(*) FROM rollup_hour').pluck().get());
      assert.ok(hourRows > 0, 'the hour rollup was filled');
      const got = new Map(
        s.report(['team', 'model'], { since: 0, until: Date.UTC(2030, 0, 1) }).map((r) => [JSON.stringify([r.team, r.model]), Number(r.cost_nanousd)]),
      );
      assert.deepEqual(got, new Map([...want].map(([k, v]) => [k, v.cost_nanousd])));
    } finally {
      s.close();
    }
  });
});
