// The request path under faults, each from a repro: bad input that costs money, clients that
// leave or dawdle, a shutdown mid-stream, a failing store, broken upstream responses,
// credential failures and retry storms, and credentials in URLs. Fakes misbehave on purpose.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import Anthropic from '@anthropic-ai/sdk';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { AWS_TEST_CREDS, FakeBedrock } from './helpers/fake-bedrock.js';
import { claudeBody, startGateway, storeFor, storeLocation, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { serve, tollgate } from './helpers/cli.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { createLogger } from '../src/util/log.js';
import { redactText, redactUrl } from '../src/util/redact.js';
import { PriceBook } from '../src/metering/prices.js';
import { loadCatalog } from '../src/routing/catalog.js';
import { emptyUsage } from '../src/metering/usage.js';
import type { LedgerLine } from '../src/store/types.js';

let fake: FakeAnthropic;
const book = PriceBook.load(loadCatalog());
before(async () => {
  fake = await new FakeAnthropic().start();
});
after(() => fake.stop());
beforeEach(() => {
  fake.fallback = { kind: 'stream' };
});

async function post(gw: { url: string }, key: string, body: Buffer | string, headers: Record<string, string> = {}) {
  const res = await request(gw.url + '/v1/messages', { method: 'POST', body, headers: { authorization: `Bearer ${key}`, ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

function lines(g: TestGateway): LedgerLine[] {
  return g.gw.ctx.store.queryLedger({});
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends raw bytes on a new connection; resolves with everything received once the server
 * ends it (the client never closes first: a server that leaves it open fails the deadline). */
function raw(port: number, send: (s: Socket) => void, deadlineMs = 20_000): Promise<{ data: string; closedBy: 'server' | 'deadline'; error: string | null }> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    let error: string | null = null;
    const t = setTimeout(() => {
      s.destroy();
      resolve({ data, closedBy: 'deadline', error });
    }, deadlineMs);
    s.on('connect', () => send(s));
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    const done = () => {
      clearTimeout(t);
      s.destroy();
      resolve({ data, closedBy: 'server', error });
    };
    s.on('end', done);
    s.on('close', done);
  });
}

describe('bad input that costs money', () => {
  let t: TestGateway;
  const logged: string[] = [];
  before(async () => {
    t = await startGateway(upstreamYaml(fake.url) + 'policy: { default: { allow: [haiku] } }\n', { logger: createLogger('debug', (l) => logged.push(l)) });
  });
  after(() => t.stop());

  it('refuses a duplicate top-level "model" in either order, escaped or not, before any upstream call', async () => {
    const k = t.key('dupe');
    const msgs = '"messages":[{"role":"user","content":"hi"}]';
    const bodies = [
      // Claude Code's shape (model first), the cheap allowed model first: the fast path.
      `{"model":"claude-haiku-4-5","max_tokens":10,${msgs},"stream":true,"model":"claude-opus-4-6"}`,
      // The other order, scanned.
      `{"max_tokens":10,"model":"claude-opus-4-6",${msgs},"model":"claude-haiku-4-5"}`,
      // A key that only decodes to "model".
      `{"model":"claude-haiku-4-5",${msgs},"mod\\u0065l":"claude-opus-4-6"}`,
    ];
    const calls = fake.requests.length;
    for (const b of bodies) {
      const r = await post(t, k.secret, b);
      assert.equal(r.status, 400, b);
      assert.match(r.text, /TG_BAD_REQUEST: \\"model\\" appears more than once at the top level/);
      assert.equal(r.headers['x-should-retry'], 'false');
    }
    assert.equal(fake.requests.length, calls, 'nothing reached the upstream');
    // "model" nested in a tool's schema is no duplicate: served, priced as the top-level one.
    const nested = `{"model":"claude-haiku-4-5","max_tokens":10,${msgs},"stream":true,"tools":[{"name":"pick","input_schema":{"type":"object","properties":{"model":{"type":"string"}}}}]}`;
    const r = await post(t, k.secret, nested);
    assert.equal(r.status, 200, r.text);
    assert.equal(lines(t).at(-1)!.model_requested, 'claude-haiku-4-5');
  });

  it('validates model names before they are logged, stored or used as keys', async () => {
    const k = t.key('names');
    const huge = 'claude-' + 'x'.repeat(1024 * 1024);
    let r = await post(t, k.secret, JSON.stringify({ model: huge, max_tokens: 1, messages: [] }));
    assert.equal(r.status, 400);
    assert.ok(r.text.length < 600, `the answer quotes a prefix only (${r.text.length} bytes)`);
    assert.match(r.text, /model: 1048583 characters, at most 256/);
    r = await post(t, k.secret, JSON.stringify({ model: 'claude-haiku-4-5\n2026-01-01T00:00:00Z ERROR forged', max_tokens: 1, messages: [] }));
    assert.equal(r.status, 400);
    assert.match(r.text, /is not a model id/);
    const stored = lines(t).filter((l) => l.key_id === k.id);
    assert.equal(stored.length, 2);
    assert.ok(stored.every((l) => l.model_requested === null && l.error_code === 'TG_BAD_REQUEST'));
    assert.ok(
      logged.every((l) => !l.includes('forged') && l.length < 10_000),
      'no client model name reached the log',
    );
  });

  it('warns about at most 1,000 distinct unpriced models, and keeps no more', () => {
    let warnings = 0;
    const book = PriceBook.load(loadCatalog(), {}, () => {
      warnings++;
    });
    for (let i = 0; i < 5_000; i++) assert.equal(book.cost(`claude-unknown-${i}`, emptyUsage()).priced, false);
    assert.equal(warnings, 1000);
  });

  it('logs one line per event whatever the message holds', () => {
    const out: string[] = [];
    const log = createLogger('info', (l) => out.push(l));
    log.warn('model "a\nb\r\u001b[31mc" unknown', { also: 'x\ny' });
    assert.equal(out.length, 1);
    assert.ok(![...out[0]!].some((c) => c.charCodeAt(0) < 0x20), JSON.stringify(out[0]));
    assert.match(out[0]!, /model "a\\u000ab\\u000d\\u001b\[31mc" unknown \{"also":"x\\ny"\}/);
  });
});

describe('clients that leave or dawdle', () => {
  let t: TestGateway;
  const logged: string[] = [];
  before(async () => {
    t = await startGateway(upstreamYaml(fake.url), {
      server: 'header_timeout_ms: 300, request_timeout_ms: 600, idle_timeout_ms: 300',
      logger: createLogger('info', (l) => logged.push(l)),
    });
  });
  after(() => t.stop());
  const port = () => Number(new URL(t.url).port);

  it('records a client gone mid-body as a 499 client abort, not a 500 with a stack trace', async () => {
    const k = t.key('leaver');
    const r = await raw(port(), (s) => {
      s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${k.secret}\r\nContent-Length: 100000\r\n\r\n{"model":"claude-`);
      setTimeout(() => s.destroy(), 50);
    });
    assert.equal(r.data, '');
    await until(() => lines(t).some((l) => l.key_id === k.id), 'the ledger line');
    const l = lines(t).find((x) => x.key_id === k.id)!;
    assert.equal(l.http_status, 499);
    assert.equal(l.client_aborted, true);
    assert.equal(l.error_code, null);
    assert.ok(!logged.some((x) => x.includes('unhandled error') || x.includes('TG_INTERNAL')), logged.join('\n'));
  });

  it('closes a connection that sends nothing, or its body too slowly, with 408 — even if the client never closes', async () => {
    const idle = await raw(port(), () => {});
    assert.equal(idle.closedBy, 'server');
    assert.match(idle.data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(idle.data, /TG_REQUEST_TIMEOUT/);
    const k = t.key('slow');
    const slow = await raw(port(), (s) =>
      s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${k.secret}\r\nContent-Length: 1000\r\n\r\n{"mo`),
    );
    assert.equal(slow.closedBy, 'server');
    assert.match(slow.data, /^HTTP\/1\.1 408 /);
    await until(() => t.gw.connections === 0, 'every connection freed');
  });

  it('answers oversized headers with 431, and the answer reaches the client', async () => {
    const many = await raw(port(), (s) =>
      s.write(`GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 10_000 }, (_, i) => `x-h${i}: v\r\n`).join('')}\r\n`),
    );
    assert.match(many.data, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.match(many.data, /TG_HEADERS_TOO_LARGE/);
    const big = await raw(port(), (s) => s.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`));
    assert.match(big.data, /^HTTP\/1\.1 431 /, `got ${JSON.stringify(big.data.slice(0, 60))} (${big.error})`);
    const r = await request(t.url + '/health/live');
    assert.equal(r.statusCode, 200);
    await r.body.text();
  });

  // The test process itself holds the 1,000 client sockets: it needs room for them.
  const ownLimit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);
  it(
    'keeps serving under `ulimit -n 1024` with 1,000 idle connections open',
    { skip: ownLimit >= 4096 ? false : `this process may open only ${ownLimit} files` },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-fd-'));
      const cfg = join(dir, 'tollgate.yaml');
      writeFileSync(cfg, `store: { ${await storeLocation(dir, 't.db')} }\n${upstreamYaml(fake.url)}`);
      const key = /tg_\S+/.exec(tollgate(['keys', 'create', '--user', 'fd', '--config', cfg]).stdout)![0];
      const s = await serve(['--config', cfg], { fdLimit: 1024 });
      const socks: Socket[] = [];
      try {
        const p = Number(new URL(s.url).port);
        await Promise.all(
          Array.from(
            { length: 1000 },
            () =>
              new Promise<void>((resolve) => {
                const c = connect(p, '127.0.0.1', () => resolve());
                c.on('error', () => resolve());
                socks.push(c);
              }),
          ),
        );
        const r = await post(s, key, claudeBody(2000));
        assert.equal(r.status, 200, r.text);
        assert.match(r.text, /event: message_stop/);
        assert.match(s.stderr(), /connection limit reached \(480, server\.max_connections\): closing the longest-idle connections/);
      } finally {
        for (const c of socks) c.destroy();
        s.child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('shutdown', () => {
  let dir: string;
  let cfg: string;
  let key: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-stop-'));
    cfg = join(dir, 'tollgate.yaml');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function start(grace: number) {
    writeFileSync(cfg, `store: { ${await storeLocation(dir, 't.db')} }\nserver: { shutdown_grace_ms: ${grace} }\n${upstreamYaml(fake.url)}`);
    key ??= /tg_\S+/.exec(tollgate(['keys', 'create', '--user', 'stop', '--config', cfg]).stdout)![0];
    return serve(['--config', cfg]);
  }
  /** Starts a streaming request and resolves once its first bytes arrived; `rest` is the body. */
  async function open(url: string): Promise<{ rest: Promise<string> }> {
    const res = await request(url + '/v1/messages', { method: 'POST', body: claudeBody(1000), headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.statusCode, 200);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    const rest = (async () => {
      let text = first.done ? '' : (first.value as Buffer).toString();
      for (;;) {
        const n = await it.next().catch(() => ({ done: true, value: undefined }));
        if (n.done) return text;
        text += (n.value as Buffer).toString();
      }
    })();
    return { rest };
  }
  function exited(child: import('node:child_process').ChildProcess): Promise<number | null> {
    return new Promise((r) => child.once('exit', (code) => r(code)));
  }
  async function ledger(): Promise<LedgerLine[]> {
    const s = await storeFor(dir, 't.db');
    try {
      return s.queryLedger({});
    } finally {
      s.close();
    }
  }

  it('SIGTERM with 20 streams longer than the grace period: they are cut, all 20 lines are written, exit 0', async () => {
    const s = await start(1000);
    // Streams that would run far longer than the grace period (the upstream stalls).
    fake.fallback = { kind: 'stream', stallAfterStart: true, usageStart: { input_tokens: 1234, output_tokens: 1 } };
    const streams = await Promise.all(Array.from({ length: 20 }, () => open(s.url)));
    const exit = exited(s.child);
    s.child.kill('SIGTERM');
    const bodies = await Promise.all(streams.map((x) => x.rest));
    for (const b of bodies) assert.match(b, /event: error\ndata: .*TG_SHUTDOWN: the gateway is shutting down/);
    assert.equal(await exit, 0, s.stderr());
    const cut = (await ledger()).filter((l) => l.error_code === 'TG_SHUTDOWN');
    assert.equal(cut.length, 20);
    const cost = book.cost('claude-opus-5-5', { ...emptyUsage(), input_tokens: 1234, output_tokens: 1 }).nanoUsd;
    assert.ok(cost > 0);
    assert.ok(
      cut.every((l) => l.input_tokens === 1234 && l.cost_nanousd === cost && l.http_status === 200),
      JSON.stringify(cut[0]),
    );
    assert.match(s.stderr(), /cutting 20 requests still in flight after the grace period/);
  });

  it('lets streams that end within the grace period finish; SIGHUP does not stop it', async () => {
    const before = (await ledger()).length;
    const s = await start(60_000);
    fake.fallback = { kind: 'stream', chunkSize: 200, delayMs: 100 };
    const streams = await Promise.all(Array.from({ length: 5 }, () => open(s.url)));
    s.child.kill('SIGHUP');
    await until(() => /SIGHUP ignored/.test(s.stderr()), 'the SIGHUP log line');
    assert.equal(s.child.exitCode, null, 'still running after SIGHUP');
    const exit = exited(s.child);
    s.child.kill('SIGTERM');
    const bodies = await Promise.all(streams.map((x) => x.rest));
    for (const b of bodies) {
      assert.match(b, /event: message_stop/);
      assert.doesNotMatch(b, /event: error/);
    }
    assert.equal(await exit, 0, s.stderr());
    const done = (await ledger()).slice(before);
    assert.equal(done.length, 5);
    assert.ok(done.every((l) => l.http_status === 200 && l.error_code === null && l.stop_reason === 'end_turn'));
  });
});

// SQLite's own failure modes (a full disk, a read-only file, its WAL); PostgreSQL's outage is in
// replicas.test.
describe('the store failing', { skip: process.env.TOLLGATE_TEST_STORE === 'postgres' ? 'SQLite only' : false }, () => {
  /** Fills the store's disk as SQLite sees it: no page may be added. */
  function fill(g: TestGateway): () => void {
    const db = (g.gw.ctx.store as SqliteStore).db;
    db.exec('CREATE TABLE IF NOT EXISTS filler (x BLOB)');
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true })) + 2}`);
    try {
      for (;;) db.prepare('INSERT INTO filler VALUES (randomblob(3000))').run();
    } catch (err) {
      assert.match((err as Error).message, /full/);
    }
    return () => {
      db.pragma('max_page_count = 1073741823');
    };
  }
  async function health(g: TestGateway) {
    const r = await request(g.url + '/health');
    return { status: r.statusCode, body: (await r.body.json()) as { status: string; problems: string[]; ledger: { pending_lines: number } } };
  }

  it("fails closed: the line the store refuses is the store's failure, the next request is 503 with no upstream call, and the line is written once it recovers", async () => {
    const g = await startGateway(upstreamYaml(fake.url));
    const k = g.key('full');
    assert.equal((await post(g, k.secret, claudeBody(500))).status, 200);
    const recover = fill(g);
    fake.fallback = { kind: 'stream', usageStart: { input_tokens: 777, output_tokens: 1 } };
    // A full database still has room on its pages for a few lines; the first line that needs
    // a new page fails, and that response is the one under test.
    let r = await post(g, k.secret, claudeBody(500));
    for (let i = 0; i < 500 && !r.text.includes('TG_STORE_UNAVAILABLE'); i++) r = await post(g, k.secret, claudeBody(500));
    const heldLine = lines(g).length + g.gw.ctx.ledger.pending;
    assert.equal(r.status, 200);
    assert.match(r.text, /event: error\ndata: .*TG_STORE_UNAVAILABLE: the response could not be recorded in the ledger \(database or disk is full\)/);
    assert.doesNotMatch(r.text, /event: message_stop/);
    assert.doesNotMatch(r.text, /upstream/i);
    let h = await health(g);
    assert.equal(h.status, 503);
    assert.match(h.body.problems.join(), /store: writing the ledger failed: database or disk is full/);
    const calls = fake.requests.length;
    const refused = await post(g, k.secret, claudeBody(500));
    assert.equal(refused.status, 503);
    assert.match(refused.text, /TG_STORE_UNAVAILABLE: writing the ledger failed: database or disk is full; nothing is sent upstream/);
    assert.equal(fake.requests.length, calls, 'no upstream call while the store fails');
    recover();
    await until(() => g.gw.ctx.ledger.healthy, 'the store to recover');
    h = await health(g);
    assert.equal(h.status, 200);
    assert.equal(lines(g).length, heldLine, 'the held line was written after recovery');
    assert.equal((await post(g, k.secret, claudeBody(500))).status, 200);
    await g.stop();
  });

  it('fails open when the operator says so: served, loud, and nothing lost after recovery', async () => {
    const logged: string[] = [];
    const o = await startGateway(upstreamYaml(fake.url), { logger: createLogger('info', (l) => logged.push(l)), storeExtra: 'on_failure: open' });
    const k = o.key('open');
    const recover = fill(o);
    fake.fallback = { kind: 'stream', usageStart: { input_tokens: 4242, output_tokens: 1 } };
    let served = 0;
    while (o.gw.ctx.ledger.healthy && served < 500) {
      const r = await post(o, k.secret, claudeBody(500));
      assert.equal(r.status, 200);
      assert.match(r.text, /event: message_stop/);
      served++;
    }
    assert.equal((await post(o, k.secret, claudeBody(500))).status, 200, 'still served');
    served++;
    assert.ok(
      logged.some((l) => /ERROR ledger write failed: .*still serving \(store\.on_failure: open\)/.test(l)),
      logged.join('\n'),
    );
    const h = await health(o);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'degraded');
    recover();
    await until(() => o.gw.ctx.ledger.healthy, 'the store to recover');
    assert.equal(lines(o).filter((l) => l.input_tokens === 4242).length, served, 'every line written after recovery');
    await o.stop();
  });

  it('refuses before anything is spent when the disk is nearly full (store.min_free_mb)', async () => {
    const g = await startGateway(upstreamYaml(fake.url), { storeExtra: 'min_free_mb: 1000000000' });
    const k = g.key('disk');
    await until(() => g.gw.ctx.storeProblem() !== null, 'the disk check');
    const calls = fake.requests.length;
    const r = await post(g, k.secret, claudeBody(500));
    assert.equal(r.status, 503);
    assert.match(r.text, /TG_STORE_UNAVAILABLE: only [\d.]+ MB free on the store's disk \(store\.min_free_mb: 1000000000\)/);
    assert.equal(fake.requests.length, calls);
    assert.equal((await health(g)).status, 503);
    await g.stop();
  });

  it('creates the store and its WAL for the owner only, and tightens files left open', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-perm-'));
    const file = join(dir, 'sub', 't.db');
    let s = new SqliteStore(file);
    s.writeBatch([], new Map());
    s.db.exec('CREATE TABLE IF NOT EXISTS probe (x)');
    for (const f of [file, `${file}-wal`]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
    assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);
    s.close();
    writeFileSync(join(dir, 'old.db'), '');
    chmodSync(join(dir, 'old.db'), 0o644);
    s = new SqliteStore(join(dir, 'old.db'));
    assert.equal(statSync(join(dir, 'old.db')).mode & 0o777, 0o600);
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the WAL bounded under sustained writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-wal-'));
    const file = join(dir, 't.db');
    const limit = 1024 * 1024;
    const s = new SqliteStore(file, { backgroundCheckpoint: true, walLimitBytes: limit });
    const wal = () => {
      try {
        return statSync(`${file}-wal`).size;
      } catch {
        return 0;
      }
    };
    const line = (i: number): LedgerLine => ({
      id: `tg_wal_${i}`,
      ts: i,
      key_id: null,
      user: 'u',
      team: null,
      project: null,
      session_id: 'x'.repeat(200),
      endpoint: 'messages',
      model_requested: 'm',
      model_served: 'm',
      upstream: 'a',
      route: 'anthropic',
      region: null,
      http_status: 200,
      error_type: null,
      error_code: null,
      stop_reason: 'end_turn',
      streamed: true,
      ...emptyUsage(),
      cost_nanousd: 1,
      priced: true,
      ttfb_ms: 1,
      duration_ms: 1,
      client_aborted: false,
      upstream_request_id: null,
      message_id: null,
      upstream_model: null,
      endpoint_type: null,
      attempts: [],
    });
    // About 40 MB of WAL frames written without pause, as at several hundred requests a second.
    let peak = 0;
    for (let b = 0; b < 400; b++) {
      s.writeBatch(
        Array.from({ length: 25 }, (_, i) => line(b * 25 + i)),
        new Map(),
      );
      peak = Math.max(peak, wal());
      await new Promise((r) => setImmediate(r));
    }
    // Once the checkpointer has caught up, the next commit starts the WAL over and the file is
    // truncated to the limit: it does not stay at its peak.
    await until(
      () => {
        s.writeBatch([line(1e6 + Math.floor(Math.random() * 1e6))], new Map());
        return wal() <= limit;
      },
      'the WAL to shrink to its limit',
      30_000,
    );
    assert.ok(wal() <= limit, `WAL ${wal()} bytes (peak ${peak})`);
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('broken upstream responses', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway(upstreamYaml(fake.url));
  });
  after(() => t.stop());

  it('a stream that ends without message_stop: error event to the client, a flagged line with what was metered', async () => {
    const k = t.key('eof');
    fake.next({ kind: 'stream', endBefore: 'message_stop', usageStart: { input_tokens: 300, output_tokens: 1 }, usageEnd: { output_tokens: 40 } });
    const r = await post(t, k.secret, claudeBody(500));
    assert.equal(r.status, 200);
    assert.match(r.text, /event: error\ndata: .*TG_UPSTREAM_INCOMPLETE: upstream \\"anthropic\\" ended the stream without message_stop/);
    const l = lines(t).at(-1)!;
    assert.equal(l.error_code, 'TG_UPSTREAM_INCOMPLETE');
    assert.equal(l.input_tokens, 300);
    assert.equal(l.output_tokens, 40);
    assert.equal(l.cost_nanousd, book.cost('claude-opus-5-5', { ...emptyUsage(), input_tokens: 300, output_tokens: 40 }).nanoUsd);
  });

  it('a message_start that cannot be read is flagged, never recorded as a clean $0', async () => {
    const k = t.key('badstart');
    fake.next({ kind: 'stream', rawStart: '{"type":"message_start","message":' });
    const r = await post(t, k.secret, claudeBody(500));
    assert.match(r.text, /event: error\ndata: .*TG_UPSTREAM_BAD_RESPONSE/);
    const l = lines(t).at(-1)!;
    assert.equal(l.error_code, 'TG_UPSTREAM_BAD_RESPONSE');
  });

  it('a truncated JSON answer is cut, not passed on as a 200, and flagged', async () => {
    const k = t.key('trunc');
    fake.next({ kind: 'json', truncateAt: 40, usage: { input_tokens: 10, output_tokens: 5 } });
    const failed = await request(t.url + '/v1/messages', {
      method: 'POST',
      body: claudeBody(500, { stream: false }),
      headers: { authorization: `Bearer ${k.secret}` },
    })
      .then((res) => res.body.text())
      .then(
        () => false,
        () => true,
      );
    assert.equal(failed, true, 'the client sees a broken response');
    await until(() => lines(t).at(-1)!.key_id === k.id, 'the line');
    assert.equal(lines(t).at(-1)!.error_code, 'TG_UPSTREAM_INCOMPLETE');
  });
});

describe('Bedrock: exceptions around a stream', () => {
  let bedrock: FakeBedrock;
  let t: TestGateway;
  before(async () => {
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: AWS_TEST_CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_TEST_CREDS.secretAccessKey,
      AWS_SESSION_TOKEN: AWS_TEST_CREDS.sessionToken,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    bedrock = await new FakeBedrock('eu-west-1').start();
    t = await startGateway(`upstreams:
  - { name: bedrock-eu, type: bedrock, region: eu-west-1, profile: geo, base_url: "${bedrock.url}" }
  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: sk-ant }
routes: { default: [bedrock-eu, anthropic] }
failover: { backoff_ms: 1, max_backoff_ms: 5, cooldown_after: 100 }
`);
  });
  after(async () => {
    await t.stop();
    await bedrock.stop();
  });

  it('an exception after a complete stream changes nothing the client or the ledger has', async () => {
    const k = t.key('late');
    bedrock.next({
      kind: 'stream',
      exceptionAfter: 99,
      together: true,
      exception: 'internalServerException',
      usageStart: { input_tokens: 50, output_tokens: 1 },
      usageEnd: { output_tokens: 9 },
    });
    const r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 200);
    assert.match(r.text, /event: message_stop/);
    assert.doesNotMatch(r.text, /event: error/);
    const l = lines(t).at(-1)!;
    assert.equal(l.error_code, null);
    assert.equal(l.error_type, null);
    assert.equal(l.upstream, 'bedrock-eu');
    assert.equal(l.input_tokens, 50);
    assert.equal(l.output_tokens, 9);
  });

  it('an attempt abandoned for failover after its stream started keeps its billed tokens, in the attempt and the total', async () => {
    const k = t.key('abandon');
    bedrock.next({
      kind: 'stream',
      exceptionAfter: 1,
      together: true,
      exception: 'serviceUnavailableException',
      usageStart: { input_tokens: 2000, output_tokens: 1 },
    });
    fake.next({ kind: 'stream', usageStart: { input_tokens: 2000, output_tokens: 1 }, usageEnd: { output_tokens: 30 } });
    const r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-tollgate-upstream'], 'anthropic');
    const l = lines(t).at(-1)!;
    assert.deepEqual(
      l.attempts.map((a) => a.upstream),
      ['bedrock-eu', 'anthropic'],
    );
    const first = l.attempts[0]!;
    assert.equal(first.usage?.input_tokens, 2000);
    // Haiku 4.5 on a Bedrock geo profile: $1/M input × 1.1, output $5/M × 1.1.
    const bedrockCost = (2000 * 1000 + 1 * 5000) * 1.1;
    assert.equal(first.cost_nanousd, bedrockCost);
    assert.equal(l.input_tokens, 4000, 'both attempts were billed');
    assert.equal(l.cost_nanousd, bedrockCost + 2000 * 1000 + 30 * 5000);
  });
});

describe('errors that no retry can fix', () => {
  it("Bedrock refusing the gateway's signature: one upstream call, 502 TG_UPSTREAM_AUTH naming the fix, x-should-retry: false", async () => {
    const bedrock = await new FakeBedrock('eu-west-1').start();
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    // The standard AWS chain finds credentials, but not the ones Bedrock accepts.
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: AWS_TEST_CREDS.accessKeyId,
      AWS_SESSION_TOKEN: AWS_TEST_CREDS.sessionToken,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SECRET_ACCESS_KEY: 'not-the-right-secret',
    });
    const g = await startGateway(`upstreams:\n  - { name: bedrock-eu, type: bedrock, region: eu-west-1, base_url: "${bedrock.url}" }\n`);
    try {
      const k = g.key('sig');
      const calls = bedrock.requests.length;
      const before = bedrock.denied;
      const r = await post(g, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }), { 'x-stainless-retry-count': '0' });
      assert.equal(r.status, 502, r.text);
      assert.equal(r.headers['x-should-retry'], 'false');
      assert.match(
        r.text,
        /TG_UPSTREAM_AUTH: upstream \\"bedrock-eu\\" refused the gateway's credentials \(HTTP 403: InvalidSignatureException.*not your key: check the AWS credentials of upstream/,
      );
      assert.equal(bedrock.requests.length, calls, 'the fake records only accepted requests');
      assert.equal(bedrock.denied - before, 1, 'exactly one upstream call');
      assert.equal(lines(g).at(-1)!.attempts.length, 1);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
      await g.stop();
      await bedrock.stop();
    }
  });

  it('a missing upstream key is answered at once: 500 with x-should-retry: false, one attempt, no backoff', async () => {
    const g = await startGateway(
      `upstreams:\n  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: "\${TOLLGATE_TEST_UNSET_KEY}" }\nfailover: { backoff_ms: 5000 }\n`,
    );
    const k = g.key('nokey');
    const r = await post(g, k.secret, claudeBody(300));
    assert.equal(r.status, 500);
    assert.equal(r.headers['x-should-retry'], 'false');
    assert.match(r.text, /TG_UPSTREAM_NO_CREDENTIALS: upstream \\"anthropic\\" has no api_key/);
    const l = lines(g).at(-1)!;
    assert.equal(l.attempts.length, 1);
    assert.ok(l.duration_ms < 5000, 'no backoff before answering');
    await g.stop();
  });

  it("fails over to another upstream when one refuses the gateway's credentials, and keeps the client's retry headers when all fail", async () => {
    const second = await new FakeAnthropic().start();
    const g = await startGateway(`upstreams:
  - { name: primary, type: anthropic, base_url: "${fake.url}", api_key: k1 }
  - { name: backup, type: anthropic, base_url: "${second.url}", api_key: k2 }
routes: { default: [primary, backup] }
failover: { backoff_ms: 1, max_backoff_ms: 5, max_retry_after_ms: 100 }
`);
    const k = g.key('fo');
    fake.next({ kind: 'error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' });
    let r = await post(g, k.secret, claudeBody(300));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-tollgate-upstream'], 'backup');
    // Both rate-limited, with a retry-after beyond what the gateway waits: the client gets the
    // last answer with every header its own retry logic reads.
    const limited = {
      kind: 'error' as const,
      status: 429,
      type: 'rate_limit_error',
      headers: {
        'retry-after': '30',
        'retry-after-ms': '30000',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:30Z',
      },
    };
    fake.next(limited);
    second.next(limited);
    r = await post(g, k.secret, claudeBody(300));
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '30');
    assert.equal(r.headers['retry-after-ms'], '30000');
    assert.equal(r.headers['anthropic-ratelimit-requests-remaining'], '0');
    assert.equal(r.headers['anthropic-ratelimit-requests-reset'], '2026-01-01T00:00:30Z');
    await g.stop();
    await second.stop();
  });
});

describe('no retry storms with the Anthropic SDK', () => {
  // The SDK (as Claude Code) retries on its own and says so (x-stainless-retry-count); the
  // gateway then fails over only to other upstreams, so an outage costs the same upstream
  // calls, and the same wait, as calling the upstream directly.
  let g: TestGateway;
  before(async () => {
    g = await startGateway(upstreamYaml(fake.url));
  });
  after(() => g.stop());

  async function run(baseURL: string, apiKey: string, behaviour: Parameters<FakeAnthropic['next']>[0]) {
    fake.fallback = behaviour;
    const n0 = fake.requests.length;
    const client = new Anthropic({ baseURL, apiKey, maxRetries: 2 });
    const err = await client.messages.create({ model: 'claude-opus-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).then(
      () => null,
      (e: unknown) => e as InstanceType<typeof Anthropic.APIError>,
    );
    fake.fallback = { kind: 'stream' };
    return { calls: fake.requests.length - n0, err };
  }

  it('529 outage: as many upstream calls as direct', async () => {
    const k = g.key('sdk529');
    const overloaded = { kind: 'error' as const, status: 529, type: 'overloaded_error' };
    const direct = await run(fake.url, 'sk-direct', overloaded);
    const through = await run(g.url, k.secret, overloaded);
    assert.equal(direct.calls, 3);
    assert.equal(through.calls, direct.calls);
    assert.equal(through.err?.status, 529);
  });

  it('429 with retry-after: as many calls as direct, and the headers the SDK waits on arrive', async () => {
    const k = g.key('sdk429');
    const limited = {
      kind: 'error' as const,
      status: 429,
      type: 'rate_limit_error',
      headers: { 'retry-after': '1', 'retry-after-ms': '150', 'anthropic-ratelimit-requests-remaining': '0' },
    };
    const direct = await run(fake.url, 'sk-direct', limited);
    const through = await run(g.url, k.secret, limited);
    assert.equal(through.calls, direct.calls);
    assert.equal(through.err?.status, 429);
    assert.equal(through.err?.headers?.get('retry-after-ms'), '150');
    assert.equal(through.err?.headers?.get('anthropic-ratelimit-requests-remaining'), '0');
    // One gateway attempt per client request: nothing waited on retry-after inside tollgate.
    assert.ok(
      lines(g)
        .filter((l) => l.key_id === k.id)
        .every((l) => l.attempts.length === 1),
    );
  });
});

describe('credentials in URLs', () => {
  it('are masked in URLs and free text', () => {
    assert.equal(redactUrl('http://user:pw@proxy.corp:8080'), 'http://***@proxy.corp:8080');
    assert.equal(redactUrl('https://api.example.com/v1?key=abc&x=1'), 'https://api.example.com/v1?key=***&x=1');
    assert.equal(redactUrl('https://api.anthropic.com'), 'https://api.anthropic.com');
    assert.equal(redactText('connect to http://u:secret@10.0.0.1/ failed'), 'connect to http://***@10.0.0.1/ failed');
  });

  it('never show in the banner, `config check` or an error, and a public bind without TLS is warned about', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-secret-'));
    const cfg = join(dir, 'tollgate.yaml');
    // Nothing listens on port 9: the upstream is unreachable, and the error names it.
    writeFileSync(
      cfg,
      'store: { sqlite: ./t.db }\nupstreams:\n  - { name: corp, type: anthropic, base_url: "http://proxyuser:hunter2@127.0.0.1:9", api_key: k }\nfailover: { max_attempts: 1 }\n',
    );
    const check = tollgate(['config', 'check', '--config', cfg]);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /upstream corp \(anthropic\): http:\/\/\*\*\*@127\.0\.0\.1:9/);
    const key = /tg_\S+/.exec(tollgate(['keys', 'create', '--user', 'sec', '--config', cfg]).stdout)![0];
    const s = await serve(['--config', cfg, '--host', '0.0.0.0']);
    try {
      const r = await post({ url: s.url.replace('0.0.0.0', '127.0.0.1') }, key, claudeBody(300));
      assert.equal(r.status, 502);
      assert.match(r.text, /TG_UPSTREAM_UNREACHABLE/);
      const all = check.stdout + s.stderr() + r.text;
      assert.doesNotMatch(all, /hunter2|proxyuser/);
      assert.match(s.stderr(), /warning: listening on 0\.0\.0\.0 without TLS/);
    } finally {
      s.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
