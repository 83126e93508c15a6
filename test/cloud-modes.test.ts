// Claude Code in Bedrock mode and in Vertex mode, pointed at tollgate, each served in turn by a
// Bedrock, a Vertex and the Anthropic upstream (the team's route decides), with the real CLI and
// with raw requests for what the CLI does not exercise: count-tokens, errors in the cloud's
// shape, an exception frame mid-stream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { FakeBedrock, useTestAwsCredentials } from './helpers/fake-bedrock.js';
import { FakeMetadata, FakeVertex } from './helpers/fake-vertex.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { CLAUDE, runClaude } from './helpers/claude.js';

const USAGE = {
  usageStart: { input_tokens: 2000, output_tokens: 1, cache_read_input_tokens: 5000 },
  usageEnd: { output_tokens: 40 },
  text: 'Hello from tollgate.',
};

describe('Bedrock and Vertex modes inbound', () => {
  let fake: FakeAnthropic;
  let bedrock: FakeBedrock;
  let vertex: FakeVertex;
  let metadata: FakeMetadata;
  let t: TestGateway;
  let home: string;
  const saved = { ...process.env };

  before(async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'tollgate-cloud-in-'));
    home = join(scratch, 'home');
    mkdirSync(home);
    useTestAwsCredentials(scratch);
    fake = await new FakeAnthropic().start();
    bedrock = await new FakeBedrock('eu-west-1').start();
    metadata = await new FakeMetadata().start();
    process.env.GCE_METADATA_HOST = metadata.url;
    vertex = await new FakeVertex().start();
    fake.fallback = { kind: 'stream', ...USAGE };
    bedrock.fallback = { kind: 'stream', ...USAGE };
    vertex.fallback = { kind: 'stream', ...USAGE };
    t = await startGateway(`
upstreams:
  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: sk-upstream-secret }
  - { name: bedrock-eu, type: bedrock, region: eu-west-1, base_url: "${bedrock.url}" }
  - { name: vertex-us, type: vertex, project: p1, region: us-east5, base_url: "${vertex.url}" }
routes:
  default: [anthropic]
  teams: { on-bedrock: [bedrock-eu], on-vertex: [vertex-us] }
`);
  });
  after(async () => {
    await t.stop();
    await Promise.all([fake.stop(), bedrock.stop(), vertex.stop(), metadata.stop()]);
    process.env = saved;
    rmSync(join(home, '..'), { recursive: true, force: true });
  });

  const modes = {
    'Bedrock mode (skip auth, ANTHROPIC_AUTH_TOKEN)': (key: string) => ({
      CLAUDE_CODE_USE_BEDROCK: '1',
      ANTHROPIC_BEDROCK_BASE_URL: t.url,
      CLAUDE_CODE_SKIP_BEDROCK_AUTH: '1',
      ANTHROPIC_AUTH_TOKEN: key,
      AWS_REGION: 'us-east-1',
    }),
    'Bedrock mode (AWS_BEARER_TOKEN_BEDROCK)': (key: string) => ({
      CLAUDE_CODE_USE_BEDROCK: '1',
      ANTHROPIC_BEDROCK_BASE_URL: t.url,
      AWS_BEARER_TOKEN_BEDROCK: key,
      AWS_REGION: 'eu-west-1',
    }),
    'Vertex mode (skip auth, ANTHROPIC_AUTH_TOKEN)': (key: string) => ({
      CLAUDE_CODE_USE_VERTEX: '1',
      ANTHROPIC_VERTEX_BASE_URL: `${t.url}/v1`,
      ANTHROPIC_VERTEX_PROJECT_ID: 'their-project',
      CLOUD_ML_REGION: 'us-east5',
      CLAUDE_CODE_SKIP_VERTEX_AUTH: '1',
      ANTHROPIC_AUTH_TOKEN: key,
    }),
  };

  describe('the real Claude Code CLI', { skip: existsSync(CLAUDE) ? false : 'claude CLI not installed (npm ci installs it)' }, () => {
    for (const [m, [mode, env]] of Object.entries(modes).entries())
      for (const [team, route] of [
        ['web', 'anthropic'],
        ['on-bedrock', 'bedrock'],
        ['on-vertex', 'vertex'],
      ] as const)
        it(`${mode}, served by the ${route} route: the answer, and a ledger line with the user, model and cost`, async () => {
          const user = `${team}-mode${m}-${route}`;
          const k = t.key(user, team);
          const r = await runClaude(home, env(k.secret), ['--model', 'claude-sonnet-4-5']);
          assert.equal(r.is_error, false, JSON.stringify(r));
          assert.equal(r.result, 'Hello from tollgate.');
          // The conversation's own request; in eu-west-1 Claude Code also probes each candidate
          // model (non-streamed, max_tokens 1), which the fakes answer with full usage.
          const lines = t.gw.ctx.store.queryLedger({ user }).filter((l) => l.endpoint === 'messages' && l.http_status === 200 && l.streamed);
          assert.ok(lines.length >= 1, `no line for ${user}`);
          const l = lines[lines.length - 1]!;
          assert.equal(l.route, route);
          assert.equal(l.team, team);
          assert.equal(l.session_id, r.session_id);
          assert.equal(t.gw.ctx.catalog.resolve(l.model_served ?? '')?.id, 'claude-sonnet-4-5');
          assert.deepEqual([l.input_tokens, l.output_tokens, l.cache_read_input_tokens], [2000, 40, 5000]);
          const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
          // Claude Code prices at list; the cloud routes' regional/geo endpoints cost 1.1× list.
          const factor = route === 'anthropic' ? 1 : 1.1;
          assert.ok(
            Math.abs(total / 1e9 - r.total_cost_usd * factor) < 1e-9,
            `${route}: gateway ${total / 1e9} vs Claude Code ${r.total_cost_usd} × ${factor}`,
          );
        });
  });

  it('the official Bedrock and Vertex SDK clients: a message, a stream and a token count through each route', async () => {
    const { AnthropicBedrock } = await import('@anthropic-ai/bedrock-sdk');
    const { AnthropicVertex } = await import('@anthropic-ai/vertex-sdk');
    for (const [team, route] of [
      ['web', 'anthropic'],
      ['on-bedrock', 'bedrock'],
      ['on-vertex', 'vertex'],
    ] as const) {
      const clients = {
        bedrock: new AnthropicBedrock({ baseURL: t.url, apiKey: t.key(`sdk-b-${route}`, team).secret, awsRegion: 'us-east-1', maxRetries: 0 }),
        // The Vertex SDK gets Google's token (from the fake metadata server here); a header set
        // on the client wins over it, which is how a gateway key reaches tollgate.
        vertex: new AnthropicVertex({
          baseURL: `${t.url}/v1`,
          region: 'us-east5',
          projectId: 'theirs',
          defaultHeaders: { authorization: `Bearer ${t.key(`sdk-v-${route}`, team).secret}` },
          maxRetries: 0,
        }),
      };
      const bedrockKey = (clients.bedrock as unknown as { apiKey: string }).apiKey;
      for (const [sdk, client] of Object.entries(clients)) {
        const model = sdk === 'bedrock' ? 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' : 'claude-sonnet-4-5@20250929';
        const msg = await client.messages.create({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(msg.type, 'message', `${sdk} via ${route}`);
        const stream = client.messages.stream({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
        const final = await stream.finalMessage();
        assert.equal(final.usage.output_tokens, 40, `${sdk} via ${route}: ${JSON.stringify(final.usage)}`);
        // The Bedrock SDK has no countTokens (Bedrock's CountTokens is its own operation): raw.
        const count =
          client instanceof AnthropicVertex
            ? (await client.messages.countTokens({ model, messages: [{ role: 'user', content: 'hi' }] })).input_tokens
            : (
                (await (
                  await request(`${t.url}/model/${encodeURIComponent(model)}/count-tokens`, {
                    method: 'POST',
                    headers: { authorization: `Bearer ${bedrockKey}` },
                    body: JSON.stringify({
                      input: {
                        invokeModel: {
                          body: Buffer.from(
                            JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }] }),
                          ).toString('base64'),
                        },
                      },
                    }),
                  })
                ).body.json()) as { inputTokens: number }
              ).inputTokens;
        assert.ok(count > 0, `${sdk} via ${route}: ${count}`);
        const user = `sdk-${sdk[0]}-${route}`;
        const lines = t.gw.ctx.store.queryLedger({ user });
        assert.deepEqual(
          lines.map((l) => [l.endpoint, l.streamed, l.route, l.http_status]),
          [
            ['messages', false, route, 200],
            ['messages', true, route, 200],
            ['count_tokens', false, route, 200],
          ],
          `${sdk} via ${route}`,
        );
        assert.ok(lines[1]!.cost_nanousd > 0);
      }
    }
  });

  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const bedrockBody = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      anthropic_version: 'bedrock-2023-05-31',
      anthropic_beta: ['interleaved-thinking-2025-05-14'],
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      ...extra,
    });

  it('Bedrock invoke-with-response-stream answers AWS event-stream frames, each an Anthropic event', async () => {
    const k = t.key('raw-bedrock', 'web');
    const res = await request(`${t.url}/model/${encodeURIComponent('us.anthropic.claude-haiku-4-5-20251001-v1:0')}/invoke-with-response-stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k.secret}`, 'content-type': 'application/json' },
      body: bedrockBody(),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/vnd.amazon.eventstream');
    const buf = Buffer.from(await res.body.arrayBuffer());
    const events: { type: string }[] = [];
    for (let off = 0; off < buf.length;) {
      const len = buf.readUInt32BE(off);
      const msg = codec.decode(buf.subarray(off, off + len));
      assert.equal(msg.headers[':event-type']?.value, 'chunk');
      const payload = JSON.parse(toUtf8(msg.body)) as { bytes: string };
      events.push(JSON.parse(Buffer.from(payload.bytes, 'base64').toString()) as { type: string });
      off += len;
    }
    assert.equal(events[0]?.type, 'message_start');
    assert.equal(events[events.length - 1]?.type, 'message_stop');
    // The upstream (Anthropic here) got a Messages request: the model, stream, betas as a header.
    const sent = fake.requests[fake.requests.length - 1]!;
    const body = JSON.parse(sent.body.toString()) as Record<string, unknown>;
    assert.equal(body.stream, true);
    assert.equal(body.anthropic_version, undefined);
    assert.equal(body.anthropic_beta, undefined);
    assert.match(String(sent.headers['anthropic-beta']), /interleaved-thinking-2025-05-14/);
    assert.equal(t.gw.ctx.catalog.resolve(String(body.model))?.id, 'claude-haiku-4-5');
  });

  it('Bedrock count-tokens and invoke (JSON); errors with x-amzn-errortype; an upstream failure mid-stream as an exception frame', async () => {
    const k = t.key('raw-bedrock-2', 'web');
    const auth = { authorization: `Bearer ${k.secret}`, 'content-type': 'application/json' };
    const count = await request(`${t.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ input: { invokeModel: { body: Buffer.from(bedrockBody()).toString('base64') } } }),
    });
    assert.equal(count.statusCode, 200);
    assert.deepEqual(await count.body.json(), { inputTokens: 42 });
    const invoke = await request(`${t.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke`, { method: 'POST', headers: auth, body: bedrockBody() });
    assert.equal(invoke.statusCode, 200);
    const msg = (await invoke.body.json()) as { type: string; usage: { input_tokens: number } };
    assert.equal(msg.type, 'message');
    // A bad key: Bedrock's shape, which the AWS SDK and Claude Code's client read.
    const bad = await request(`${t.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke`, {
      method: 'POST',
      headers: { authorization: 'Bearer tg_nope', 'content-type': 'application/json' },
      body: bedrockBody(),
    });
    assert.equal(bad.statusCode, 401);
    assert.match(String(bad.headers['x-amzn-errortype']), /^AccessDeniedException/);
    assert.match(((await bad.body.json()) as { message: string }).message, /TG_UNKNOWN_KEY/);
    // An upstream error: its status, Bedrock's type.
    fake.next(
      { kind: 'error', status: 429, type: 'rate_limit_error', message: 'slow down' },
      { kind: 'error', status: 429, type: 'rate_limit_error' },
      {
        kind: 'error',
        status: 429,
        type: 'rate_limit_error',
      },
    );
    const limited = await request(`${t.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke`, { method: 'POST', headers: auth, body: bedrockBody() });
    assert.equal(limited.statusCode, 429);
    assert.match(String(limited.headers['x-amzn-errortype']), /^ThrottlingException/);
    await limited.body.text();
    // Cut mid-stream: the frames so far, then an exception frame.
    fake.next({ kind: 'stream', ...USAGE, cutAfterStart: true });
    const cut = await request(`${t.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream`, {
      method: 'POST',
      headers: auth,
      body: bedrockBody(),
    });
    const buf = Buffer.from(await cut.body.arrayBuffer());
    const types: string[] = [];
    for (let off = 0; off < buf.length;) {
      const len = buf.readUInt32BE(off);
      const m = codec.decode(buf.subarray(off, off + len));
      types.push(String(m.headers[':message-type']?.value) + ':' + String(m.headers[':exception-type']?.value ?? m.headers[':event-type']?.value));
      off += len;
    }
    assert.equal(types[0], 'event:chunk');
    assert.match(types[types.length - 1]!, /^exception:/);
    // Wrong method, and a GET of the profiles Claude Code asks for at start-up.
    const get = await request(`${t.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke`);
    assert.equal(get.statusCode, 405);
    assert.ok(get.headers['x-amzn-errortype']);
    await get.body.text();
    const profiles = (await (await request(`${t.url}/inference-profiles?type=SYSTEM_DEFINED`)).body.json()) as {
      inferenceProfileSummaries: { inferenceProfileId: string }[];
    };
    assert.ok(profiles.inferenceProfileSummaries.some((p) => p.inferenceProfileId === 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'));
  });

  it('Vertex rawPredict, streamRawPredict and count-tokens; errors in Google’s shape', async () => {
    const k = t.key('raw-vertex', 'on-vertex');
    const auth = { authorization: `Bearer ${k.secret}`, 'content-type': 'application/json' };
    const base = `${t.url}/v1/projects/their-project/locations/us-east5/publishers/anthropic/models`;
    const body = JSON.stringify({ anthropic_version: 'vertex-2023-10-16', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const json = await request(`${base}/claude-haiku-4-5@20251001:rawPredict`, { method: 'POST', headers: auth, body });
    assert.equal(json.statusCode, 200);
    assert.equal(((await json.body.json()) as { type: string }).type, 'message');
    const stream = await request(`${base}/claude-haiku-4-5@20251001:streamRawPredict`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ ...JSON.parse(body), stream: true }),
    });
    assert.match(String(stream.headers['content-type']), /text\/event-stream/);
    assert.match(await stream.body.text(), /event: message_stop/);
    const count = await request(`${base}/count-tokens:rawPredict`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'claude-haiku-4-5@20251001', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(count.statusCode, 200);
    assert.equal(typeof ((await count.body.json()) as { input_tokens: number }).input_tokens, 'number');
    const bad = await request(`${base}/claude-haiku-4-5@20251001:rawPredict`, { method: 'POST', headers: { ...auth, authorization: 'Bearer nope' }, body });
    assert.equal(bad.statusCode, 401);
    const e = (await bad.body.json()) as { error: { code: number; status: string; message: string } };
    assert.deepEqual([e.error.code, e.error.status], [401, 'UNAUTHENTICATED']);
    assert.match(e.error.message, /TG_UNKNOWN_KEY/);
    const lines = t.gw.ctx.store.queryLedger({ user: 'raw-vertex' });
    assert.ok(lines.some((l) => l.endpoint === 'count_tokens') && lines.filter((l) => l.endpoint === 'messages' && l.http_status === 200).length === 2);
    assert.ok(lines.every((l) => l.route === 'vertex'));
  });
});
