// Spend control end to end: budgets (each scope and period, hard and soft, concurrency bound,
// restarts, roll-over), rate limits, model policy, alerts, admin API and audit log.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { Operations } from '../src/admin/operations.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { WebhookReceiver } from './helpers/webhook.js';
import { tollgate, tollgateAsync } from './helpers/cli.js';

let fake: FakeAnthropic;
let hook: WebhookReceiver;
let clock = Date.parse('2026-11-25T10:00:00Z');
const now = () => clock;

// Every request costs exactly this on claude-sonnet-4-5 ($3/M in, $15/M out): 1000 in + 100 out.
const USAGE = { usageStart: { input_tokens: 1000, output_tokens: 1 }, usageEnd: { output_tokens: 100 } };
const COST = 1000 * 3000 + 100 * 15000; // nano-USD = $0.0045

async function post(gw: TestGateway, key: string, model = 'claude-sonnet-4-5', size = 500) {
  const res = await request(gw.url + '/v1/messages', { method: 'POST', body: claudeBody(size, { model }), headers: { authorization: `Bearer ${key}` } });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    error: res.statusCode >= 400 ? (JSON.parse(text) as { error: { type: string; message: string } }).error : null,
  };
}

before(async () => {
  fake = await new FakeAnthropic().start();
  fake.fallback = { kind: 'stream', ...USAGE };
  hook = await new WebhookReceiver().start();
});
after(async () => {
  await fake.stop();
  await hook.stop();
});
beforeEach(() => {
  fake.fallback = { kind: 'stream', ...USAGE };
  hook.received.length = 0;
});

function spendYaml(extra: string): string {
  return upstreamYaml(fake.url) + `spend: { timezone: UTC, contact: "#platform-help" }\n` + extra;
}

describe('budgets', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway(
      spendYaml(`
budgets:
  - { user: ursula, period: day, limit_usd: 0.01, alert_at: [50, 100] }
  - { team: tigers, period: week, limit_usd: 0.01 }
  - { project: apollo, period: month, limit_usd: 0.01 }
  - { user: sam, period: day, limit_usd: 0.01, mode: soft, alert_at: [50, 80, 100] }
alerts:
  - { type: slack, url: "${hook.url}/slack", events: [budget_threshold, budget_exhausted] }
  - { type: webhook, url: "${hook.url}/generic", events: [budget_threshold] }
`),
      { wallNow: now },
    );
  });
  after(() => t.stop());

  it('refuses a spent hard budget before the upstream, with a readable message and unified headers', async () => {
    const k = t.key('ursula', 'lions');
    let r = await post(t, k.secret);
    assert.equal(r.status, 200);
    assert.equal(r.headers['anthropic-ratelimit-unified-status'], undefined, 'no threshold passed yet (0 %)');
    assert.equal((await post(t, k.secret)).status, 200, 'spent $0.0045 (45 %): admitted');
    const before = fake.requests.length;
    r = await post(t, k.secret);
    assert.equal(r.status, 200, 'spent $0.009 (90 %) < $0.01: admitted');
    assert.equal(r.headers['anthropic-ratelimit-unified-status'], 'allowed_warning', 'the 50 % threshold has passed');
    assert.equal(r.headers['anthropic-ratelimit-unified-utilization'], '0.9000');
    r = await post(t, k.secret);
    assert.equal(r.status, 429);
    assert.equal(fake.requests.length, before + 1, 'the refused request never reached the upstream');
    assert.equal(r.error!.type, 'rate_limit_error');
    assert.match(
      r.error!.message,
      /^TG_BUDGET_EXHAUSTED: the daily budget of user ursula is spent: \$0\.0135 of \$0\.0100\. It resets 26 Nov 2026, 00:00 UTC \(2026-11-26T00:00:00\.000Z\)\. To raise it, ask #platform-help\./,
    );
    assert.equal(r.headers['x-should-retry'], 'false');
    assert.equal(r.headers['anthropic-ratelimit-unified-status'], 'rejected');
    assert.equal(r.headers['anthropic-ratelimit-unified-reset'], String(Date.parse('2026-11-26T00:00:00Z') / 1000));
    const l = t.gw.ctx.store.queryLedger({ user: 'ursula' });
    assert.equal(l[l.length - 1]!.error_code, 'TG_BUDGET_EXHAUSTED');

    // Alerts: once per budget, threshold and period, to Slack and generic webhooks.
    await t.gw.ctx.spend.alerts.drain();
    const slack = hook.received.filter((h) => h.path === '/slack').map((h) => String(h.body.text));
    const generic = hook.received.filter((h) => h.path === '/generic').map((h) => h.body);
    assert.ok(
      slack.some((s) => /daily budget of user ursula has passed 50%: \$0\.0090 of \$0\.0100 spent \(hard limit; resets/.test(s)),
      slack.join('\n'),
    );
    assert.ok(
      slack.some((s) => /is spent .*requests are being refused until/.test(s)),
      slack.join('\n'),
    );
    const th = generic.filter((g) => g.scope_value === 'ursula');
    assert.deepEqual(th.map((g) => g.threshold_pct).sort(), [100, 50]);
    assert.equal(th[0]!.event, 'budget_threshold');
    assert.equal(typeof th[0]!.spent_usd, 'number');
    // Another refused request: no new alert.
    hook.received.length = 0;
    assert.equal((await post(t, k.secret)).status, 429);
    await t.gw.ctx.spend.alerts.drain();
    assert.equal(hook.received.length, 0);
  });

  it('covers teams (weekly) and projects (monthly); soft budgets only alert', async () => {
    const tk = t.key('tom', 'tigers');
    const pk = t.key('pam', 'other', 'apollo');
    for (const k of [tk, pk]) {
      for (let i = 0; i < 3; i++) assert.equal((await post(t, k.secret)).status, 200);
      const r = await post(t, k.secret);
      assert.equal(r.status, 429);
      assert.match(r.error!.message, k === tk ? /weekly budget of team tigers/ : /monthly budget of project apollo/);
    }
    const sk = t.key('sam', 'lions');
    for (let i = 0; i < 5; i++) assert.equal((await post(t, sk.secret)).status, 200, 'soft budget never refuses');
    await t.gw.ctx.spend.alerts.drain();
    assert.ok(hook.received.some((h) => /user sam has passed 100%/.test(String(h.body.text))));
  });

  it('resets exactly at the period boundary', async () => {
    const k = t.key('ursula', 'lions');
    clock = Date.parse('2026-11-26T00:00:00Z') - 1;
    assert.equal((await post(t, k.secret)).status, 429, 'one millisecond before midnight');
    clock = Date.parse('2026-11-26T00:00:00Z');
    assert.equal((await post(t, k.secret)).status, 200, 'at midnight: a new day');
    clock = Date.parse('2026-11-25T10:00:00Z');
  });

  it('keeps counters across a restart (rebuilt from the ledger)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-restart-'));
    const yaml = spendYaml('budgets:\n  - { user: rita, period: day, limit_usd: 0.01 }\n');
    let g = await startGateway(yaml, { wallNow: now, dir });
    const k = g.key('rita');
    for (let i = 0; i < 3; i++) assert.equal((await post(g, k.secret)).status, 200);
    await g.halt();
    g = await startGateway(yaml, { wallNow: now, dir });
    assert.equal((await post(g, k.secret)).status, 429, 'still spent after the restart');
    await g.stop();
  });

  it('holds under concurrency: 50 parallel streams against a tiny budget overshoot by at most one request', async () => {
    const g = await startGateway(spendYaml('budgets:\n  - { user: carl, period: day, limit_usd: 0.01 }\n'), { wallNow: now });
    const k = g.key('carl');
    fake.fallback = { kind: 'stream', ...USAGE, chunkSize: 50, delayMs: 5 };
    const results = await Promise.all(Array.from({ length: 50 }, () => post(g, k.secret)));
    const ok = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429).length;
    assert.equal(ok + refused, 50);
    const spent = g.gw.ctx.store.spend('user', 'carl', 0, Number.MAX_SAFE_INTEGER);
    assert.ok(spent <= 10_000_000 + COST, `spent ${spent} nano-USD > limit + one request`);
    assert.ok(refused > 0);
    // Sequentially it then fills up to the limit and stops.
    for (let i = 0; i < 5; i++) await post(g, k.secret);
    const final = g.gw.ctx.store.spend('user', 'carl', 0, Number.MAX_SAFE_INTEGER);
    assert.ok(final >= 10_000_000 && final <= 10_000_000 + COST, `final ${final}`);
    await g.stop();
  });

  it('applies a budget set from the CLI to a running gateway within a poll', async () => {
    const k = t.key('vera', 'lions');
    assert.equal((await post(t, k.secret)).status, 200);
    // The CLI runs on the gateway's clock, so "today" is the same day for both on any date.
    const env = { TOLLGATE_NOW: new Date(clock).toISOString() };
    const out = tollgate(['budgets', 'set', '--user', 'vera', '--daily', '0.004', '--config', t.configFile], { env });
    assert.equal(out.status, 0, out.stderr);
    // The gateway polls the store every 250 ms (50 here): the first poll that starts after the
    // change applies it. Counted in polls, not wall time, so a busy machine cannot fail this.
    const polls0 = t.gw.polls;
    const deadline = Date.now() + 20_000;
    while (t.gw.polls < polls0 + 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    const r = await post(t, k.secret);
    assert.equal(r.status, 429, r.text);
    const list = JSON.parse(tollgate(['budgets', 'list', '--json', '--config', t.configFile], { env }).stdout) as {
      scope: string;
      value: string;
      state: string;
      spent_usd: number;
      source: string;
    }[];
    const vera = list.find((b) => b.value === 'vera')!;
    assert.equal(vera.state, 'exhausted');
    assert.equal(vera.source, 'cli');
    assert.ok(vera.spent_usd >= 0.0045);
    assert.equal(tollgate(['budgets', 'remove', '--user', 'vera', '--config', t.configFile], { env }).status, 0);
  });

  it('reads a pinned CLI clock and refuses an unreadable one', () => {
    const bad = tollgate(['budgets', 'list', '--json', '--config', t.configFile], { env: { TOLLGATE_NOW: 'yesterday' } });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /TOLLGATE_NOW="yesterday" is not a date-time/);
  });
});

describe('alerts for routes', () => {
  it('sends failover and cooldown alerts, retrying a destination that fails', async () => {
    const second = await new FakeAnthropic().start();
    const g = await startGateway(
      `upstreams:
  - { name: primary, type: anthropic, base_url: "${fake.url}", api_key: k }
  - { name: backup, type: anthropic, base_url: "${second.url}", api_key: k }
routes: { default: [primary, backup] }
failover: { cooldown_after: 2, cooldown_ms: 60000 }
alerts:
  - { type: webhook, url: "${hook.url}/routes", events: [failover, cooldown] }
  - { type: slack, url: "${hook.url}/slack-routes", events: [cooldown] }
`,
      { wallNow: now },
    );
    hook.failNext = 1; // the first delivery fails with 503 and is retried
    const k = g.key('fo', 'x');
    fake.next({ kind: 'error', status: 529, type: 'overloaded_error' }, { kind: 'error', status: 529, type: 'overloaded_error' });
    assert.equal((await post(g, k.secret)).status, 200);
    assert.equal((await post(g, k.secret)).status, 200);
    await g.gw.ctx.spend.alerts.drain();
    const generic = hook.received.filter((h) => h.path === '/routes').map((h) => h.body);
    assert.ok(
      generic.some((b) => b.event === 'failover' && b.from === 'primary' && b.to === 'backup' && b.user === 'fo'),
      JSON.stringify(generic),
    );
    assert.ok(
      generic.some((b) => b.event === 'cooldown' && b.upstream === 'primary'),
      JSON.stringify(generic),
    );
    const slack = hook.received.filter((h) => h.path === '/slack-routes').map((h) => String(h.body.text));
    assert.deepEqual(slack.length, 1);
    assert.match(slack[0]!, /upstream primary is in cooldown after 2 consecutive failures/);
    await g.stop();
    await second.stop();
  });
});

describe('rate limits', () => {
  it('limits requests per minute, tokens per minute and concurrent streams, with retry-after', async () => {
    const g = await startGateway(
      spendYaml(`
rate_limits:
  - { user: rob, rpm: 3 }
  - { team: tok, tpm: 2000 }
  - { key: "*", concurrent: 2 }
`),
      { wallNow: now },
    );
    const rob = g.key('rob', 'x');
    for (let i = 0; i < 3; i++) assert.equal((await post(g, rob.secret)).status, 200);
    let r = await post(g, rob.secret);
    assert.equal(r.status, 429);
    assert.equal(r.error!.type, 'rate_limit_error');
    assert.match(r.error!.message, /^TG_RATE_LIMITED: user rob: limit of 3 requests per minute reached/);
    assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= 60);
    clock += 61_000;
    assert.equal((await post(g, rob.secret)).status, 200, 'the window slid');
    const tk = g.key('tia', 'tok');
    assert.equal((await post(g, tk.secret)).status, 200); // 1100 tokens
    assert.equal((await post(g, tk.secret)).status, 200); // 2200 ≥ 2000
    r = await post(g, tk.secret);
    assert.equal(r.status, 429);
    assert.match(r.error!.message, /tokens per minute/);
    const ck = g.key('cc', 'y');
    fake.fallback = { kind: 'stream', ...USAGE, chunkSize: 40, delayMs: 20 };
    const all = await Promise.all([post(g, ck.secret), post(g, ck.secret), post(g, ck.secret)]);
    assert.deepEqual(all.map((x) => x.status).sort(), [200, 200, 429]);
    assert.match(all.find((x) => x.status === 429)!.error!.message, /concurrent requests/);
    fake.fallback = { kind: 'stream', ...USAGE };
    assert.equal((await post(g, ck.secret)).status, 200, 'slots freed when streams end');
    await g.stop();
  });
});

describe('model policy', () => {
  it('denies models outside the allow list, and rewrites per rule, recording requested and served', async () => {
    const g = await startGateway(
      spendYaml(`
policy:
  teams:
    contractors: { allow: [sonnet, haiku], rewrite: [{ from: haiku, to: claude-haiku-4-5 }] }
    savers: { rewrite: [{ from: opus, to: claude-sonnet-4-6, when_budget_pct: 50 }] }
budgets:
  - { team: savers, period: day, limit_usd: 0.05 }
`),
      { wallNow: now },
    );
    const c = g.key('cora', 'contractors');
    let r = await post(g, c.secret, 'claude-opus-4-6');
    assert.equal(r.status, 403);
    assert.equal(r.error!.type, 'permission_error');
    assert.match(r.error!.message, /^TG_MODEL_NOT_ALLOWED: model "claude-opus-4-6" is not allowed for team contractors; allowed: sonnet, haiku/);
    assert.equal((await post(g, c.secret, 'claude-sonnet-4-5')).status, 200);
    fake.requests.length = 0;
    r = await post(g, c.secret, 'claude-haiku-5-5');
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(fake.requests[0]!.body.toString()) as { model: string }).model, 'claude-haiku-4-5', 'served by the pinned model');
    let l = g.gw.ctx.store.queryLedger({ user: 'cora' }).pop()!;
    assert.deepEqual([l.model_requested, l.model_served], ['claude-haiku-5-5', 'claude-haiku-4-5']);
    // Downgrade once the team's budget passes 50 %.
    const s = g.key('sol', 'savers');
    fake.fallback = { kind: 'stream', usageStart: { input_tokens: 5000, output_tokens: 1 }, usageEnd: { output_tokens: 1 } };
    fake.requests.length = 0;
    const first = await post(g, s.secret, 'claude-opus-4-6'); // $0.025 on opus 4.6: 50 %
    const second = await post(g, s.secret, 'claude-opus-4-6');
    assert.deepEqual([first.status, second.status], [200, 200], JSON.stringify([first.error, second.error]));
    assert.deepEqual(
      fake.requests.map((q) => (JSON.parse(q.body.toString()) as { model: string }).model),
      ['claude-opus-4-6', 'claude-sonnet-4-6'],
      JSON.stringify([first.headers, second.headers]),
    );
    l = g.gw.ctx.store.queryLedger({ user: 'sol' }).pop()!;
    assert.deepEqual([l.model_requested, l.model_served], ['claude-opus-4-6', 'claude-sonnet-4-6']);
    await g.stop();
  });
});

describe('admin API and audit log', () => {
  it('refuses without the right token, serves keys and budgets with it, and audits every change', async () => {
    let g = await startGateway(spendYaml(''), { env: { ...process.env, TOLLGATE_ADMIN_TOKEN: '' } });
    let res = await request(g.url + '/admin/keys');
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /TG_ADMIN_DISABLED/);
    await g.stop();
    g = await startGateway(spendYaml('admin: { token: s3cret-admin }\n'), { wallNow: now });
    res = await request(g.url + '/admin/keys', { headers: { authorization: 'Bearer wrong' } });
    assert.equal(res.statusCode, 401);
    assert.match(await res.body.text(), /TG_ADMIN_AUTH/);
    res = await request(g.url + '/admin/keys');
    assert.equal(res.statusCode, 401);
    await res.body.dump();
    const auth = { authorization: 'Bearer s3cret-admin', 'x-tollgate-actor': 'alice@corp' };
    res = await request(g.url + '/admin/keys', { method: 'POST', headers: auth, body: JSON.stringify({ user: 'api-user', team: 'ops' }) });
    assert.equal(res.statusCode, 201);
    const created = (await res.body.json()) as { id: string; key: string };
    assert.match(created.key, /^tg_/);
    assert.equal((await post(g, created.key)).status, 200, 'the key works at once');
    res = await request(g.url + '/admin/budgets', {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ scope: 'user', value: 'api-user', period: 'day', limit_usd: 0.001 }),
    });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.equal((await post(g, created.key)).status, 429, 'already spent $0.0045 of $0.001');
    res = await request(g.url + '/admin/budgets', { method: 'PUT', headers: auth, body: JSON.stringify({ scope: 'planet', period: 'day', limit_usd: 1 }) });
    assert.equal(res.statusCode, 400);
    assert.match(await res.body.text(), /scope: one of key, user, team, project, org/);
    res = await request(`${g.url}/admin/keys/${created.id}/revoke`, { method: 'POST', headers: auth });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    res = await request(g.url + '/admin/audit', { headers: auth });
    const audit = (await res.body.json()) as { actor: string; action: string; target: string; time: string }[];
    assert.deepEqual(audit.map((a) => a.action).reverse(), ['key.create', 'budget.set', 'key.revoke']);
    assert.ok(audit.every((a) => a.actor === 'admin-api:alice@corp' && a.time));
    assert.ok(!JSON.stringify(audit).includes(created.key), 'no secret in the audit log');

    // The CLI against the remote gateway.
    const env = { TOLLGATE_ADMIN_TOKEN: 's3cret-admin' };
    const c = await tollgateAsync(['keys', 'create', '--user', 'remote-user', '--json', '--url', g.url], { env });
    assert.equal(c.status, 0, c.stderr);
    assert.match((JSON.parse(c.stdout) as { key: string }).key, /^tg_/);
    const list = await tollgateAsync(['keys', 'list', '--json', '--url', g.url], { env });
    assert.ok((JSON.parse(list.stdout) as { user: string }[]).some((k) => k.user === 'remote-user'));
    assert.equal((await tollgateAsync(['budgets', 'set', '--team', 'ops', '--monthly', '100', '--url', g.url], { env })).status, 0);
    const bl = JSON.parse((await tollgateAsync(['budgets', 'list', '--json', '--url', g.url], { env })).stdout) as { value: string }[];
    assert.ok(bl.some((b) => b.value === 'ops'));
    const bad = await tollgateAsync(['keys', 'list', '--url', g.url], { env: { TOLLGATE_ADMIN_TOKEN: 'nope' } });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /missing or wrong admin token/);
    await g.stop();
  });

  it('audits local CLI changes with the OS user', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-audit-'));
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'store: { sqlite: ./t.db }\n');
    tollgate(['keys', 'create', '--user', 'x', '--config', cfg]);
    tollgate(['budgets', 'set', '--org', '--total', '1000', '--config', cfg]);
    const store = new SqliteStore(join(dir, 't.db'));
    const a = store.listAudit(10);
    store.close();
    assert.deepEqual(a.map((e) => e.action).reverse(), ['key.create', 'budget.set']);
    assert.ok(a.every((e) => e.actor.startsWith('cli')));
    rmSync(dir, { recursive: true, force: true });
    void Operations;
  });
});

describe('unpriced models are never free', () => {
  it('reserves and settles an unknown model at the highest known rates: parallel requests cannot pass a hard budget', async () => {
    const g = await startGateway(
      spendYaml(
        `budgets:\n  - { user: una, period: day, limit_usd: 0.01 }\nalerts:\n  - { type: webhook, url: "${hook.url}/unpriced", events: [unpriced_model] }\n`,
      ),
      { wallNow: now },
    );
    const k = g.key('una');
    // 100k input tokens a request: at any rate in the catalog well over $0.01.
    fake.fallback = { kind: 'stream', usageStart: { input_tokens: 100_000, output_tokens: 1 }, usageEnd: { output_tokens: 10 } };
    const results = await Promise.all(Array.from({ length: 4 }, () => post(g, k.secret, 'claude-unknown-9')));
    const served = results.filter((r) => r.status === 200).length;
    assert.ok(served <= 1, `${served} of 4 served against a $0.01 budget`);
    assert.ok(results.filter((r) => r.status === 429).every((r) => /TG_BUDGET_EXHAUSTED/.test(r.text)));
    const lines = g.gw.ctx.store.queryLedger({ user: 'una' }).filter((l) => l.http_status === 200);
    assert.ok(
      lines.every((l) => !l.priced && l.price_tier === 'unpriced_ceiling' && l.cost_nanousd > 10_000_000),
      JSON.stringify(lines[0]),
    );
    // Sequentially the next one is refused too: the settled ceiling cost counts.
    assert.equal((await post(g, k.secret, 'claude-unknown-9')).status, 429);
    await g.gw.ctx.spend.alerts.drain();
    const alerts = hook.received.filter((h) => h.path === '/unpriced');
    assert.equal(alerts.length, 1, 'one alert per model');
    assert.match(String(alerts[0]!.body.text), /model "claude-unknown-9" has no price: budgets reserve and settle/);
    await g.stop();
  });

  it('refuses an unknown model outright with prices.unpriced: refuse', async () => {
    const g = await startGateway(spendYaml('prices: { unpriced: refuse }\n'), { wallNow: now });
    const calls = fake.requests.length;
    const r = await post(g, g.key('ulf').secret, 'claude-unknown-9');
    assert.equal(r.status, 403);
    assert.match(r.error!.message, /^TG_MODEL_UNPRICED: model "claude-unknown-9" has no price/);
    assert.equal(fake.requests.length, calls);
    await g.stop();
  });
});
