// Workload identity for CI: a pipeline's OIDC ID token as the bearer, verified against the
// issuer's keys, audience and claim rules, acting as a service identity with its own budget.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { FakeOidc } from './helpers/fake-oidc.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';

let ci: FakeOidc;
let other: FakeOidc;
let up: FakeAnthropic;
let g: TestGateway;

before(async () => {
  ci = await new FakeOidc().start();
  other = await new FakeOidc().start();
  up = await new FakeAnthropic().start();
  g = await startGateway(
    `${upstreamYaml(up.url)}auth:
  ci:
    - { issuer: "${ci.url}", audience: tollgate, claims: { repository: "acme/*", ref: "refs/heads/main" }, user: "ci:{repository}", team: platform }
budgets:
  - { user: "ci:acme/api", period: day, limit_usd: 0.000001 }
`,
  );
});
after(async () => {
  await g.stop();
  await up.stop();
  await ci.stop();
  await other.stop();
});

async function call(token: string): Promise<{ status: number; body: string; id: string }> {
  const r = await request(`${g.url}/v1/messages`, {
    method: 'POST',
    body: claudeBody(1000, { model: 'claude-sonnet-4-6', stream: false }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'anthropic-version': '2023-06-01' },
  });
  return { status: r.statusCode, body: await r.body.text(), id: String(r.headers['x-tollgate-request-id']) };
}

describe('CI workload identity', () => {
  it('accepts a CI job token as the bearer: the ledger line names the pipeline identity and its team', async () => {
    const t = await ci.ciToken({ repository: 'acme/web', ref: 'refs/heads/main' }, 'tollgate');
    const r = await call(t);
    assert.equal(r.status, 200, r.body);
    const again = await call(t);
    assert.equal(again.status, 200, 'verified once, then known until it expires');
    await new Promise((res) => setTimeout(res, 0));
    const line = g.gw.ctx.store.queryLedger({}).find((l) => l.id === r.id)!;
    assert.deepEqual([line.user, line.team, line.key_id], ['ci:acme/web', 'platform', 'ci:ci:acme/web']);
  });

  it('refuses a token for another audience, another repository or branch, another issuer, or expired', async () => {
    const cases = [
      await ci.ciToken({ repository: 'acme/web', ref: 'refs/heads/main' }, 'someone-else'),
      await ci.ciToken({ repository: 'evil/web', ref: 'refs/heads/main' }, 'tollgate'),
      await ci.ciToken({ repository: 'acme/web', ref: 'refs/heads/feature' }, 'tollgate'),
      await other.ciToken({ repository: 'acme/web', ref: 'refs/heads/main' }, 'tollgate'),
      await ci.ciToken({ repository: 'acme/web', ref: 'refs/heads/main' }, 'tollgate', '-1m'),
    ];
    for (const [i, t] of cases.entries()) {
      const r = await call(t);
      assert.equal(r.status, 401, `case ${i}: ${r.body}`);
      assert.match(r.body, /TG_UNKNOWN_KEY/);
    }
  });

  it('has its own budget', async () => {
    const t = await ci.ciToken({ repository: 'acme/api', ref: 'refs/heads/main' }, 'tollgate');
    assert.equal((await call(t)).status, 200, 'the first request is admitted');
    const second = await call(t);
    assert.equal(second.status, 429);
    assert.match(second.body, /user ci:acme\/api/);
  });
});
