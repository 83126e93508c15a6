// Upstreams that serve Anthropic's own API on another cloud: Mantle (Claude in Amazon Bedrock)
// and Foundry (Claude in Microsoft Foundry). Their model ids, their auth, list prices, count
// tokens, and the real Claude Code CLI served by each.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { useTestAwsCredentials } from './helpers/fake-bedrock.js';
import { FakeNativeCloud } from './helpers/fake-native-cloud.js';
import { claudeBody, startGateway, type TestGateway } from './helpers/gateway.js';
import { CLAUDE, runClaude } from './helpers/claude.js';
import { loadCatalog } from '../src/routing/catalog.js';

const catalog = loadCatalog();
const mantleIds = new Set(catalog.models.map((m) => m.ids.mantle).filter(Boolean));
const foundryIds = new Set([...catalog.models.map((m) => m.ids.foundry).filter(Boolean), 'team-sonnet-deployment']);

describe('Mantle and Foundry upstreams', () => {
  let mantle: FakeNativeCloud;
  let mantleKey: FakeNativeCloud;
  let foundry: FakeNativeCloud;
  let t: TestGateway;
  let scratch: string;
  const saved = { ...process.env };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tollgate-native-'));
    mkdirSync(join(scratch, 'home'));
    useTestAwsCredentials(scratch);
    mantle = await new FakeNativeCloud('mantle', { region: 'us-west-2', models: (id) => mantleIds.has(id) }).start();
    mantleKey = await new FakeNativeCloud('mantle', { bearer: 'bedrock-api-key-123', models: (id) => mantleIds.has(id) }).start();
    foundry = await new FakeNativeCloud('foundry', { apiKey: 'foundry-key-456', models: (id) => foundryIds.has(id) }).start();
    t = await startGateway(`
upstreams:
  - { name: mantle-sigv4, type: mantle, region: us-west-2, base_url: "${mantle.url}/anthropic" }
  - { name: mantle-key, type: mantle, region: us-east-1, base_url: "${mantleKey.url}/anthropic", bearer_token: bedrock-api-key-123 }
  - { name: foundry, type: foundry, base_url: "${foundry.url}/anthropic", api_key: foundry-key-456, deployments: { claude-sonnet-4-5: team-sonnet-deployment } }
routes:
  default: [mantle-sigv4]
  teams: { keyed: [mantle-key], azure: [foundry] }
`);
  });
  after(async () => {
    await t.stop();
    await Promise.all([mantle.stop(), mantleKey.stop(), foundry.stop()]);
    process.env = saved;
    rmSync(scratch, { recursive: true, force: true });
  });

  const post = async (key: string, model: string, path = '/v1/messages', stream = true) => {
    const res = await request(t.url + path, { method: 'POST', body: claudeBody(300, { model, stream }), headers: { authorization: `Bearer ${key}` } });
    return { status: res.statusCode, text: await res.body.text(), id: String(res.headers['x-tollgate-request-id']) };
  };

  for (const [team, fake, upstream, wantId] of [
    ['web', () => mantle, 'mantle-sigv4', 'anthropic.claude-haiku-4-5'],
    ['keyed', () => mantleKey, 'mantle-key', 'anthropic.claude-haiku-4-5'],
    ['azure', () => foundry, 'foundry', 'claude-haiku-4-5'],
  ] as const)
    it(`${upstream}: the route's model id and auth, the answer streamed, priced at list`, async () => {
      const k = t.key(`user-${upstream}`, team);
      const r = await post(k.secret, 'claude-haiku-4-5');
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /event: message_stop/);
      const sent = fake().requests[fake().requests.length - 1]!;
      assert.equal(sent.body.model, wantId);
      assert.equal(sent.path, '/anthropic/v1/messages');
      const line = t.gw.ctx.store.queryLedger({ id: r.id })[0]!;
      assert.equal(line.route, upstream.startsWith('mantle') ? 'mantle' : 'foundry');
      assert.equal(line.upstream, upstream);
      assert.equal(line.upstream_model, wantId);
      // Haiku 4.5 at list: $1/M in, $5/M out; 1000 in, 100 out.
      assert.equal(line.cost_nanousd, 1000 * 1000 + 100 * 5000);
      const count = await post(k.secret, 'claude-haiku-4-5', '/v1/messages/count_tokens', false);
      assert.equal(count.status, 200, count.text);
      assert.deepEqual(JSON.parse(count.text), { input_tokens: 77 });
    });

  it('Foundry uses the configured deployment name; a model the route lacks is refused before it is sent', async () => {
    const k = t.key('azure-user', 'azure');
    const r = await post(k.secret, 'claude-sonnet-4-5');
    assert.equal(r.status, 200, r.text);
    assert.equal(foundry.requests[foundry.requests.length - 1]!.body.model, 'team-sonnet-deployment');
    const m = catalog.models.find((x) => !x.ids.mantle && x.ids.first_party);
    assert.ok(m, 'a catalog model not on Mantle');
    const refused = await post(t.key('web-user', 'web').secret, m.ids.first_party!);
    assert.equal(refused.status, 400);
    assert.match(refused.text, /TG_MODEL_NOT_ON_ROUTE.*not available on the mantle route/);
  });

  it('refuses a wrong credential as the upstream refusing the gateway (not the client)', async () => {
    const bad = await startGateway(`upstreams:\n  - { name: foundry, type: foundry, base_url: "${foundry.url}/anthropic", api_key: wrong-key }\n`);
    try {
      const r = await request(bad.url + '/v1/messages', {
        method: 'POST',
        body: claudeBody(100, { model: 'claude-haiku-4-5' }),
        headers: { authorization: `Bearer ${bad.key().secret}` },
      });
      const e = (await r.body.json()) as { error: { message: string } };
      assert.equal(r.statusCode, 502);
      assert.match(e.error.message, /^TG_UPSTREAM_AUTH/);
    } finally {
      await bad.stop();
    }
  });

  it('config: foundry needs resource or base_url; mantle a region', async () => {
    const { configSchema } = await import('../src/config/schema.js');
    const bad = configSchema.safeParse({ upstreams: [{ name: 'f', type: 'foundry', api_key: 'x' }] });
    assert.equal(bad.success, false);
    assert.match(JSON.stringify(bad.error?.issues), /set resource or base_url/);
    const ok = configSchema.safeParse({ upstreams: [{ name: 'f', type: 'foundry', resource: 'my-res', api_key: 'x' }] });
    assert.equal(ok.success, true);
    assert.equal(configSchema.safeParse({ upstreams: [{ name: 'm', type: 'mantle' }] }).success, false);
  });

  it('the real Claude Code CLI, served by Mantle and by Foundry', { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' }, async () => {
    for (const [team, route] of [
      ['web', 'mantle'],
      ['azure', 'foundry'],
    ] as const) {
      const k = t.key(`cli-${route}`, team);
      const r = await runClaude(join(scratch, 'home'), { ANTHROPIC_BASE_URL: t.url, ANTHROPIC_AUTH_TOKEN: k.secret }, ['--model', 'claude-sonnet-5-5']);
      assert.equal(r.is_error, false, JSON.stringify(r));
      assert.equal(r.result, `Hello from ${route}.`);
      const lines = t.gw.ctx.store.queryLedger({ user: `cli-${route}` }).filter((l) => l.streamed);
      assert.ok(lines.length >= 1);
      assert.equal(lines[lines.length - 1]!.route, route);
      // Both bill at list: the gateway's figure is Claude Code's own.
      assert.ok(Math.abs(lines.reduce((a, l) => a + l.cost_nanousd, 0) / 1e9 - r.total_cost_usd) < 1e-9);
    }
  });
});
