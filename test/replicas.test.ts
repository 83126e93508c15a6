// Gateway replicas on PostgreSQL, with the faults a fleet meets: the database stopped under
// load and started again, a replica started while it is down, two replicas sharing the
// ledger (every line once, a revocation on one refused by the other within a second), and a
// replica killed with SIGKILL mid-load. A real PostgreSQL server (helpers/postgres.ts) and the
// real `tollgate serve` where a process must die.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import pgDriver from 'pg';
import { mintKey } from '../src/identity/keys.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { packageRoot } from '../src/util/paths.js';
import { serve } from './helpers/cli.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from './helpers/postgres.js';

const skip = postgresUnavailable();
let pg: TestPostgres | null = null;
let up: FakeAnthropic;

before(async () => {
  if (skip) return;
  pg = await startPostgres();
  up = await new FakeAnthropic().start();
  // Streams that take a little while, so requests are in flight when a fault hits.
  up.fallback = { kind: 'stream', chunkSize: 200, delayMs: 2 };
});
after(async () => {
  await up?.stop();
  await pg?.stop();
});

const CLAUDE = resolve(packageRoot(), 'node_modules', '.bin', 'claude');

/** `claude -p` against a replica, with a scratch HOME (offline, loopback only). */
async function claudeP(url: string, token: string): Promise<{ is_error: boolean; result: string; session_id: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(ANTHROPIC_|CLAUDE_|AWS_|GOOGLE_|CLOUD_ML|VERTEX_|OTEL_|FAKETIME_SHARED|NODE_TEST_CONTEXT)/.test(k)) env[k] = v;
  const home = mkdtempSync(join(tmpdir(), 'tollgate-replica-claude-'));
  try {
    const { stdout } = await promisify(execFile)(CLAUDE, ['-p', 'say hello', '--output-format', 'json'], {
      env: { ...env, HOME: home, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', ANTHROPIC_BASE_URL: url, ANTHROPIC_AUTH_TOKEN: token },
      cwd: home,
      timeout: 90_000,
    });
    return JSON.parse(stdout) as { is_error: boolean; result: string; session_id: string };
  } finally {
    rmSync(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(url: string, secret: string): Promise<{ status: number; id: string; text: string }> {
  const r = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}`, 'anthropic-version': '2023-06-01' },
    body: claudeBody(2000),
  });
  const text = await r.body.text();
  return { status: r.statusCode, id: String(r.headers['x-tollgate-request-id'] ?? ''), text };
}

async function health(url: string): Promise<{ status: number; body: { status: string; problems: string[]; spool?: { lines: number; down: string | null } } }> {
  const r = await request(`${url}/health`);
  return { status: r.statusCode, body: (await r.body.json()) as never };
}

/** Requests in `loops` parallel loops until stop() — the ids of those answered 200. */
function load(urls: string[], secret: string, loops: number) {
  const ok: string[] = [];
  const failed: string[] = [];
  let stopped = false;
  const runs = Array.from({ length: loops }, async (_, i) => {
    for (let n = 0; !stopped; n++) {
      const url = urls[(i + n) % urls.length]!;
      try {
        const r = await post(url, secret);
        if (r.status === 200) ok.push(r.id);
        else failed.push(`${r.status} ${r.text.slice(0, 200)}`);
      } catch (err) {
        failed.push((err as Error).message);
        await sleep(20);
      }
    }
  });
  return {
    ok,
    failed,
    async stop() {
      stopped = true;
      await Promise.all(runs);
    },
  };
}

/** Waits until each replica has shipped its spool (lines reach PostgreSQL just after their
 * response, from the spool). */
async function drained(...urls: string[]): Promise<void> {
  for (const u of urls) await until(`${u} shipped its spool`, async () => (await health(u)).body.spool?.lines === 0);
}

/** Every id once in the ledger, and the rollups agree (no line counted twice); `exact`: and no
 * other line. */
function assertLedgerHolds(db: string, ids: string[], exact = true): void {
  const s = new PostgresStore(db);
  try {
    const lines = s.queryLedger({ endpoint: 'messages' });
    const inLedger = new Set(lines.map((l) => l.id));
    const missing = ids.filter((id) => !inLedger.has(id));
    assert.deepEqual(missing, [], `${missing.length} answered requests have no ledger line`);
    if (exact) assert.equal(lines.length, new Set(ids).size, 'no line without an answered request, none twice');
    assert.equal(Number(s.report([], { endpoint: 'messages' })[0]!.requests), lines.length, 'rollups count each line once');
  } finally {
    s.close();
  }
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('gateway replicas on PostgreSQL', { skip: skip ? `no PostgreSQL here: ${skip}` : false }, () => {
  let db = '';
  let secret = '';

  it('PostgreSQL stopped for 30 s under load and started again: served from the spool, budgets held by policy, no line lost or doubled', async () => {
    db = await pg!.database();
    // bea has a hard budget (ann none): while the database is down her requests are admitted
    // within this replica's claim on it, then refused (store.on_failure: closed) until it is back.
    const g = await startGateway(`${upstreamYaml(up.url)}budgets:\n  - { user: bea, period: day, limit_usd: 1000 }\n`, { store: `postgres: "${db}"` });
    try {
      secret = g.key('ann', 'web').secret;
      const bea = g.key('bea', 'web').secret;
      const l = load([g.url], secret, 4);
      const lb = load([g.url], bea, 1);
      await until('some answers', async () => l.ok.length >= 20 && lb.ok.length >= 5);
      pg!.outage!.down();
      const downAt = Date.now();
      const [annAtDown, beaAtDown] = [l.ok.length, lb.ok.length];
      const h = await until('the outage noticed', async () => {
        const x = await health(g.url);
        return x.body.spool?.down ? x : null;
      });
      assert.equal(h.status, 200, 'still ready: lines are durable in the spool');
      assert.equal(h.body.status, 'degraded');
      assert.ok(h.body.problems.some((p) => /^postgres: unreachable/.test(p)));
      await until('bea refused once her claim is used up or expired', async () => lb.failed.length > 0, 25_000);
      await sleep(Math.max(0, 30_000 - (Date.now() - downAt)));
      assert.ok(l.ok.length - annAtDown >= 100, `ann served while PostgreSQL was down (${l.ok.length - annAtDown})`);
      assert.ok(lb.ok.length > beaAtDown, 'bea served within the claim at first');
      assert.ok(
        lb.failed.every((f) => /^503 .*TG_STORE_UNAVAILABLE: the daily budget of user bea cannot be checked/.test(f)),
        lb.failed.slice(0, 3).join('\n'),
      );
      assert.ok((await health(g.url)).body.spool!.lines > 0, 'lines wait in the spool');
      pg!.outage!.up();
      const beaAtUp = lb.ok.length;
      await until('bea served again', async () => lb.ok.length > beaAtUp + 2, 20_000);
      await l.stop();
      await lb.stop();
      assert.deepEqual(l.failed, [], 'no request of ann failed');
      await until('the spool shipped', async () => {
        const x = await health(g.url);
        return !x.body.spool!.down && x.body.spool!.lines === 0;
      });
      assertLedgerHolds(db, [...l.ok, ...lb.ok], false);
      const s = new PostgresStore(db);
      try {
        // Exactly the answered requests (bea's refusals have their lines too, at no cost).
        assert.equal(s.queryLedger({ endpoint: 'messages' }).filter((x) => x.http_status === 200).length, l.ok.length + lb.ok.length);
      } finally {
        s.close();
      }
    } finally {
      await g.stop();
    }
  });

  it('a replica started while PostgreSQL is down: not ready and 503 (retry) until it is back, then serves', async () => {
    pg!.outage!.down();
    let g: TestGateway | null = null;
    try {
      g = await startGateway(upstreamYaml(up.url), { store: `postgres: "${db}"` });
      const h = await health(g.url);
      assert.equal(h.status, 503, 'not ready: it cannot know keys or budgets yet');
      assert.ok(h.body.problems.some((p) => /^postgres: /.test(p)));
      const r = await post(g.url, secret);
      assert.equal(r.status, 503);
      assert.match(r.text, /TG_STORE_UNAVAILABLE: the store is unreachable/);
    } finally {
      pg!.outage!.up();
    }
    try {
      const served = await until('served once PostgreSQL is back', async () => {
        const r = await post(g.url, secret);
        return r.status === 200 ? r : null;
      });
      await drained(g.url);
      const s = new PostgresStore(db);
      try {
        assert.equal(s.queryLedger({}).filter((x) => x.id === served.id).length, 1);
      } finally {
        s.close();
      }
      assert.equal((await health(g.url)).status, 200);
    } finally {
      await g.stop();
    }
  });

  it('two replicas share the ledger and keys (load and the real Claude Code CLI on both): every line once; a key revoked on one is refused by the other within a second', async () => {
    const dbTwo = await pg!.database();
    const a = await startGateway(upstreamYaml(up.url), { store: `postgres: "${dbTwo}"` });
    const b = await startGateway(upstreamYaml(up.url), { store: `postgres: "${dbTwo}"` });
    try {
      const k = a.key('bob', 'web');
      const l = load([a.url, b.url], k.secret, 8);
      // The real Claude Code CLI, one run against each replica, while the load runs on both.
      const runs = existsSync(CLAUDE) ? await Promise.all([claudeP(a.url, k.secret), claudeP(b.url, k.secret)]) : [];
      await until('answers from both', async () => l.ok.length >= 60);
      await l.stop();
      assert.deepEqual(l.failed, []);
      await drained(a.url, b.url);
      const s = new PostgresStore(dbTwo);
      try {
        for (const r of runs) {
          assert.equal(r.is_error, false, r.result);
          const lines = s.queryLedger({}).filter((x) => x.session_id === r.session_id && x.endpoint === 'messages');
          assert.ok(lines.length >= 1, "Claude Code's requests are in the shared ledger");
          assert.ok(lines.every((x) => x.user === 'bob'));
          for (const x of lines) l.ok.push(x.id);
        }
      } finally {
        s.close();
      }
      assertLedgerHolds(dbTwo, l.ok);
      a.gw.ctx.store.revokeKey(k.id, Date.now());
      const t0 = Date.now();
      await until('refused on the other replica', async () => (await post(b.url, k.secret)).status === 401, 1000);
      assert.ok(Date.now() - t0 < 1000);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a budget worth ~3 requests across three replicas and 30 parallel streams: at most one request over, as with one gateway', async () => {
    const dbBudget = await pg!.database();
    const gs = [0, 1, 2].map(() => startGateway(upstreamYaml(up.url), { store: `postgres: "${dbBudget}"` }));
    const [a, b, c] = await Promise.all(gs);
    try {
      const k = a!.key('dee', 'web');
      const first = await post(a!.url, k.secret);
      assert.equal(first.status, 200);
      await drained(a!.url);
      const s = new PostgresStore(dbBudget);
      const cost = s.queryLedger({ user: 'dee' })[0]!.cost_nanousd;
      assert.ok(cost > 0);
      const limit = Math.round(4.5 * cost);
      const t = Date.now();
      s.upsertBudget({
        id: 'bud_dee',
        scope: 'user',
        scope_value: 'dee',
        period: 'day',
        limit_nanousd: limit,
        mode: 'hard',
        alert_at: [],
        created_at: t,
        updated_at: t,
      });
      // Every replica has picked the budget up (within a poll).
      for (const g of [a!, b!, c!]) await until('the budget seen', async () => g.gw.ctx.spend.budgets.snapshot().some((x) => x.def.id === 'bud_dee'));
      const urls = [a!.url, b!.url, c!.url];
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => post(urls[i % 3]!, k.secret)));
      const served = results.filter((r) => r.status === 200).length;
      const refused = results.filter((r) => r.status === 429).length;
      assert.equal(served + refused, 30, results.map((r) => r.status).join(','));
      await drained(...urls);
      let spent = s.spend('user', 'dee', 0, Number.MAX_SAFE_INTEGER);
      assert.ok(spent <= limit + cost, `spent ${spent} > limit ${limit} + one request (${cost}); ${served} served`);
      assert.ok(served >= 2, `the budget was used (${served} served besides the first)`);
      // Then one by one, round the replicas: it fills up to the limit and stops, as one gateway does.
      for (let i = 0; i < 12; i++) await post(urls[i % 3]!, k.secret);
      await drained(...urls);
      spent = s.spend('user', 'dee', 0, Number.MAX_SAFE_INTEGER);
      s.close();
      assert.ok(spent >= limit && spent <= limit + cost, `spent ${spent}: the limit ${limit} reached, at most one request (${cost}) over`);
    } finally {
      await Promise.all([a, b, c].map((g) => g!.stop()));
    }
  });

  it('rate limits count across replicas: 10 requests a minute for a user, whichever replica they reach', async () => {
    const dbRate = await pg!.database();
    const yaml = `${upstreamYaml(up.url)}rate_limits:\n  - { user: rae, rpm: 10 }\n`;
    const [a, b] = await Promise.all([0, 1].map(() => startGateway(yaml, { store: `postgres: "${dbRate}"` })));
    try {
      const k = a!.key('rae', 'web');
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) {
        statuses.push((await post([a!.url, b!.url][i % 2]!, k.secret)).status);
        // Replicas share their counts on each poll (every 50 ms in these tests).
        const polls = [a!.gw.polls, b!.gw.polls];
        await until('both polled', async () => a!.gw.polls > polls[0]! + 1 && b!.gw.polls > polls[1]! + 1);
      }
      assert.deepEqual(
        statuses,
        Array.from({ length: 16 }, (_, i) => (i < 10 ? 200 : 429)),
        'ten in the minute across both replicas (each alone would have allowed ten)',
      );
    } finally {
      await Promise.all([a!.stop(), b!.stop()]);
    }
  });

  it('PostgreSQL reachable but refusing ledger lines: served on (degraded), lines kept in the spool, shipped once it takes them', async () => {
    const own = await pg!.database();
    const k = mintKey({ user: 'rex', team: 'ops', project: null }, Date.now());
    const s = new PostgresStore(own);
    s.insertKey(k.record);
    s.close();
    const raw = new pgDriver.Client({ connectionString: own });
    await raw.connect();
    const g = await startGateway(upstreamYaml(up.url), { store: `postgres: "${own}"` });
    try {
      await raw.query(`CREATE FUNCTION tg_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$`);
      await raw.query('CREATE TRIGGER tg_test_refuse BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION tg_test_refuse()');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await post(g.url, k.secret);
        assert.equal(r.status, 200, r.text);
        ids.push(r.id);
      }
      const h = await until('the refusal on /health', async () => {
        const x = await health(g.url);
        return x.body.problems.some((p) => /^postgres: ledger lines refused \(refused by a test trigger\)/.test(p)) ? x : null;
      });
      assert.equal(h.status, 200, 'still ready: the lines are durable in the spool');
      assert.equal(h.body.status, 'degraded');
      assert.ok(h.body.spool!.lines >= 1, 'kept in the spool');
      assert.equal(h.body.spool!.down, null, 'not an outage');
      await raw.query('DROP TRIGGER tg_test_refuse ON ledger');
      await drained(g.url);
      assertLedgerHolds(own, ids);
      assert.equal((await health(g.url)).body.status, 'ok');
    } finally {
      await g.stop();
      await raw.end();
    }
  });

  it('a replica killed with SIGKILL mid-load: every answered request has its line', async () => {
    const dbKill = await pg!.database();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-kill-'));
    const cfg = join(dir, 'tollgate.yaml');
    writeFileSync(cfg, `store: { postgres: "${dbKill}" }\nserver: { host: 127.0.0.1, port: 0 }\n${upstreamYaml(up.url)}`);
    const s = new PostgresStore(dbKill);
    const { mintKey } = await import('../src/identity/keys.js');
    const k = mintKey({ user: 'cy', team: 'web' }, Date.now());
    s.insertKey(k.record);
    s.close();
    const victim = await serve(['--config', cfg], { cwd: dir });
    const other = await startGateway(upstreamYaml(up.url), { store: `postgres: "${dbKill}"` });
    try {
      const l = load([victim.url, other.url], k.secret, 8);
      await until('answers from both', async () => l.ok.length >= 40);
      victim.child.kill('SIGKILL');
      await sleep(300);
      await l.stop();
      // Its spool holds what it answered but had not shipped yet: started again on the same
      // spool, it ships those first.
      const again = await serve(['--config', cfg], { cwd: dir });
      try {
        await drained(again.url, other.url);
      } finally {
        again.child.kill('SIGKILL');
      }
      // Every request that was answered is in the ledger.
      // (Requests the kill cut may have lines too: metered up to the cut, by the survivor's
      // view they failed. Those are not counted here.)
      assertLedgerHolds(dbKill, l.ok, false);
    } finally {
      victim.child.kill('SIGKILL');
      await other.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
