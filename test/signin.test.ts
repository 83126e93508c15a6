// Sign-in with the company's identity provider, as Claude Code's /login does it: discovery, the
// RFC 8628 device flow through the verification page and a real OIDC exchange (PKCE, state,
// nonce, ID token checked against the IdP's JWKS), tokens used on the Messages API, refresh with
// rotation and a fresh word from the IdP, revocation, and every error on the way.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { scanBody } from '../src/protocol/anthropic/body.js';
import { bedrockBody } from '../src/providers/bedrock/translate-request.js';
import { vertexBody } from '../src/providers/vertex/translate-request.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { FakeOidc } from './helpers/fake-oidc.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { tollgate } from './helpers/cli.js';

let idp: FakeOidc;
let up: FakeAnthropic;
let g: TestGateway;
let clock = Date.UTC(2026, 10, 20, 12);

before(async () => {
  idp = await new FakeOidc().start();
  idp.addUser({ sub: 'u-ann', email: 'ann@example.com', name: 'Ann', groups: ['eng', 'all'] });
  idp.addUser({ sub: 'u-bob', email: 'bob@example.com', name: 'Bob', groups: ['sales'] });
  idp.addUser({ sub: 'u-eve', email: 'eve@elsewhere.org', name: 'Eve', groups: ['eng'] });
  up = await new FakeAnthropic().start();
  g = await startGateway(
    `${upstreamYaml(up.url)}auth:
  oidc: { issuer: "${idp.url}", client_id: tollgate, client_secret: idp-client-secret, groups_claim: groups, allowed_email_domains: [example.com] }
  token_ttl: 1h
  login_notice: "Use your example.com account."
  page_limit_per_minute: 1000
  billing_group_tag: cost_center
teams_from_groups: { eng: platform, sales: revenue }
managed_settings:
  - groups: ["*"]
    settings: { permissions: { deny: ["WebFetch"] }, env: { CLAUDE_CODE_ENABLE_TELEMETRY: "1" } }
  - groups: [eng]
    settings: { env: { ANTHROPIC_DEFAULT_HAIKU_MODEL: claude-haiku-4-5, CLAUDE_CODE_GATEWAY_HINT_HEADERS: "1" } }
  - teams: [qa]
    settings: { model: claude-haiku-4-5 }
`,
    { wallNow: () => clock },
  );
});
after(async () => {
  await g.stop();
  await up.stop();
  await idp.stop();
});

const form = (o: Record<string, string>) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(o).toString(),
});

async function post(path: string, o: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const r = await request(g.url + path, form(o));
  const text = await r.body.text();
  return { status: r.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: r.headers };
}

async function startDevice(): Promise<{ device_code: string; user_code: string; verification_uri_complete: string }> {
  const r = await post('/oauth/device_authorization', { surface: 'claude_code' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { device_code: string; user_code: string; verification_uri_complete: string };
}

/** The browser's part: enter the code, go to the IdP, come back. Returns the final page. */
async function approve(userCode: string, as: string): Promise<{ status: number; html: string }> {
  idp.current = as;
  const submit = await request(`${g.url}/device`, form({ user_code: userCode }));
  await submit.body.text();
  if (submit.statusCode !== 303) return { status: submit.statusCode, html: '' };
  const atIdp = await request(String(submit.headers.location));
  await atIdp.body.text();
  assert.equal(atIdp.statusCode, 302, 'the IdP redirects back');
  const back = String(atIdp.headers.location);
  assert.ok(back.startsWith(`${g.url}/device/callback?`), back);
  const done = await request(back);
  return { status: done.statusCode, html: await done.body.text() };
}

async function signIn(as: string): Promise<{ access_token: string; refresh_token: string; email?: string; expires_in: number }> {
  const d = await startDevice();
  const page = await approve(d.user_code, as);
  assert.equal(page.status, 200, page.html);
  const t = await post('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: d.device_code });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body as { access_token: string; refresh_token: string; email?: string; expires_in: number };
}

async function messages(token: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const r = await request(`${g.url}/v1/messages`, {
    method: 'POST',
    body: claudeBody(2000, { model: 'claude-sonnet-4-6', stream: false }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'anthropic-version': '2023-06-01' },
  });
  return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
}

describe('sign-in (Claude Code /login)', () => {
  it('publishes RFC 8414 metadata and answers device authorization with a 256-bit device code and a base-20 user code', async () => {
    const m = await request(`${g.url}/.well-known/oauth-authorization-server`);
    const meta = (await m.body.json()) as Record<string, unknown>;
    assert.equal(m.statusCode, 200);
    assert.deepEqual(
      [meta.device_authorization_endpoint, meta.token_endpoint, meta.revocation_endpoint],
      [`${g.url}/oauth/device_authorization`, `${g.url}/oauth/token`, `${g.url}/oauth/revoke`],
    );
    assert.equal(meta.authorization_endpoint, undefined);
    const r = await post('/oauth/device_authorization', { surface: 'claude_code' });
    assert.equal(r.status, 200);
    assert.ok(Buffer.from(String(r.body.device_code), 'base64url').length >= 32, 'at least 256 bits');
    assert.match(String(r.body.user_code), /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(r.body.verification_uri, `${g.url}/device`);
    assert.equal(r.body.verification_uri_complete, `${g.url}/device?user_code=${encodeURIComponent(String(r.body.user_code))}`);
    assert.deepEqual([r.body.expires_in, r.body.interval, r.body.login_notice], [600, 5, 'Use your example.com account.']);
    // The page shows a code from a link but never submits it on the user's behalf.
    const p = await request(String(r.body.verification_uri_complete));
    const html = await p.body.text();
    assert.equal(p.statusCode, 200);
    assert.ok(html.includes(`value="${r.body.user_code}"`));
    assert.ok(!/<script|http-equiv="refresh"|autofocus/i.test(html), 'no script, no automatic submission');
  });

  it('signs an engineer in through the IdP; the bearer works on the Messages API and the ledger carries the IdP user and the team of their group', async () => {
    const t = await signIn('u-ann');
    assert.equal(t.email, 'ann@example.com');
    assert.equal(t.expires_in, 3600);
    const parts = t.access_token.split('.');
    assert.equal(parts.length, 3, 'a JWT');
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { sub: string; exp: number };
    assert.equal(claims.sub, 'ann@example.com');
    assert.equal(claims.exp, Math.floor(clock / 1000) + 3600);
    const r = await messages(t.access_token);
    assert.equal(r.status, 200, r.body);
    const id = String(r.headers['x-tollgate-request-id']);
    await new Promise((res) => setTimeout(res, 0));
    const line = g.gw.ctx.store.queryLedger({}).find((l) => l.id === id)!;
    assert.deepEqual([line.user, line.team], ['ann@example.com', 'platform']);
  });

  it('answers every RFC 8628 token error', async () => {
    const grant = 'urn:ietf:params:oauth:grant-type:device_code';
    const d = await startDevice();
    assert.deepEqual((await post('/oauth/token', { grant_type: grant, device_code: d.device_code })).body, { error: 'authorization_pending' });
    assert.equal((await post('/oauth/token', { grant_type: grant, device_code: d.device_code })).body.error, 'slow_down', 'polled faster than the interval');
    assert.equal((await post('/oauth/token', { grant_type: grant, device_code: 'nope' })).body.error, 'invalid_grant');
    assert.equal((await post('/oauth/token', { grant_type: grant })).body.error, 'invalid_request');
    assert.equal((await post('/oauth/token', { grant_type: 'password', username: 'x' })).body.error, 'unsupported_grant_type');
    assert.equal((await post('/oauth/token', {})).body.error, 'invalid_request');
    const json = await request(`${g.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual([json.statusCode, ((await json.body.json()) as { error: string }).error], [400, 'invalid_request']);
    // Every OAuth endpoint: POST with a form, or an OAuth error saying so.
    for (const path of ['/oauth/device_authorization', '/oauth/token', '/oauth/revoke']) {
      const get = await request(`${g.url}${path}`);
      assert.deepEqual([get.statusCode, ((await get.body.json()) as { error_description: string }).error_description], [405, 'use POST'], path);
      const asJson = await request(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const b = (await asJson.body.json()) as { error: string; error_description: string };
      assert.deepEqual([asJson.statusCode, b.error], [400, 'invalid_request'], path);
      assert.match(b.error_description, /application\/x-www-form-urlencoded/, path);
    }
    // Someone the IdP signs in but the gateway does not allow (another email domain).
    const e = await startDevice();
    const refused = await approve(e.user_code, 'u-eve');
    assert.equal(refused.status, 403);
    assert.match(refused.html, /eve@elsewhere\.org may not use this gateway/);
    const denied = await post('/oauth/token', { grant_type: grant, device_code: e.device_code });
    assert.deepEqual([denied.status, denied.body.error], [400, 'access_denied']);
    // Single use.
    const ok = await startDevice();
    assert.equal((await approve(ok.user_code, 'u-ann')).status, 200);
    assert.equal((await post('/oauth/token', { grant_type: grant, device_code: ok.device_code })).status, 200);
    assert.equal((await post('/oauth/token', { grant_type: grant, device_code: ok.device_code })).body.error, 'invalid_grant');
    // Too late.
    const late = await startDevice();
    clock += 601_000;
    try {
      assert.equal((await post('/oauth/token', { grant_type: grant, device_code: late.device_code })).body.error, 'expired_token');
      assert.equal((await approve(late.user_code, 'u-ann')).status, 400, 'the page refuses an expired code');
    } finally {
      clock -= 601_000;
    }
  });

  it('refuses a callback whose state, nonce or PKCE does not match', async () => {
    const bad = await request(`${g.url}/device/callback?code=x&state=forged`);
    assert.equal(bad.statusCode, 400);
    assert.match(await bad.body.text(), /unknown state/);
    for (const sw of ['wrongNonce', 'breakPkce'] as const) {
      idp[sw] = true;
      try {
        const d = await startDevice();
        const r = await approve(d.user_code, 'u-ann');
        assert.equal(r.status, 403, `${sw}: ${r.html}`);
        assert.equal(
          (await post('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: d.device_code })).body.error,
          'access_denied',
        );
      } finally {
        idp[sw] = false;
      }
    }
  });

  it('refresh rotates tokens after asking the IdP; a refresh token replayed after a minute ends the session; expiry is 401 with x-should-retry: false', async () => {
    const t = await signIn('u-ann');
    const before = idp.refreshGrants;
    const r1 = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.equal(idp.refreshGrants, before + 1, 'the IdP was asked');
    assert.notEqual(r1.body.refresh_token, t.refresh_token);
    assert.equal((await messages(String(r1.body.access_token))).status, 200);
    // The old access token lives until it expires.
    clock += 3600_000;
    try {
      const expired = await messages(String(r1.body.access_token));
      assert.equal(expired.status, 401);
      assert.match(expired.body, /TG_TOKEN_EXPIRED/);
      assert.equal(expired.headers['x-should-retry'], 'false');
    } finally {
      clock -= 3600_000;
    }
    // The same refresh token again within a minute: another Claude Code process on the machine
    // refreshing at the same moment, honoured.
    const concurrent = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token });
    assert.equal(concurrent.status, 200, 'a concurrent refresh is not a theft');
    // Later than that: a replay, so the whole session ends.
    clock += 61_000;
    let replay;
    try {
      replay = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token });
    } finally {
      clock -= 61_000;
    }
    assert.deepEqual([replay.status, replay.body.error], [401, 'invalid_grant']);
    const after = await messages(String(r1.body.access_token));
    assert.equal(after.status, 401);
    assert.match(after.body, /TG_REVOKED_KEY/);
    assert.equal((await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(r1.body.refresh_token) })).status, 401);
  });

  it('a user removed at the IdP loses access at the next refresh; a group change moves their team', async () => {
    const t = await signIn('u-bob');
    let r = await messages(t.access_token);
    const line = () => g.gw.ctx.store.queryLedger({}).find((l) => l.id === String(r.headers['x-tollgate-request-id']))!;
    await new Promise((res) => setTimeout(res, 0));
    assert.equal(line().team, 'revenue');
    idp.users.get('u-bob')!.groups = ['eng'];
    const moved = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token });
    assert.equal(moved.status, 200);
    r = await messages(String(moved.body.access_token));
    await new Promise((res) => setTimeout(res, 0));
    assert.equal(line().team, 'platform');
    idp.users.get('u-bob')!.disabled = true;
    try {
      const gone = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(moved.body.refresh_token) });
      assert.deepEqual([gone.status, gone.body.error], [401, 'invalid_grant']);
      assert.equal((await messages(String(moved.body.access_token))).status, 401, 'and the session is over');
    } finally {
      idp.users.get('u-bob')!.disabled = false;
      idp.users.get('u-bob')!.groups = ['sales'];
    }
  });

  it('revokes (RFC 7009): a refresh token ends its session, an access token only itself; unknown tokens are 200 too', async () => {
    const a = await signIn('u-ann');
    const b = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: a.refresh_token });
    assert.equal((await post('/oauth/revoke', { token: a.access_token })).status, 200);
    assert.equal((await messages(a.access_token)).status, 401);
    assert.equal((await messages(String(b.body.access_token))).status, 200, 'other tokens of the session still work');
    assert.equal((await post('/oauth/revoke', { token: String(b.body.refresh_token), token_type_hint: 'refresh_token' })).status, 200);
    assert.equal((await messages(String(b.body.access_token))).status, 401);
    assert.equal((await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(b.body.refresh_token) })).status, 401);
    assert.equal((await post('/oauth/revoke', { token: 'never-issued' })).status, 200);
  });

  it('a signed-in engineer acts only as themselves: each token carries its own user into the ledger', async () => {
    const ann = await signIn('u-ann');
    const bob = await signIn('u-bob');
    const ra = await messages(ann.access_token);
    const rb = await messages(bob.access_token);
    await new Promise((res) => setTimeout(res, 0));
    const users = new Map(g.gw.ctx.store.queryLedger({}).map((l) => [l.id, l.user]));
    assert.equal(users.get(String(ra.headers['x-tollgate-request-id'])), 'ann@example.com');
    assert.equal(users.get(String(rb.headers['x-tollgate-request-id'])), 'bob@example.com');
    // A token is not a key to anything else: another user's refresh token cannot be had with it.
    assert.equal((await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: ann.access_token })).status, 401);
  });

  it('limits the verification pages per address', async () => {
    const limited = await startGateway(`${upstreamYaml(up.url)}auth: { oidc: { issuer: "${idp.url}", client_id: tollgate }, page_limit_per_minute: 5 }\n`);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await request(`${limited.url}/device`);
        await r.body.text();
        statuses.push(r.statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await limited.stop();
    }
  });
});

describe('spend caps in Claude Code (usage headers, 429 billing_error, /api/oauth/usage)', () => {
  const message = () => ({
    id: 'msg_x',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-6',
    content: [{ type: 'text', text: 'ok' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 1000, output_tokens: 100 },
  });
  const answer = () => ({
    kind: 'raw' as const,
    status: 200,
    headers: { 'content-type': 'application/json', 'anthropic-ratelimit-requests-remaining': '42' },
    body: JSON.stringify(message()),
  });

  async function usage(token: string): Promise<Record<string, unknown>> {
    const r = await request(`${g.url}/api/oauth/usage`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['cache-control'], 'no-store');
    return (await r.body.json()) as Record<string, unknown>;
  }

  it('shows the notice past 75 %, refuses at the cap with the protocol 429, and /usage shows dollars', async () => {
    const ann = await signIn('u-ann');
    up.next(answer());
    const first = await messages(ann.access_token);
    assert.equal(first.status, 200, first.body);
    await new Promise((res) => setTimeout(res, 0));
    const cost = g.gw.ctx.store.queryLedger({}).find((l) => l.id === String(first.headers['x-tollgate-request-id']))!.cost_nanousd;
    assert.ok(cost > 0);
    // A monthly cap the first request used 80 % of.
    const limit = Math.round(cost / 0.8);
    const now = clock;
    g.gw.ctx.store.upsertBudget({
      id: 'bud_ann',
      scope: 'user',
      scope_value: 'ann@example.com',
      period: 'month',
      limit_nanousd: limit,
      mode: 'hard',
      alert_at: [],
      created_at: now,
      updated_at: now,
    });
    g.gw.ctx.spend.budgets.reload();
    // Spend from earlier tests counts too: start from what the budget sees.
    const spent = g.gw.ctx.spend.budgets.caps({ id: 'x', user: 'ann@example.com', team: 'platform', project: null })[0]!.spent;
    g.gw.ctx.store.upsertBudget({
      id: 'bud_ann',
      scope: 'user',
      scope_value: 'ann@example.com',
      period: 'month',
      limit_nanousd: Math.round(spent / 0.8),
      mode: 'hard',
      alert_at: [],
      created_at: now,
      updated_at: now + 1,
    });
    g.gw.ctx.spend.budgets.reload();
    up.next(answer());
    const warned = await messages(ann.access_token);
    assert.equal(warned.status, 200);
    assert.equal(warned.headers['anthropic-ratelimit-unified-status'], 'allowed_warning');
    assert.equal(warned.headers['anthropic-ratelimit-unified-overage-status'], 'allowed_warning');
    assert.equal(warned.headers['anthropic-ratelimit-unified-representative-claim'], 'overage');
    assert.equal(warned.headers['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.75');
    assert.equal(warned.headers['anthropic-ratelimit-unified-overage-utilization'], '0.8');
    assert.equal(warned.headers['anthropic-ratelimit-unified-reset'], String(Date.UTC(2026, 11, 1) / 1000));
    assert.equal(warned.headers['anthropic-ratelimit-requests-remaining'], undefined, "the upstream's own limits are not the engineer's");
    const u = await usage(ann.access_token);
    const extra = u.extra_usage as Record<string, unknown>;
    assert.deepEqual([extra.monthly_limit, extra.currency, extra.is_enabled], [Math.floor(Math.round(spent / 0.8) / 1e7), 'USD', true]);
    assert.ok(Number(extra.used_credits) > 0);
    const limits = u.limits as Record<string, unknown>[];
    assert.deepEqual(
      [limits.length, limits[0]!.kind, limits[0]!.group, limits[0]!.is_active, limits[0]!.resets_at],
      [1, 'spend', 'monthly', true, '2026-12-01T00:00:00.000Z'],
    );
    // Past the cap: the protocol's 429, our message, no representative-claim.
    const refused = await messages(ann.access_token);
    assert.equal(refused.status, 429);
    const err = JSON.parse(refused.body) as { error: { type: string; message: string } };
    assert.equal(err.error.type, 'billing_error');
    assert.match(err.error.message, /the monthly budget of user ann@example\.com is spent/);
    assert.deepEqual(
      [
        refused.headers['anthropic-ratelimit-unified-status'],
        refused.headers['anthropic-ratelimit-unified-overage-disabled-reason'],
        refused.headers['anthropic-ratelimit-unified-overage-period'],
        refused.headers['x-should-retry'],
      ],
      ['rejected', 'org_spend_cap_reached', 'monthly', 'false'],
    );
    assert.equal(refused.headers['anthropic-ratelimit-unified-representative-claim'], undefined);
    assert.equal(refused.headers['anthropic-ratelimit-unified-overage-status'], undefined);
    assert.equal(refused.headers['retry-after'], String((Date.UTC(2026, 11, 1) - clock) / 1000));
    g.gw.ctx.store.removeBudget('user', 'ann@example.com');
    g.gw.ctx.spend.budgets.reload();
  });

  it('shows an engineer without a cap what they spent, with no limits', async () => {
    const bob = await signIn('u-bob');
    const u = await usage(bob.access_token);
    const extra = u.extra_usage as Record<string, unknown>;
    assert.deepEqual([extra.monthly_limit, extra.utilization, u.limits], [null, null, []]);
    assert.ok('daily' in extra && 'weekly' in extra);
  });
});

describe('billing groups', () => {
  it("puts the tag name in the token; the tag value in a request is the line's project; Bedrock and Vertex never see tags", async () => {
    const ann = await signIn('u-ann');
    const claims = JSON.parse(Buffer.from(ann.access_token.split('.')[1]!, 'base64url').toString()) as { billing_group_tag?: string };
    assert.equal(claims.billing_group_tag, 'cost_center');
    const body = JSON.parse(claudeBody(1000, { model: 'claude-sonnet-4-6', stream: false }).toString()) as Record<string, unknown>;
    const r = await request(`${g.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ ...body, tags: { cost_center: 'checkout-revamp', other: 'x' } }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ann.access_token}`, 'anthropic-version': '2023-06-01' },
    });
    assert.equal(r.statusCode, 200);
    await r.body.text();
    await new Promise((res) => setTimeout(res, 0));
    const line = g.gw.ctx.store.queryLedger({}).find((l) => l.id === String(r.headers['x-tollgate-request-id']))!;
    assert.deepEqual([line.user, line.project], ['ann@example.com', 'checkout-revamp']);
    const scanned = scanBody(Buffer.from(JSON.stringify({ model: 'm', max_tokens: 1, messages: [], tags: { cost_center: 'x' } })));
    assert.equal(JSON.parse(bedrockBody(scanned, undefined, 'bedrock-2023-05-31', []).toString()).tags, undefined);
    assert.equal(JSON.parse(vertexBody(scanned, 'vertex-2023-10-16', false, 'm').toString()).tags, undefined);
  });
});

describe('managed settings', () => {
  /** Claude Code's checksum, written independently: keys sorted at every level, no whitespace. */
  function reference(v: unknown): string {
    const sort = (x: unknown): unknown =>
      Array.isArray(x)
        ? x.map(sort)
        : x && typeof x === 'object'
          ? Object.fromEntries(
              Object.keys(x)
                .sort()
                .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
            )
          : x;
    return (
      'sha256:' +
      createHash('sha256')
        .update(JSON.stringify(sort(v)))
        .digest('hex')
    );
  }

  async function get(token: string, headers: Record<string, string> = {}) {
    const r = await request(`${g.url}/managed/settings`, { headers: { authorization: `Bearer ${token}`, ...headers } });
    const text = await r.body.text();
    return {
      status: r.statusCode,
      etag: r.headers.etag,
      body: text ? (JSON.parse(text) as { uuid: string; checksum: string; settings: Record<string, unknown> }) : null,
    };
  }

  it('serves each user the entries of their groups, merged in order, with the protocol checksum, ETag and 304', async () => {
    const ann = await signIn('u-ann');
    const r = await get(ann.access_token);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body!.settings, {
      permissions: { deny: ['WebFetch'] },
      env: { CLAUDE_CODE_ENABLE_TELEMETRY: '1', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5', CLAUDE_CODE_GATEWAY_HINT_HEADERS: '1' },
    });
    assert.equal(r.body!.checksum, reference(r.body!.settings));
    assert.equal(r.etag, `"${r.body!.checksum}"`);
    assert.match(r.body!.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal((await get(ann.access_token, { 'if-none-match': String(r.etag) })).status, 304);
    assert.equal((await get(ann.access_token, { 'if-none-match': '"sha256:other"' })).status, 200);
    assert.equal((await get(ann.access_token, { 'if-none-match': '*' })).status, 200, '"*" is answered as usual');
    const bob = await signIn('u-bob');
    assert.deepEqual((await get(bob.access_token)).body!.settings, { permissions: { deny: ['WebFetch'] }, env: { CLAUDE_CODE_ENABLE_TELEMETRY: '1' } });
    // A virtual key is served by its team (and "*", which is everyone).
    const qa = g.key('quinn', 'qa');
    assert.deepEqual((await get(qa.secret)).body!.settings, {
      permissions: { deny: ['WebFetch'] },
      env: { CLAUDE_CODE_ENABLE_TELEMETRY: '1' },
      model: 'claude-haiku-4-5',
    });
    const unauth = await request(`${g.url}/managed/settings`);
    assert.equal(unauth.statusCode, 401);
    await unauth.body.text();
  });

  it('tollgate fleet: current, stale, edited and unmanaged machines from the checksums they report', async () => {
    const ann = await signIn('u-ann');
    const served = await get(ann.access_token);
    const bob = await signIn('u-bob');
    await get(bob.access_token);
    g.gw.ctx.store.recordServedSettings('sha256:' + 'a'.repeat(64), clock);
    const send = async (token: string, checksum: string) => {
      const r = await request(`${g.url}/v1/messages`, {
        method: 'POST',
        body: claudeBody(500, { model: 'claude-sonnet-4-6', stream: false }),
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'anthropic-version': '2023-06-01',
          'x-claude-code-managed-settings-checksum': checksum,
        },
      });
      await r.body.text();
    };
    await send(ann.access_token, served.body!.checksum);
    await send(bob.access_token, 'sha256:' + 'a'.repeat(64));
    const qa = g.key('quinn', 'qa');
    await send(qa.secret, 'sha256:' + 'b'.repeat(64));
    const zed = g.key('zed', 'unmapped-team');
    await send(zed.secret, 'sha256:' + 'c'.repeat(64));
    const r = tollgate(['fleet', '--all', '--json', '--config', g.configFile]);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { user: string; identity: string; status: string }[];
    const status = (id: string) => rows.find((x) => x.identity === id)?.status;
    assert.equal(rows.find((x) => x.user === 'ann@example.com' && x.status === 'current')?.status, 'current');
    assert.ok(rows.some((x) => x.user === 'bob@example.com' && x.status === 'stale'));
    assert.equal(status(qa.id), 'edited');
    // "*" applies to everyone here, so zed is managed too: what he runs was never served.
    assert.equal(status(zed.id), 'edited');
    const plain = tollgate(['fleet', '--config', g.configFile]);
    assert.doesNotMatch(plain.stdout, /current/, 'current machines only with --all');
    assert.doesNotMatch(plain.stdout, /a{20}/, 'checksums shortened in the table');
  });

  it('has no policy (404) for a user no entry matches', async () => {
    const up3 = await new FakeAnthropic().start();
    const gw = await startGateway(`${upstreamYaml(up3.url)}managed_settings:\n  - { teams: [qa], settings: { model: claude-haiku-4-5 } }\n`);
    try {
      const k = gw.key('zed', 'web');
      const r = await request(`${gw.url}/managed/settings`, { headers: { authorization: `Bearer ${k.secret}` } });
      assert.equal(r.statusCode, 404);
      await r.body.text();
    } finally {
      await gw.stop();
      await up3.stop();
    }
  });

  it('accepts OTLP traces under the bearer and drops them (200)', async () => {
    const ann = await signIn('u-ann');
    const r = await request(`${g.url}/v1/traces`, {
      method: 'POST',
      body: '{"resourceSpans":[]}',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ann.access_token}` },
    });
    assert.equal(r.statusCode, 200);
    await r.body.text();
  });
});

describe('TLS', () => {
  it('serves HTTPS from server.tls (cert and key relative to the config), discovery URLs on https', async () => {
    const fixtures = join(packageRoot(), 'test', 'fixtures', 'tls');
    const gw = await startGateway(`${upstreamYaml(up.url)}auth: { oidc: { issuer: "${idp.url}", client_id: tollgate } }\n`, {
      server: `tls: { cert: "${join(fixtures, 'cert.pem')}", key: "${join(fixtures, 'key.pem')}" }`,
    });
    const https = gw.url.replace('http://', 'https://');
    const agent = new Agent({ connect: { ca: readFileSync(join(fixtures, 'cert.pem')) } });
    try {
      const r = await request(`${https}/.well-known/oauth-authorization-server`, { dispatcher: agent });
      assert.equal(r.statusCode, 200);
      const meta = (await r.body.json()) as { token_endpoint: string };
      assert.equal(meta.token_endpoint, `${https}/oauth/token`);
      const k = gw.key('tia', 'web');
      const m = await request(`${https}/v1/messages`, {
        dispatcher: agent,
        method: 'POST',
        body: claudeBody(1000, { model: 'claude-sonnet-4-6', stream: false }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${k.secret}`, 'anthropic-version': '2023-06-01' },
      });
      assert.equal(m.statusCode, 200);
      await m.body.text();
      await assert.rejects(request(`${gw.url}/health/live`), 'plain http is not served on the TLS port');
    } finally {
      await agent.close();
      await gw.stop();
    }
  });
});

describe('groups decide routes, budgets and model policy', () => {
  it('routes, budgets and policy follow the team an IdP group maps to', async () => {
    const upA = await new FakeAnthropic().start();
    const upB = await new FakeAnthropic().start();
    const gw = await startGateway(
      `upstreams:
  - { name: general, type: anthropic, base_url: "${upA.url}", api_key: k1 }
  - { name: platform-only, type: anthropic, base_url: "${upB.url}", api_key: k2 }
routes: { default: [general], teams: { platform: [platform-only] } }
policy: { teams: { revenue: { allow: [haiku] } } }
budgets:
  - { team: revenue, period: month, limit_usd: 0.000001 }
auth: { oidc: { issuer: "${idp.url}", client_id: tollgate, client_secret: idp-client-secret }, page_limit_per_minute: 1000 }
teams_from_groups: { eng: platform, sales: revenue }
`,
    );
    const sign = async (as: string) => {
      const d = (await (await request(`${gw.url}/oauth/device_authorization`, form({}))).body.json()) as { device_code: string; user_code: string };
      idp.current = as;
      const submit = await request(`${gw.url}/device`, form({ user_code: d.user_code }));
      await submit.body.text();
      const atIdp = await request(String(submit.headers.location));
      await atIdp.body.text();
      await (await request(String(atIdp.headers.location))).body.text();
      const t = await request(`${gw.url}/oauth/token`, form({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: d.device_code }));
      return ((await t.body.json()) as { access_token: string }).access_token;
    };
    const call = async (token: string, model: string) => {
      const r = await request(`${gw.url}/v1/messages`, {
        method: 'POST',
        body: claudeBody(500, { model, stream: false }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'anthropic-version': '2023-06-01' },
      });
      return { status: r.statusCode, body: await r.body.text(), upstream: r.headers['x-tollgate-upstream'] };
    };
    try {
      const ann = await sign('u-ann'); // group eng -> team platform
      const bob = await sign('u-bob'); // group sales -> team revenue
      assert.equal((await call(ann, 'claude-opus-5-5')).upstream, 'platform-only', "the platform team's route");
      const opus = await call(bob, 'claude-opus-5-5');
      assert.equal(opus.status, 403, 'revenue may use Haiku only');
      assert.match(opus.body, /TG_MODEL_NOT_ALLOWED/);
      const first = await call(bob, 'claude-haiku-4-5');
      assert.deepEqual([first.status, first.upstream], [200, 'general']);
      const over = await call(bob, 'claude-haiku-4-5');
      assert.equal(over.status, 429, "the revenue team's budget");
      assert.match(over.body, /billing_error/, 'as Claude Code signed in expects it');
    } finally {
      await gw.stop();
      await upA.stop();
      await upB.stop();
    }
  });
});

describe('sign-in not configured', () => {
  it('answers its endpoints 404 with what to configure', async () => {
    const up2 = await new FakeAnthropic().start();
    const plain = await startGateway(upstreamYaml(up2.url));
    try {
      const r = await request(`${plain.url}/.well-known/oauth-authorization-server`);
      assert.equal(r.statusCode, 404);
      assert.match(await r.body.text(), /sign-in is not configured on this gateway \(auth\.oidc\)/);
    } finally {
      await plain.stop();
      await up2.stop();
    }
  });
});
