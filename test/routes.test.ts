// Billing routes end to end: Bedrock (SigV4 checked with AWS's signer, event-stream framed by
// AWS's codec) and Vertex (token from a local metadata server), routing by team, failover.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { AWS_TEST_CREDS, BEDROCK_REJECTS, FakeBedrock } from './helpers/fake-bedrock.js';
import { FakeMetadata, FakeVertex } from './helpers/fake-vertex.js';
import { claudeBody, startGateway, type TestGateway } from './helpers/gateway.js';

// The standard AWS and Google credential chains, pointed at test credentials and a local
// metadata server; nothing here can reach a cloud.
const scratch = mkdtempSync(join(tmpdir(), 'tollgate-routes-'));
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: AWS_TEST_CREDS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: AWS_TEST_CREDS.secretAccessKey,
  AWS_SESSION_TOKEN: AWS_TEST_CREDS.sessionToken,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: join(scratch, 'aws-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'aws-credentials'),
  CLOUDSDK_CONFIG: join(scratch, 'gcloud'),
});
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.AWS_PROFILE;

let anthropic: FakeAnthropic;
let bedrock: FakeBedrock;
let bedrockKeyed: FakeBedrock;
let vertex: FakeVertex;
let metadata: FakeMetadata;
let t: TestGateway;

async function post(gw: TestGateway, key: string, body: Buffer | string, headers: Record<string, string> = {}, path = '/v1/messages?beta=true') {
  const res = await request(gw.url + path, {
    method: 'POST',
    body,
    headers: { authorization: `Bearer ${key}`, 'anthropic-version': '2023-06-01', ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

/** A gate for a fake's stream, and a post that opens it once the client has read `until`:
 * the fake's next bytes then follow what the client already has, on any machine. */
function gated(until: string): { gate: Promise<void>; post: (gw: TestGateway, key: string, body: Buffer) => Promise<{ status: number; text: string }> } {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  return {
    gate,
    async post(gw, key, body) {
      const res = await request(gw.url + '/v1/messages?beta=true', {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${key}`, 'anthropic-version': '2023-06-01' },
      });
      let text = '';
      // If the gateway never forwards `until`, open anyway so the test fails on its assertions.
      const fallback = setTimeout(open, 30_000);
      for await (const c of res.body) {
        text += (c as Buffer).toString();
        if (text.includes(until)) open();
      }
      clearTimeout(fallback);
      open();
      return { status: res.statusCode, text };
    },
  };
}

function lastLine(gw: TestGateway) {
  const l = gw.gw.ctx.store.queryLedger({});
  return l[l.length - 1]!;
}

function sseEventsOf(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const ev = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? '{}';
      return { event: ev, data: JSON.parse(data) as Record<string, unknown> };
    });
}

before(async () => {
  anthropic = await new FakeAnthropic().start();
  bedrock = await new FakeBedrock('eu-west-1').start();
  bedrockKeyed = await new FakeBedrock('us-east-1', 'bedrock-api-key-123').start();
  metadata = await new FakeMetadata().start();
  process.env.GCE_METADATA_HOST = metadata.url;
  vertex = await new FakeVertex().start();
  t = await startGateway(
    `
upstreams:
  - { name: anthropic, type: anthropic, base_url: "${anthropic.url}", api_key: sk-ant }
  - { name: bedrock-eu, type: bedrock, region: eu-west-1, profile: geo, base_url: "${bedrock.url}",
      application_inference_profiles: {},
      team_inference_profiles: { tagged: { claude-sonnet-4-5: "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123" } } }
  - { name: bedrock-key, type: bedrock, region: us-east-1, profile: global, base_url: "${bedrockKeyed.url}", bearer_token: bedrock-api-key-123 }
  - { name: vertex-us, type: vertex, project: my-proj, region: us-east5, base_url: "${vertex.url}",
      model_regions: { claude-haiku-4-5: europe-west1 } }
routes:
  default: [anthropic, vertex-us]
  teams:
    eu-finance: [bedrock-eu]
    tagged: [bedrock-eu]
    keyed: [bedrock-key]
    vertex: [vertex-us]
    cloud-first: [bedrock-eu, anthropic]
failover: { backoff_ms: 1, max_backoff_ms: 5, cooldown_after: 3, cooldown_ms: 60000 }
`,
    { server: 'ping_interval_ms: 100' },
  );
});
after(async () => {
  await t.stop();
  await Promise.all([anthropic.stop(), bedrock.stop(), bedrockKeyed.stop(), vertex.stop(), metadata.stop()]);
});
beforeEach(() => {
  for (const f of [bedrock, bedrockKeyed, vertex, anthropic]) (f as unknown as { script: unknown[] }).script.length = 0;
  for (const u of ['anthropic', 'bedrock-eu', 'bedrock-key', 'vertex-us']) t.gw.ctx.router.success(u);
  bedrock.requests.length = 0;
  vertex.requests.length = 0;
  anthropic.requests.length = 0;
});

describe('Bedrock route', () => {
  it('translates the request, signs it with SigV4, and streams Anthropic events back', async () => {
    const k = t.key('eve', 'eu-finance');
    bedrock.fallback = {
      kind: 'stream',
      chunkSize: 13,
      usageStart: { input_tokens: 1000, output_tokens: 1, cache_read_input_tokens: 2000, cache_creation_input_tokens: 400 },
      usageEnd: { output_tokens: 100 },
    };
    const r = await post(t, k.secret, claudeBody(3000, { model: 'claude-sonnet-4-5-20250929' }), {
      'anthropic-beta': `claude-code-20250219,interleaved-thinking-2025-05-14,${BEDROCK_REJECTS[1]}`,
    });
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    const got = bedrock.requests[0]!;
    assert.equal(got.auth, 'sigv4');
    assert.equal(got.operation, 'invoke-with-response-stream');
    assert.equal(got.modelId, 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0', 'geo profile for eu-west-1');
    assert.equal(got.body.anthropic_version, 'bedrock-2023-05-31');
    assert.deepEqual(got.body.anthropic_beta, ['interleaved-thinking-2025-05-14'], 'rejected betas dropped');
    assert.ok(!('model' in got.body) && !('stream' in got.body));
    assert.ok(Array.isArray(got.body.messages));
    const events = sseEventsOf(r.text);
    assert.deepEqual(
      events
        .map((e) => e.event)
        .filter((e) => e !== 'ping')
        .slice(0, 2),
      ['message_start', 'content_block_start'],
    );
    assert.equal((events[0]!.data.message as { model: string }).model, 'claude-sonnet-4-5-20250929', 'client sees the id it asked for');
    assert.ok(!r.text.includes('amazon-bedrock-invocationMetrics'), 'route-specific fields stripped');
    assert.equal(events[events.length - 1]!.event, 'message_stop');
    const l = lastLine(t);
    assert.deepEqual(
      [l.route, l.upstream, l.region, l.endpoint_type, l.upstream_model],
      ['bedrock', 'bedrock-eu', 'eu-west-1', 'geo', 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0'],
    );
    assert.deepEqual([l.input_tokens, l.output_tokens, l.cache_read_input_tokens, l.cache_creation_5m_input_tokens], [1000, 100, 2000, 400]);
    // Sonnet 4.5 on a geo profile: 1.1 × list ($3 in, $15 out, $0.30 read, $3.75 write).
    const list = 1000 * 3000 + 100 * 15000 + 2000 * 300 + 400 * 3750; // nano-USD
    assert.equal(l.cost_nanousd, Math.round(list * 1.1));
    bedrock.fallback = { kind: 'stream' };
  });

  it('uses the team application inference profile ARN, percent-encoded in the path', async () => {
    const k = t.key('tia', 'tagged');
    const r = await post(t, k.secret, claudeBody(500, { model: 'claude-sonnet-4-5' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(bedrock.requests[0]!.modelId, 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123');
    assert.match(bedrock.requests[0]!.url, /application-inference-profile%2Fabc123/);
  });

  it('authenticates with a Bedrock API key and uses global profiles at list price', async () => {
    const k = t.key('kim', 'keyed');
    bedrockKeyed.fallback = { kind: 'stream', usageStart: { input_tokens: 1000, output_tokens: 1 }, usageEnd: { output_tokens: 10 } };
    const r = await post(t, k.secret, claudeBody(500, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(bedrockKeyed.requests[bedrockKeyed.requests.length - 1]!.auth, 'bearer');
    assert.equal(bedrockKeyed.requests[bedrockKeyed.requests.length - 1]!.modelId, 'global.anthropic.claude-haiku-4-5-20251001-v1:0');
    const l = lastLine(t);
    assert.equal(l.endpoint_type, 'global');
    assert.equal(l.cost_nanousd, 1000 * 1000 + 10 * 5000, 'global endpoint: list price');
  });

  it('serves non-streaming requests through /invoke and count_tokens through /count-tokens', async () => {
    const k = t.key('eve2', 'eu-finance');
    bedrock.next({ kind: 'json', usage: { input_tokens: 30, output_tokens: 5 } });
    let r = await post(t, k.secret, claudeBody(500, { model: 'claude-opus-4-6', stream: false }));
    assert.equal(r.status, 200, r.text);
    const msg = JSON.parse(r.text) as { model: string; usage: { input_tokens: number } };
    assert.equal(msg.model, 'claude-opus-4-6');
    assert.equal(bedrock.requests[0]!.operation, 'invoke');
    assert.equal(bedrock.requests[0]!.modelId, 'eu.anthropic.claude-opus-4-6-v1');
    assert.equal(lastLine(t).input_tokens, 30);
    r = await post(t, k.secret, JSON.stringify({ model: 'claude-opus-4-6', messages: [{ role: 'user', content: 'hi' }] }), {}, '/v1/messages/count_tokens');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { input_tokens: 77 });
    assert.equal(bedrock.requests[1]!.operation, 'count-tokens');
    assert.equal(bedrock.requests[1]!.modelId, 'anthropic.claude-opus-4-6-v1', 'base model id for count-tokens');
  });

  it("answers 501 not_supported (x-should-retry: false) where Bedrock cannot count a model's tokens, or asks the next upstream that can", async () => {
    bedrock.cannotCount.add('anthropic.claude-opus-4-6-v1');
    try {
      const body = JSON.stringify({ model: 'claude-opus-4-6', messages: [{ role: 'user', content: 'hi' }] });
      const before = bedrock.requests.length;
      const r = await post(t, t.key('eve5', 'eu-finance').secret, body, {}, '/v1/messages/count_tokens');
      assert.equal(r.status, 501, r.text);
      assert.equal(r.headers['x-should-retry'], 'false');
      const err = (JSON.parse(r.text) as { error: { type: string; message: string } }).error;
      assert.equal(err.type, 'not_supported');
      assert.match(err.message, /doesn't support counting tokens/);
      assert.equal(bedrock.requests.length - before, 1, 'asked once: not an outage to retry');
      assert.deepEqual([lastLine(t).http_status, lastLine(t).cost_nanousd], [501, 0]);

      // On a route with another upstream, that one counts (and Bedrock is not marked as failing).
      const r2 = await post(t, t.key('eve6', 'cloud-first').secret, body, {}, '/v1/messages/count_tokens');
      assert.equal(r2.status, 200, r2.text);
      assert.deepEqual(JSON.parse(r2.text), { input_tokens: 42 }, "the fake Anthropic API's count");
      assert.deepEqual(
        lastLine(t).attempts.map((a) => [a.upstream, a.status]),
        [
          ['bedrock-eu', 400],
          ['anthropic', 200],
        ],
      );
    } finally {
      bedrock.cannotCount.clear();
    }
  });

  it('maps pre-stream errors and exception frames to Anthropic errors', async () => {
    const k = t.key('eve3', 'eu-finance');
    const cases: [string, number, number, string][] = [
      ['ThrottlingException', 429, 429, 'rate_limit_error'],
      ['ServiceUnavailableException', 503, 529, 'overloaded_error'],
      ['ValidationException', 400, 400, 'invalid_request_error'],
      // The gateway's own IAM permissions: an operator's fix, not retried (see below).
      ['AccessDeniedException', 403, 502, 'api_error'],
      ['ResourceNotFoundException', 404, 404, 'not_found_error'],
      ['ModelNotReadyException', 429, 429, 'rate_limit_error'],
      ['InternalServerException', 500, 500, 'api_error'],
    ];
    for (const [type, status, want, wantType] of cases) {
      // Retryable errors are tried up to max_attempts times on the only upstream of the team.
      bedrock.next(...Array.from({ length: 3 }, () => ({ kind: 'error' as const, status, errorType: type, message: `${type} message` })));
      const r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
      assert.equal(r.status, want, `${type}: ${r.text}`);
      const e = JSON.parse(r.text) as { type: string; error: { type: string; message: string } };
      assert.equal(e.type, 'error');
      assert.equal(e.error.type, wantType, type);
      assert.match(e.error.message, new RegExp(type));
      bedrock['script'].length = 0;
      t.gw.ctx.router.success('bedrock-eu');
    }
    // Exception frame before any event: no client byte yet, so it counts as a failure.
    bedrock.next(...Array.from({ length: 3 }, () => ({ kind: 'stream' as const, exceptionAfter: 0, exception: 'throttlingException' })));
    let r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 429, r.text);
    assert.equal((JSON.parse(r.text) as { error: { type: string } }).error.type, 'rate_limit_error');
    t.gw.ctx.router.success('bedrock-eu');
    // Exception frame mid-stream: the client gets an SSE error event.
    for (const [frame, type] of [
      ['modelStreamErrorException', 'api_error'],
      ['internalServerException', 'api_error'],
      ['serviceUnavailableException', 'overloaded_error'],
      ['validationException', 'invalid_request_error'],
      ['modelTimeoutException', 'timeout_error'],
    ]) {
      const g = gated('event: message_start');
      bedrock.next({ kind: 'stream', exceptionAfter: 3, exception: frame as string, gate: g.gate });
      r = { ...(await g.post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }))), headers: {} };
      assert.equal(r.status, 200);
      const evs = sseEventsOf(r.text);
      const last = evs[evs.length - 1]!;
      assert.equal(last.event, 'error', frame);
      assert.equal((last.data.error as { type: string }).type, type, frame);
      assert.equal(lastLine(t).error_type, type);
    }
  });

  it('fills long silences with pings', async () => {
    const k = t.key('pia', 'eu-finance');
    const g = gated('event: ping');
    bedrock.next({ kind: 'stream', pauseAfterFirstMs: 150, gate: g.gate });
    const r = await g.post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 200);
    const evs = sseEventsOf(r.text).map((e) => e.event);
    assert.equal(evs[0], 'message_start');
    assert.ok(evs.indexOf('ping') > 0 && evs.indexOf('ping') < evs.indexOf('content_block_start'), `ping during the silence: ${evs.join(',')}`);
  });

  it('refuses a model the catalog cannot map, naming the route', async () => {
    const k = t.key('eve4', 'eu-finance');
    let r = await post(t, k.secret, claudeBody(300, { model: 'claude-unknown-1' }));
    assert.equal(r.status, 400);
    assert.match(r.text, /TG_MODEL_NOT_ON_ROUTE: upstream \\"bedrock-eu\\": model \\"claude-unknown-1\\" is not in the catalog.*bedrock route/);
    r = await post(t, k.secret, claudeBody(300, { model: 'claude-mythos-5' }));
    assert.equal(r.status, 400);
    assert.match(r.text, /not available on the bedrock route/);
    assert.equal(bedrock.requests.length, 0);
  });
});

describe('Vertex route', () => {
  it('calls streamRawPredict with a metadata-server token, region overrides, and the client model back', async () => {
    const k = t.key('vic', 'vertex');
    vertex.fallback = { kind: 'stream', usageStart: { input_tokens: 500, output_tokens: 1 }, usageEnd: { output_tokens: 50 } };
    let r = await post(t, k.secret, claudeBody(800, { model: 'claude-sonnet-4-6' }), { 'anthropic-beta': 'interleaved-thinking-2025-05-14' });
    assert.equal(r.status, 200, r.text);
    let got = vertex.requests[0]!;
    assert.deepEqual([got.project, got.region, got.model, got.method], ['my-proj', 'us-east5', 'claude-sonnet-4-6', 'streamRawPredict']);
    assert.equal(got.body.anthropic_version, 'vertex-2023-10-16');
    assert.equal(got.body.stream, true);
    assert.ok(!('model' in got.body));
    assert.equal(got.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14');
    assert.ok(metadata.tokensIssued >= 1);
    let l = lastLine(t);
    assert.deepEqual([l.route, l.region, l.endpoint_type, l.upstream_model], ['vertex', 'us-east5', 'regional', 'claude-sonnet-4-6']);
    assert.equal(l.cost_nanousd, Math.round((500 * 3000 + 50 * 15000) * 1.1), 'regional endpoint: 1.1× list');
    // Per-model region override (the VERTEX_REGION_CLAUDE_* idea).
    r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 200, r.text);
    got = vertex.requests[1]!;
    assert.deepEqual([got.region, got.model], ['europe-west1', 'claude-haiku-4-5@20251001']);
    const start = sseEventsOf(r.text).find((e) => e.event === 'message_start')!;
    assert.equal((start.data.message as { model: string }).model, 'claude-haiku-4-5');
    l = lastLine(t);
    assert.equal(l.region, 'europe-west1');
    vertex.fallback = { kind: 'stream' };
  });

  it('count_tokens keeps the model in the body and goes to count-tokens:rawPredict', async () => {
    const k = t.key('vic2', 'vertex');
    const r = await post(
      t,
      k.secret,
      JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] }),
      {},
      '/v1/messages/count_tokens',
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { input_tokens: 55 });
    assert.equal(vertex.requests[0]!.model, 'count-tokens');
    assert.equal(vertex.requests[0]!.body.model, 'claude-sonnet-4-6');
  });

  it('maps Google-shaped errors to Anthropic ones', async () => {
    const k = t.key('vic3', 'vertex');
    for (const [code, status, want, type, array] of [
      [429, 'RESOURCE_EXHAUSTED', 429, 'rate_limit_error', false],
      [400, 'INVALID_ARGUMENT', 400, 'invalid_request_error', true],
      [403, 'PERMISSION_DENIED', 502, 'api_error', false],
      [503, 'UNAVAILABLE', 529, 'overloaded_error', true],
    ] as const) {
      vertex.next(...Array.from({ length: 3 }, () => ({ kind: 'google-error' as const, code, status, message: 'quota', array })));
      const r = await post(t, k.secret, claudeBody(300, { model: 'claude-sonnet-4-6' }));
      assert.equal(r.status, want, r.text);
      assert.equal((JSON.parse(r.text) as { error: { type: string } }).error.type, type);
      vertex['script'].length = 0;
      t.gw.ctx.router.success('vertex-us');
    }
  });
});

describe('cloud routes as Claude Code uses them natively', () => {
  // What Claude Code 2.1.330 sends to the Anthropic API (anthropic-beta), and what it sends in
  // Bedrock mode (its body's anthropic_beta) and in Vertex mode (its anthropic-beta header):
  // data/routes.json keeps the difference as each route's drop list.
  const ANTHROPIC_MODE = [
    'claude-code-20250219',
    'interleaved-thinking-2025-05-14',
    'context-management-2025-06-27',
    'per-turn-control-2026-07-01',
    'mid-conversation-tool-changes-2026-07-01',
    'thinking-token-count-2026-05-13',
    'advanced-tool-use-2025-11-20',
    'effort-2025-11-24',
  ];
  const withContext = (model: string) => {
    const b = JSON.parse(claudeBody(500, { model }).toString()) as Record<string, unknown>;
    b.context_management = { edits: [{ type: 'clear_tool_uses_20250919' }] };
    return JSON.stringify(b);
  };

  it('Bedrock: the betas and body fields Claude Code sends natively, each named', async () => {
    const r = await post(t, t.key('b-betas', 'eu-finance').secret, withContext('claude-sonnet-4-5'), { 'anthropic-beta': ANTHROPIC_MODE.join(',') });
    assert.equal(r.status, 200, r.text);
    const got = bedrock.requests[0]!;
    assert.deepEqual(got.body.anthropic_beta, ['interleaved-thinking-2025-05-14', 'thinking-token-count-2026-05-13']);
    for (const dropped of [
      'claude-code-20250219',
      'context-management-2025-06-27',
      'per-turn-control-2026-07-01',
      'mid-conversation-tool-changes-2026-07-01',
      'advanced-tool-use-2025-11-20',
      'effort-2025-11-24',
    ])
      assert.ok(!(got.body.anthropic_beta as string[]).includes(dropped), dropped);
    assert.ok(!('context_management' in got.body), 'context_management travels with its beta');
  });

  it('Vertex: the betas and body fields Claude Code sends natively, each named', async () => {
    const r = await post(t, t.key('v-betas', 'vertex').secret, withContext('claude-sonnet-4-5'), { 'anthropic-beta': ANTHROPIC_MODE.join(',') });
    assert.equal(r.status, 200, r.text);
    const got = vertex.requests[0]!;
    assert.deepEqual(String(got.headers['anthropic-beta']).split(','), [
      'claude-code-20250219',
      'interleaved-thinking-2025-05-14',
      'thinking-token-count-2026-05-13',
      'effort-2025-11-24',
    ]);
    for (const dropped of [
      'context-management-2025-06-27',
      'per-turn-control-2026-07-01',
      'mid-conversation-tool-changes-2026-07-01',
      'advanced-tool-use-2025-11-20',
    ])
      assert.ok(!String(got.headers['anthropic-beta']).includes(dropped), dropped);
    assert.ok(!('context_management' in got.body));
  });

  it('web search: refused by Bedrock with a clear 400, served by the next route on the list when there is one', async () => {
    const body = JSON.parse(claudeBody(300, { model: 'claude-sonnet-4-5' }).toString()) as Record<string, unknown>;
    body.tools = [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }];
    const only = await post(t, t.key('ws-1', 'eu-finance').secret, JSON.stringify(body));
    assert.equal(only.status, 400);
    assert.match(
      (JSON.parse(only.text) as { error: { message: string } }).error.message,
      /^TG_FEATURE_NOT_ON_ROUTE: upstream "bedrock-eu": Bedrock does not run the web_search_20250305 server tool/,
    );
    assert.equal(bedrock.requests.length, 0, 'nothing sent to Bedrock');
    const both = await post(t, t.key('ws-2', 'cloud-first').secret, JSON.stringify(body));
    assert.equal(both.status, 200, both.text);
    const l = lastLine(t);
    assert.equal(l.route, 'anthropic');
    assert.deepEqual(
      l.attempts.map((a) => [a.upstream, a.error]),
      [
        ['bedrock-eu', 'TG_FEATURE_NOT_ON_ROUTE'],
        ['anthropic', null],
      ],
    );
  });

  it('Bedrock service tiers: forwarded (signed), recorded and priced; an unknown tier refused', async () => {
    const k = t.key('tiers', 'eu-finance');
    bedrock.fallback = { kind: 'stream', usageStart: { input_tokens: 1000, output_tokens: 1 }, usageEnd: { output_tokens: 100 } };
    const standard = Math.round((1000 * 3000 + 100 * 15000) * 1.1); // Sonnet 4.5, geo: 1.1 × list
    for (const [tier, factor] of [
      ['flex', 0.5],
      ['priority', 1.75],
      ['default', 1],
    ] as const) {
      bedrock.requests.length = 0;
      const r = await post(t, k.secret, claudeBody(300, { model: 'claude-sonnet-4-5' }), { 'x-amzn-bedrock-service-tier': tier });
      assert.equal(r.status, 200, r.text);
      assert.equal(bedrock.requests[0]!.headers['x-amzn-bedrock-service-tier'], tier);
      assert.match(String(bedrock.requests[0]!.headers.authorization), /SignedHeaders=[^,]*x-amzn-bedrock-service-tier/);
      const l = lastLine(t);
      assert.equal(l.service_tier, tier);
      assert.equal(l.cost_nanousd, Math.round(standard * factor), tier);
    }
    const bad = await post(t, k.secret, claudeBody(300, { model: 'claude-sonnet-4-5' }), { 'x-amzn-bedrock-service-tier': 'turbo' });
    assert.equal(bad.status, 400);
    assert.match(
      (JSON.parse(bad.text) as { error: { message: string } }).error.message,
      /x-amzn-bedrock-service-tier: "turbo" is not one of default, flex, priority, reserved/,
    );
    bedrock.fallback = { kind: 'stream' };
  });

  it('per-model regions on Bedrock; Vertex global falls back for models not served globally; profile ARNs from clients', async () => {
    const west = await new FakeBedrock('us-west-2').start();
    const gvertex = await new FakeVertex().start();
    const g = await startGateway(`
upstreams:
  - { name: bedrock-eu, type: bedrock, region: eu-west-1, base_url: "${west.url}", model_regions: { claude-haiku-4-5: us-west-2 },
      application_inference_profiles: { claude-sonnet-4-5: "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/glob" },
      application_profile_wraps: { "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/glob": global } }
  - { name: vertex-global, type: vertex, project: p, region: global, base_url: "${gvertex.url}" }
routes: { default: [bedrock-eu], teams: { v: [vertex-global] } }
`);
    try {
      // Haiku goes to us-west-2 (its endpoint, its signature, its geography), not eu-west-1.
      const r = await post(g, g.key('mr', null).secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
      assert.equal(r.status, 200, `${r.text} ${JSON.stringify(lastLine(g).attempts)}`);
      assert.equal(west.requests[0]!.modelId, 'us.anthropic.claude-haiku-4-5-20251001-v1:0');
      const l = lastLine(g);
      assert.deepEqual([l.region, l.endpoint_type], ['us-west-2', 'geo']);
      // A client sending the configured application inference profile ARN itself: accepted,
      // sent as is, priced as the model it wraps on a global profile (list price).
      west.requests.length = 0;
      west.fallback = { kind: 'stream', usageStart: { input_tokens: 1000, output_tokens: 1 }, usageEnd: { output_tokens: 100 } };
      const arn = 'arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/glob';
      const a = await post(g, g.key('arn', null).secret, claudeBody(300, { model: arn }));
      assert.equal(a.status, 200, a.text);
      assert.equal(west.requests[0]!.modelId, arn);
      const al = lastLine(g);
      assert.equal(al.endpoint_type, 'global');
      assert.equal(al.cost_nanousd, 1000 * 3000 + 100 * 15000, 'Sonnet 4.5 at list');
      const unknown = await post(
        g,
        g.key('arn2', null).secret,
        claudeBody(300, { model: 'arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/other' }),
      );
      assert.equal(unknown.status, 400);
      // Vertex region global: Haiku 3.5 is not served there, so it goes to us-east5.
      const v = await post(g, g.key('vg', 'v').secret, claudeBody(300, { model: 'claude-3-5-haiku' }));
      assert.equal(v.status, 200, v.text);
      assert.equal(gvertex.requests[0]!.region, 'us-east5');
      assert.equal(lastLine(g).endpoint_type, 'regional');
      const v2 = await post(g, g.key('vg2', 'v').secret, claudeBody(300, { model: 'claude-sonnet-4-5' }));
      assert.equal(v2.status, 200, v2.text);
      assert.equal(gvertex.requests[1]!.region, 'global');
    } finally {
      await g.stop();
      await west.stop();
      await gvertex.stop();
    }
  });
});

describe('routing and failover', () => {
  it('fails over before the first byte, records each attempt, and never after it', async () => {
    const k = t.key('fay', 'cloud-first');
    bedrock.next({ kind: 'error', status: 503, errorType: 'ServiceUnavailableException' });
    let r = await post(t, k.secret, claudeBody(500, { model: 'claude-opus-4-6' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-tollgate-upstream'], 'anthropic');
    let l = lastLine(t);
    assert.deepEqual(
      l.attempts.map((a) => [a.upstream, a.status, a.error]),
      [
        ['bedrock-eu', 503, 'overloaded_error'],
        ['anthropic', 200, null],
      ],
    );
    assert.equal(l.route, 'anthropic');
    assert.equal(anthropic.requests[0]!.headers['x-api-key'], 'sk-ant');
    // After the first byte: a cut stream is not retried elsewhere.
    const g = gated('event: message_start');
    bedrock.next({ kind: 'stream', cutAfter: 3, gate: g.gate });
    const before = anthropic.requests.length;
    r = { ...(await g.post(t, k.secret, claudeBody(500, { model: 'claude-opus-4-6' }))), headers: {} };
    assert.equal(r.status, 200);
    assert.match(r.text, /event: error/);
    assert.equal(anthropic.requests.length, before, 'no failover after the first byte');
    l = lastLine(t);
    assert.equal(l.attempts.length, 1);
    t.gw.ctx.router.success('bedrock-eu');
  });

  it('puts an upstream that keeps failing in cooldown', async () => {
    const k = t.key('cody', 'cloud-first');
    const router = t.gw.ctx.router;
    for (let i = 0; i < 3; i++) {
      bedrock.next({ kind: 'error', status: 500, errorType: 'InternalServerException' });
      const r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
      assert.equal(r.status, 200);
    }
    assert.ok(router.isCooling('bedrock-eu'));
    const n = bedrock.requests.length;
    const r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 200);
    assert.equal(bedrock.requests.length, n, 'the cooling upstream is not tried first');
    assert.deepEqual(
      lastLine(t).attempts.map((a) => a.upstream),
      ['anthropic'],
    );
    router.success('bedrock-eu');
  });

  it('never widens a residency list: an EU team stays on its EU upstream when it fails', async () => {
    const k = t.key('eli', 'eu-finance');
    bedrock.next(...Array.from({ length: 3 }, () => ({ kind: 'error' as const, status: 503, errorType: 'ServiceUnavailableException' })));
    const before = anthropic.requests.length + vertex.requests.length;
    const r = await post(t, k.secret, claudeBody(300, { model: 'claude-haiku-4-5' }));
    assert.equal(r.status, 529);
    assert.equal(anthropic.requests.length + vertex.requests.length, before, 'no other route touched');
    const e = JSON.parse(r.text) as { error: { message: string } };
    assert.match(e.error.message, /tollgate tried: bedrock-eu → 503 overloaded_error; bedrock-eu → 503 overloaded_error; bedrock-eu → 503 overloaded_error/);
    t.gw.ctx.router.success('bedrock-eu');
  });

  it('honours retry-after: moves on instead of waiting longer than allowed', async () => {
    const k = t.key('rae', 'default-team');
    anthropic.next({ kind: 'error', status: 429, type: 'rate_limit_error', headers: { 'retry-after': '60' } });
    const r = await post(t, k.secret, claudeBody(300, { model: 'claude-sonnet-4-6' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-tollgate-upstream'], 'vertex-us', 'the default list fails over to Vertex');
  });
});
