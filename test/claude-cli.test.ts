// The real Claude Code CLI (npm @anthropic-ai/claude-code, headless) through the gateway,
// offline against a fake Anthropic upstream on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { FakeAnthropic, type UsageSpec } from './helpers/fake-anthropic.js';
import { AWS_TEST_CREDS, FakeBedrock, useTestAwsCredentials } from './helpers/fake-bedrock.js';
import { FakeMetadata, FakeVertex } from './helpers/fake-vertex.js';
import { startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { CLAUDE, runClaude, type ClaudeResult } from './helpers/claude.js';

let fake: FakeAnthropic;
let t: TestGateway;
let home: string;

/** Runs `claude -p` in a scratch HOME with only the given auth variables, aimed at `t`. */
function claude(env: Record<string, string>, args: string[] = []): Promise<ClaudeResult> {
  return runClaude(home, { ANTHROPIC_BASE_URL: t.url, ...env }, args);
}

function sessionLines(sessionId: string) {
  return t.gw.ctx.store.queryLedger({}).filter((l) => l.session_id === sessionId && l.endpoint === 'messages');
}

before(async () => {
  fake = await new FakeAnthropic().start();
  // OTLP/gRPC on a port of its own (any free one), beside OTLP/HTTP on the gateway's.
  t = await startGateway(upstreamYaml(fake.url) + 'telemetry: { grpc_port: 0 }\n');
  home = mkdtempSync(join(tmpdir(), 'tollgate-claude-home-'));
});
after(async () => {
  await t.stop();
  await fake.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('real Claude Code CLI through tollgate', { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed (npm ci installs it)' }, () => {
  const usage: { start: UsageSpec; end: UsageSpec } = {
    start: {
      input_tokens: 1234,
      output_tokens: 1,
      cache_creation_input_tokens: 2500,
      cache_read_input_tokens: 31_000,
      cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 500 },
    },
    end: { output_tokens: 77 },
  };

  it('works with ANTHROPIC_AUTH_TOKEN; the ledger has the session, exact tokens and the cost Claude Code reports', async () => {
    const k = t.key('erin', 'platform');
    fake.fallback = { kind: 'stream', usageStart: usage.start, usageEnd: usage.end, text: 'Hello from tollgate.' };
    const r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret });
    assert.equal(r.is_error, false, JSON.stringify(r));
    assert.equal(r.result, 'Hello from tollgate.');
    const lines = sessionLines(r.session_id);
    assert.ok(lines.length >= 1, 'ledger has the session id Claude Code reports');
    const l = lines[lines.length - 1]!;
    assert.equal(l.user, 'erin');
    assert.equal(l.key_id, k.id);
    assert.deepEqual(
      [l.input_tokens, l.output_tokens, l.cache_read_input_tokens, l.cache_creation_5m_input_tokens, l.cache_creation_1h_input_tokens],
      [1234, 77, 31_000, 2000, 500],
    );
    assert.equal(r.usage.input_tokens, l.input_tokens);
    assert.equal(r.usage.output_tokens, l.output_tokens);
    const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
    assert.ok(Math.abs(total / 1e9 - r.total_cost_usd) < 1e-9, `gateway ${total / 1e9} vs Claude Code ${r.total_cost_usd}`);
    const sent = fake.requests[fake.requests.length - 1]!;
    assert.equal(sent.headers['x-api-key'], 'sk-upstream-secret');
    assert.equal(sent.headers.authorization, undefined);
  });

  it('works with ANTHROPIC_API_KEY', async () => {
    const k = t.key('frank', 'platform');
    const r = await claude({ ANTHROPIC_API_KEY: k.secret });
    assert.equal(r.is_error, false, JSON.stringify(r));
    const lines = sessionLines(r.session_id);
    assert.ok(lines.length >= 1);
    assert.equal(lines[0]!.user, 'frank');
  });

  it('works with an apiKeyHelper in settings.json', async () => {
    const k = t.key('gina', 'platform');
    const h = mkdtempSync(join(tmpdir(), 'tollgate-claude-helper-'));
    mkdirSync(join(h, '.claude'), { recursive: true });
    writeFileSync(join(h, '.claude', 'settings.json'), JSON.stringify({ apiKeyHelper: `echo ${k.secret}` }));
    const saved = home;
    home = h;
    try {
      const r = await claude({});
      assert.equal(r.is_error, false, JSON.stringify(r));
      assert.equal(sessionLines(r.session_id)[0]!.user, 'gina');
    } finally {
      home = saved;
      rmSync(h, { recursive: true, force: true });
    }
  });

  it('cost equals Claude Code’s own figure for other models and token mixes (long prompts, web search, 1h cache)', async () => {
    const k = t.key('hana', 'platform');
    const cases: { model: string; start: UsageSpec; end: UsageSpec }[] = [
      {
        model: 'claude-haiku-5-5',
        start: { input_tokens: 90_000, output_tokens: 1, cache_read_input_tokens: 20_000, cache_creation_input_tokens: 0 },
        end: { output_tokens: 500 },
      },
      {
        model: 'claude-sonnet-4-5',
        start: {
          input_tokens: 3,
          output_tokens: 1,
          cache_creation_input_tokens: 12_345,
          cache_read_input_tokens: 67_890,
          cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 12_345 },
        },
        end: { output_tokens: 999, server_tool_use: { web_search_requests: 3 } },
      },
    ];
    for (const c of cases) {
      fake.fallback = { kind: 'stream', usageStart: c.start, usageEnd: c.end };
      const r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret }, ['--model', c.model]);
      assert.equal(r.is_error, false, JSON.stringify(r));
      const lines = sessionLines(r.session_id);
      const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
      assert.ok(lines.every((l) => l.priced));
      assert.ok(Math.abs(total / 1e9 - r.total_cost_usd) < 1e-9, `${c.model}: gateway ${total / 1e9} vs Claude Code ${r.total_cost_usd}`);
    }
    fake.fallback = { kind: 'stream' };
  });

  it('cost equals Claude Code’s own figure for every usage field it prices: fast mode, US-only inference, iterations, zeros in message_delta, clamped cache breakdowns', async () => {
    const k = t.key('ines', 'platform');
    const cc = (m5: number, h1: number) => ({ ephemeral_5m_input_tokens: m5, ephemeral_1h_input_tokens: h1 });
    const it = (input: number, cacheRead: number, cacheWrite: number, output: number) => ({
      type: 'message',
      input_tokens: input,
      output_tokens: output,
      cache_read_input_tokens: cacheRead,
      cache_creation_input_tokens: cacheWrite,
    });
    const cases: { name: string; model: string; start: UsageSpec; end: UsageSpec; tier: string }[] = [
      {
        name: 'fast mode, Opus 4.6 ($30/$150)',
        model: 'claude-opus-4-6',
        start: {
          input_tokens: 4000,
          output_tokens: 1,
          cache_read_input_tokens: 10_000,
          cache_creation_input_tokens: 2000,
          cache_creation: cc(1500, 500),
          speed: 'fast',
        },
        end: { output_tokens: 300 },
        tier: 'fast',
      },
      {
        name: 'fast mode, Opus 4.7',
        model: 'claude-opus-4-7',
        start: { input_tokens: 900, output_tokens: 1, speed: 'fast' },
        end: { output_tokens: 50 },
        tier: 'fast',
      },
      {
        name: 'fast mode, Opus 4.8 ($10/$50)',
        model: 'claude-opus-4-8',
        start: { input_tokens: 12_000, output_tokens: 1, cache_read_input_tokens: 3000, speed: 'fast' },
        end: { output_tokens: 640 },
        tier: 'fast',
      },
      {
        name: 'fast mode, Opus 5',
        model: 'claude-opus-5',
        start: { input_tokens: 700, output_tokens: 1, speed: 'fast' },
        end: { output_tokens: 70 },
        tier: 'fast',
      },
      {
        name: 'fast mode, Opus 5.5 ($8/$40)',
        model: 'claude-opus-5-5',
        start: { input_tokens: 5000, output_tokens: 1, cache_creation_input_tokens: 800, cache_creation: cc(0, 800), speed: 'fast' },
        end: { output_tokens: 120 },
        tier: 'fast',
      },
      {
        name: 'fast mode, Fable 5.2 ($16/$80)',
        model: 'claude-fable-5-2',
        start: { input_tokens: 2500, output_tokens: 1, cache_read_input_tokens: 9000, speed: 'fast' },
        end: { output_tokens: 210 },
        tier: 'fast',
      },
      {
        name: 'fast reported on a model with no fast rates',
        model: 'claude-sonnet-4-6',
        start: { input_tokens: 2500, output_tokens: 1, speed: 'fast' },
        end: { output_tokens: 210 },
        tier: 'standard',
      },
      {
        name: 'US-only inference (1.1×, web search excepted)',
        model: 'claude-sonnet-4-6',
        start: { input_tokens: 3100, output_tokens: 1, cache_read_input_tokens: 40_000, inference_geo: 'us' },
        end: { output_tokens: 410, server_tool_use: { web_search_requests: 2 } },
        tier: 'standard',
      },
      {
        name: 'fast mode and US-only inference together',
        model: 'claude-opus-4-6',
        start: { input_tokens: 1000, output_tokens: 1, speed: 'fast', inference_geo: 'us' },
        end: { output_tokens: 100 },
        tier: 'fast',
      },
      {
        name: 'two iterations, only the first over Haiku 5.5’s long-prompt threshold',
        model: 'claude-haiku-5-5',
        start: { input_tokens: 120_000, output_tokens: 1, cache_read_input_tokens: 20_000, cache_creation_input_tokens: 0 },
        end: {
          input_tokens: 120_000,
          output_tokens: 700,
          cache_read_input_tokens: 20_000,
          cache_creation_input_tokens: 0,
          iterations: [it(90_000, 20_000, 0, 400), it(30_000, 0, 0, 300)],
        },
        tier: 'per_iteration',
      },
      {
        name: 'iterations that do not add up are ignored (the totals price it)',
        model: 'claude-haiku-5-5',
        start: { input_tokens: 60_000, output_tokens: 1 },
        end: { output_tokens: 100, iterations: [it(50_000, 0, 0, 50), it(60_000, 0, 0, 50)] },
        tier: 'standard',
      },
      {
        name: 'message_delta with input_tokens 0 does not erase message_start',
        model: 'claude-sonnet-4-5',
        start: { input_tokens: 4000, output_tokens: 1, cache_read_input_tokens: 900 },
        end: { input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 200 },
        tier: 'standard',
      },
      {
        name: 'a 1h breakdown larger than the reported total is clamped to it',
        model: 'claude-sonnet-4-5',
        start: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 500, cache_creation: cc(0, 2000) },
        end: { output_tokens: 20 },
        tier: 'standard',
      },
      {
        name: 'a breakdown only in message_delta',
        model: 'claude-opus-4-5',
        start: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0 },
        end: { output_tokens: 20, cache_creation_input_tokens: 3000, cache_creation: cc(1000, 2000) },
        tier: 'standard',
      },
    ];
    for (const c of cases) {
      fake.fallback = { kind: 'stream', usageStart: c.start, usageEnd: c.end };
      const r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret }, ['--model', c.model]);
      assert.equal(r.is_error, false, `${c.name}: ${JSON.stringify(r)}`);
      const lines = sessionLines(r.session_id);
      const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
      assert.ok(Math.abs(total / 1e9 - r.total_cost_usd) < 1e-9, `${c.name}: gateway ${total / 1e9} vs Claude Code ${r.total_cost_usd}`);
      assert.equal(lines.at(-1)!.price_tier, c.tier, c.name);
    }
    fake.fallback = { kind: 'stream' };
  });

  it('cost equals Claude Code’s own figure on every model of the catalog with a mix of every token class', async () => {
    const k = t.key('jon', 'platform');
    // One model each (with the cases above and the first tests: more than 30 runs of the real CLI
    // checked to 1e-9). Each model gets its own behaviour, so three runs go at once.
    // (Claude Code 2.1.330 sends Opus 4.0 and 4.1 as Opus 5.5, retired: not testable this way.)
    const models = [
      'claude-3-5-haiku',
      'claude-haiku-4-5',
      'claude-3-7-sonnet',
      'claude-sonnet-4-0',
      'claude-sonnet-5',
      'claude-sonnet-5-5',
      'claude-opus-4-6',
      'claude-opus-5',
      'claude-opus-4-5',
      'claude-fable-5',
      'claude-fable-5-1',
      'claude-mythos-5',
      'claude-mythos-5-1',
      'claude-mythos-5-2',
    ];
    const mix = (i: number): { start: UsageSpec; end: UsageSpec } => ({
      start: {
        input_tokens: 1000 + 17 * i,
        output_tokens: 1,
        cache_read_input_tokens: 20_000 + 101 * i,
        cache_creation_input_tokens: 3000 + 7 * i,
        cache_creation: { ephemeral_5m_input_tokens: 1000 + 7 * i, ephemeral_1h_input_tokens: 2000 },
      },
      end: { output_tokens: 300 + 13 * i, server_tool_use: { web_search_requests: i % 3 } },
    });
    models.forEach((m, i) => fake.perModel.set(m, { kind: 'stream', usageStart: mix(i).start, usageEnd: mix(i).end }));
    try {
      for (let i = 0; i < models.length; i += 3) {
        await Promise.all(
          models.slice(i, i + 3).map(async (m) => {
            const r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret }, ['--model', m]);
            assert.equal(r.is_error, false, `${m}: ${JSON.stringify(r)}`);
            const lines = sessionLines(r.session_id);
            assert.ok(lines.length >= 1 && lines.every((l) => l.priced), m);
            assert.equal(
              lines.at(-1)!.input_tokens,
              mix(models.indexOf(m)).start.input_tokens,
              `${m}: served its own token mix (the request named ${lines.at(-1)!.model_requested})`,
            );
            const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
            assert.ok(Math.abs(total / 1e9 - r.total_cost_usd) < 1e-9, `${m}: gateway ${total / 1e9} vs Claude Code ${r.total_cost_usd}`);
          }),
        );
      }
    } finally {
      fake.perModel.clear();
    }
  });

  it('shows the gateway’s readable error at once when the key is wrong (no retry loop)', async () => {
    const t0 = Date.now();
    const r = await claude({ ANTHROPIC_AUTH_TOKEN: 'tg_not_a_key' }).catch((e: { stdout?: string }) => JSON.parse(e.stdout ?? '{}') as ClaudeResult);
    assert.equal(r.is_error, true);
    assert.match(r.result, /401 TG_UNKNOWN_KEY: this virtual key is not known to the gateway/);
    assert.ok(Date.now() - t0 < 20_000, 'x-should-retry: false stops Claude Code retrying');
  });
});

describe('real Claude Code CLI: one setting, the route chosen by team', { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' }, () => {
  let bedrock: FakeBedrock;
  let vertex: FakeVertex;
  let metadata: FakeMetadata;
  let routed: TestGateway;
  const saved = { ...process.env };

  before(async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'tollgate-cc-routes-'));
    useTestAwsCredentials(scratch);
    bedrock = await new FakeBedrock('eu-west-1').start();
    metadata = await new FakeMetadata().start();
    process.env.GCE_METADATA_HOST = metadata.url;
    vertex = await new FakeVertex().start();
    routed = await startGateway(`
upstreams:
  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: sk-upstream-secret }
  - { name: bedrock-eu, type: bedrock, region: eu-west-1, base_url: "${bedrock.url}" }
  - { name: vertex-us, type: vertex, project: p1, region: us-east5, base_url: "${vertex.url}" }
routes:
  default: [anthropic]
  teams: { eu-finance: [bedrock-eu], ml: [vertex-us] }
`);
  });
  after(async () => {
    await routed.stop();
    await Promise.all([bedrock.stop(), vertex.stop(), metadata.stop()]);
    process.env = saved;
  });

  for (const [team, route] of [
    ['web', 'anthropic'],
    ['eu-finance', 'bedrock'],
    ['ml', 'vertex'],
  ] as const) {
    it(`team ${team} is served by the ${route} route, streaming, with an exact ledger line`, async () => {
      const gwSaved = t;
      t = routed;
      try {
        const k = routed.key(`${team}-dev`, team);
        bedrock.fallback = {
          kind: 'stream',
          usageStart: { input_tokens: 2000, output_tokens: 1, cache_read_input_tokens: 5000 },
          usageEnd: { output_tokens: 40 },
          text: 'Hello from tollgate.',
        };
        vertex.fallback = {
          kind: 'stream',
          usageStart: { input_tokens: 2000, output_tokens: 1, cache_read_input_tokens: 5000 },
          usageEnd: { output_tokens: 40 },
          text: 'Hello from tollgate.',
        };
        fake.fallback = {
          kind: 'stream',
          usageStart: { input_tokens: 2000, output_tokens: 1, cache_read_input_tokens: 5000 },
          usageEnd: { output_tokens: 40 },
          text: 'Hello from tollgate.',
        };
        const r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret }, ['--model', 'claude-sonnet-4-5']);
        assert.equal(r.is_error, false, JSON.stringify(r));
        assert.equal(r.result, 'Hello from tollgate.');
        const lines = routed.gw.ctx.store.queryLedger({}).filter((l) => l.session_id === r.session_id && l.endpoint === 'messages');
        assert.ok(lines.length >= 1);
        const l = lines[lines.length - 1]!;
        assert.equal(l.route, route);
        assert.equal(l.streamed, true);
        assert.deepEqual([l.input_tokens, l.output_tokens, l.cache_read_input_tokens], [2000, 40, 5000]);
        const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
        // Claude Code prices at list; the cloud routes' regional/geo endpoints cost 1.1× list.
        const factor = route === 'anthropic' ? 1 : 1.1;
        assert.ok(Math.abs(total / 1e9 - r.total_cost_usd * factor) < 1e-9, `${route}: gateway ${total / 1e9} vs Claude Code ${r.total_cost_usd} × ${factor}`);
      } finally {
        t = gwSaved;
      }
    });
  }
});

describe('real Claude Code CLI: budget refusal and roll-over', { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' }, () => {
  let clock = Date.parse('2026-11-25T16:00:00Z');
  let bt: TestGateway;
  before(async () => {
    bt = await startGateway(upstreamYaml(fake.url) + 'spend: { contact: "#finops on Slack" }\nbudgets:\n  - { user: bud, period: day, limit_usd: 0.02 }\n', {
      wallNow: () => clock,
    });
  });
  after(() => bt.stop());

  it('shows the readable budget message once the hard budget is spent, and works again the next day', async () => {
    const saved = t;
    t = bt;
    try {
      const k = bt.key('bud', 'platform');
      fake.fallback = {
        kind: 'stream',
        usageStart: {
          input_tokens: 1000,
          output_tokens: 1,
          cache_creation_input_tokens: 2000,
          cache_read_input_tokens: 3000,
          cache_creation: { ephemeral_5m_input_tokens: 1500, ephemeral_1h_input_tokens: 500 },
        },
        usageEnd: { output_tokens: 50 },
      };
      let r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret });
      assert.equal(r.is_error, false, JSON.stringify(r));
      r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret });
      assert.equal(r.is_error, false, 'spent $0.0171 < $0.02: admitted');
      const linesBefore = bt.gw.ctx.store.queryLedger({ keyId: k.id }).length;
      r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret }).catch((e: { stdout?: string }) => JSON.parse(e.stdout ?? '{}') as ClaudeResult);
      assert.equal(r.is_error, true);
      assert.match(
        r.result,
        /TG_BUDGET_EXHAUSTED: the daily budget of user bud is spent: \$0\.0342 of \$0\.0200\. It resets 26 Nov 2026, 00:00 UTC .* ask #finops on Slack/,
      );
      // Every request reaching the gateway gets a ledger line: one refused line means Claude
      // Code took x-should-retry: false and did not retry.
      const refused = bt.gw.ctx.store.queryLedger({ keyId: k.id }).slice(linesBefore);
      assert.deepEqual(
        refused.map((l) => l.error_code),
        ['TG_BUDGET_EXHAUSTED'],
        'not retried (x-should-retry: false)',
      );
      clock = Date.parse('2026-11-26T00:00:00Z');
      r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret });
      assert.equal(r.is_error, false, 'a new day, a new budget');
    } finally {
      t = saved;
      fake.fallback = { kind: 'stream' };
    }
  });
});

describe(
  'doctor agrees with the real Claude Code CLI on which credential and route win',
  { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' },
  () => {
    // A server that records what arrived and refuses it at once (Claude Code does not retry 400).
    const seen: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
    let server: import('node:http').Server;
    let url = '';
    before(async () => {
      const { createServer } = await import('node:http');
      server = createServer((req, res) => {
        seen.push({ url: req.url ?? '', headers: req.headers });
        req.resume();
        res.writeHead(400, { 'content-type': 'application/json', 'x-should-retry': 'false' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'recorded' } }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    async function both(env: Record<string, string>, settings?: object) {
      const h = mkdtempSync(join(tmpdir(), 'tollgate-precedence-'));
      mkdirSync(join(h, '.claude'), { recursive: true });
      if (settings) writeFileSync(join(h, '.claude', 'settings.json'), JSON.stringify(settings));
      seen.length = 0;
      const saved = home;
      home = h;
      try {
        await claude(env).catch(() => undefined);
      } finally {
        home = saved;
      }
      const { readClaudeConfig } = await import('../src/clientconfig/settings.js');
      const { diagnose } = await import('../src/clientconfig/doctor.js');
      const { loadCatalog } = await import('../src/routing/catalog.js');
      const report = diagnose(
        readClaudeConfig({ env: { ANTHROPIC_BASE_URL: t.url, ...env }, home: h, cwd: h, managedPath: join(h, 'none.json') }),
        loadCatalog(),
      );
      rmSync(h, { recursive: true, force: true });
      const first = seen.find((s) => s.url.includes('/messages') || s.url.includes('/model/'));
      return { report, first };
    }

    it('ANTHROPIC_AUTH_TOKEN beats ANTHROPIC_API_KEY', async () => {
      const { report, first } = await both({ ANTHROPIC_BASE_URL: url, ANTHROPIC_AUTH_TOKEN: 'tok-A', ANTHROPIC_API_KEY: 'key-B' });
      assert.equal(first?.headers.authorization, 'Bearer tok-A');
      assert.equal(report.credential.kind, 'ANTHROPIC_AUTH_TOKEN');
    });

    it('ANTHROPIC_API_KEY alone is sent as x-api-key, and beats an apiKeyHelper', async () => {
      let r = await both({ ANTHROPIC_BASE_URL: url, ANTHROPIC_API_KEY: 'key-B' });
      assert.equal(r.first?.headers['x-api-key'], 'key-B');
      assert.equal(r.report.credential.kind, 'ANTHROPIC_API_KEY');
      r = await both({ ANTHROPIC_BASE_URL: url, ANTHROPIC_API_KEY: 'key-B' }, { apiKeyHelper: 'echo helper-C' });
      assert.equal(r.first?.headers['x-api-key'], 'key-B');
      assert.equal(r.report.credential.kind, 'ANTHROPIC_API_KEY');
    });

    it('a cloud flag beats both: CLAUDE_CODE_USE_BEDROCK sends Bedrock requests to the Bedrock endpoint', async () => {
      const other = `${url}/not-here`;
      const { report, first } = await both({
        ANTHROPIC_BASE_URL: other,
        ANTHROPIC_API_KEY: 'key-B',
        CLAUDE_CODE_USE_BEDROCK: '1',
        AWS_REGION: 'us-east-1',
        ANTHROPIC_BEDROCK_BASE_URL: url,
        CLAUDE_CODE_SKIP_BEDROCK_AUTH: '1',
      });
      assert.ok(first, `no request recorded: ${JSON.stringify(seen.map((s) => s.url))}`);
      assert.match(first.url, /^\/model\/us\.anthropic\./, 'Bedrock InvokeModel path with a us. profile');
      assert.equal(report.provider, 'bedrock');
      assert.ok(report.findings.some((f) => f.code === 'CLOUD_FLAG_OVERRIDES_BASE_URL'));
    });
  },
);

describe(
  'real Claude Code CLI: its telemetry into tollgate, reconciled with the ledger',
  { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' },
  () => {
    for (const protocol of ['http/json', 'http/protobuf', 'grpc'])
      it(`stores metrics and api_request events (${protocol}) under the key's user and session, matching the ledger`, async () => {
        const user = { 'http/json': 'olly', 'http/protobuf': 'polly', grpc: 'grolly' }[protocol]!;
        const k = t.key(user, 'obs');
        fake.fallback = {
          kind: 'stream',
          usageStart: { input_tokens: 1000, output_tokens: 1, cache_read_input_tokens: 3000 },
          usageEnd: { output_tokens: 50 },
        };
        const r = await claude({
          ANTHROPIC_AUTH_TOKEN: k.secret,
          CLAUDE_CODE_ENABLE_TELEMETRY: '1',
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_LOGS_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
          OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? `http://127.0.0.1:${t.gw.grpc!.port}` : t.url,
          OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${k.secret}`,
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
          OTEL_LOGS_EXPORT_INTERVAL: '500',
        });
        assert.equal(r.is_error, false, JSON.stringify(r));
        fake.fallback = { kind: 'stream' };
        // The telemetry tables as stored (same names and columns on both stores).
        const stored = async <T>(sql: string, param: string): Promise<T[]> => {
          const store = t.gw.ctx.store;
          if (store instanceof SqliteStore) return store.db.prepare(sql.replace('$1', '?')).all(param) as T[];
          const c = new pg.Client({ connectionString: readFileSync(join(t.dir, 'postgres-url'), 'utf8') });
          await c.connect();
          try {
            return (await c.query(sql, [param])).rows as T[];
          } finally {
            await c.end();
          }
        };
        const deadline = Date.now() + 10_000;
        let events: { user: string; team: string; session_id: string; cost_nanousd: number; input_tokens: number }[] = [];
        while (Date.now() < deadline) {
          events = await stored<(typeof events)[number]>('SELECT * FROM telemetry_events WHERE session_id = $1', r.session_id);
          if (events.length) break;
          await new Promise((res) => setTimeout(res, 200));
        }
        assert.ok(events.length >= 1, 'api_request events arrived');
        assert.deepEqual([events[0]!.user, events[0]!.team, Number(events[0]!.input_tokens)], [user, 'obs', 1000]);
        const metrics = (
          await stored<{ metric: string; kind: string | null; v: number | string }>(
            'SELECT metric, kind, SUM(delta) AS v FROM telemetry_metrics WHERE session_id = $1 GROUP BY 1, 2',
            r.session_id,
          )
        ).map((m) => ({ ...m, v: Number(m.v) }));
        assert.ok(
          metrics.some((m) => m.metric === 'claude_code.cost.usage' && Math.abs(m.v - r.total_cost_usd) < 1e-9),
          JSON.stringify(metrics),
        );
        assert.ok(metrics.some((m) => m.metric === 'claude_code.token.usage' && m.kind === 'input' && m.v === 1000));
        const { reconcile } = await import('../src/reports/reconcile.js');
        const { loadCatalog } = await import('../src/routing/catalog.js');
        const rows = reconcile(t.gw.ctx.store, loadCatalog(), 'user', Date.now() - 3600e3, Date.now() + 60e3).rows.filter((x) => x.group === user);
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.flagged, false, JSON.stringify(rows[0]));
        assert.ok(Math.abs(rows[0]!.ledger_usd - rows[0]!.telemetry_usd) < 1e-9);
        assert.equal(rows[0]!.ledger_tokens, rows[0]!.telemetry_tokens);
      });
  },
);

describe('real Claude Code CLI: no retry storms through tollgate', { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' }, () => {
  // Claude Code retries failed requests itself; the gateway must not multiply that. Each case
  // runs the CLI straight at the fake upstream, then through tollgate, and counts the calls
  // the upstream saw. CLAUDE_CODE_MAX_RETRIES keeps a run short; the ratio is what matters.
  async function calls(direct: boolean, behaviour: Parameters<FakeAnthropic['next']>[0]): Promise<{ calls: number; result: ClaudeResult }> {
    const k = t.key('storm', 'platform');
    fake.fallback = behaviour;
    const n0 = fake.requests.length;
    const env: Record<string, string> = direct ? { ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: 'sk-direct' } : { ANTHROPIC_API_KEY: k.secret };
    const result = await claude({ ...env, CLAUDE_CODE_MAX_RETRIES: '2' }).catch((e: { stdout?: string }) => JSON.parse(e.stdout ?? '{}') as ClaudeResult);
    fake.fallback = { kind: 'stream' };
    return { calls: fake.requests.length - n0, result };
  }

  it('a 529 outage costs no more upstream calls through tollgate than direct', async () => {
    const overloaded = { kind: 'error' as const, status: 529, type: 'overloaded_error' };
    const direct = await calls(true, overloaded);
    const through = await calls(false, overloaded);
    assert.equal(direct.result.is_error, true);
    assert.equal(through.result.is_error, true);
    assert.match(through.result.result, /529|Overloaded/i);
    assert.ok(direct.calls >= 2, `direct: ${direct.calls}`);
    assert.ok(through.calls <= direct.calls, `through tollgate ${through.calls} upstream calls, direct ${direct.calls}`);
  });

  it("a 429 with retry-after: as many calls as direct, and the client sees the upstream's rate-limit error", async () => {
    const limited = {
      kind: 'error' as const,
      status: 429,
      type: 'rate_limit_error',
      headers: { 'retry-after': '1', 'anthropic-ratelimit-requests-remaining': '0' },
    };
    const direct = await calls(true, limited);
    const through = await calls(false, limited);
    assert.equal(through.result.is_error, true);
    assert.match(through.result.result, /429|rate_limit/i);
    assert.ok(through.calls <= direct.calls, `through tollgate ${through.calls} upstream calls, direct ${direct.calls}`);
  });
});

describe("real Claude Code CLI: the gateway's own credentials refused", { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed' }, () => {
  it('shows TG_UPSTREAM_AUTH at once: one upstream call, no retries by the gateway or by Claude Code', async () => {
    const bedrock = await new FakeBedrock('eu-west-1').start();
    const saved = { ...process.env };
    // The standard AWS chain finds credentials, but not the ones Bedrock accepts.
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: AWS_TEST_CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: 'expired-or-wrong',
      AWS_SESSION_TOKEN: AWS_TEST_CREDS.sessionToken,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    const bt = await startGateway(`upstreams:\n  - { name: bedrock-eu, type: bedrock, region: eu-west-1, base_url: "${bedrock.url}" }\n`);
    const saved2 = t;
    t = bt;
    try {
      const k = bt.key('sig', 'platform');
      const r = await claude({ ANTHROPIC_AUTH_TOKEN: k.secret, CLAUDE_CODE_MAX_RETRIES: '5' }).catch(
        (e: { stdout?: string }) => JSON.parse(e.stdout ?? '{}') as ClaudeResult,
      );
      assert.equal(r.is_error, true);
      assert.match(r.result, /TG_UPSTREAM_AUTH: upstream "bedrock-eu" refused the gateway's credentials/);
      assert.equal(bedrock.denied, 1, `Bedrock saw ${bedrock.denied} calls`);
      assert.equal(bt.gw.ctx.store.queryLedger({ keyId: k.id }).filter((l) => l.endpoint === 'messages').length, 1, 'Claude Code did not retry');
    } finally {
      t = saved2;
      process.env = saved;
      await bt.stop();
      await bedrock.stop();
    }
  });
});
