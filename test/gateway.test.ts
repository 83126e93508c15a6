// End-to-end behaviour of the gateway against a fake Anthropic upstream.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { loadConfig } from '../src/config/load.js';
import { openStore } from '../src/store/open.js';

let fake: FakeAnthropic;
let t: TestGateway;
let key: { secret: string; id: string };

async function post(path: string, body: Buffer | string, headers: Record<string, string> = {}) {
  const res = await request(t.url + path, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}`, ...headers },
  });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body: buf, text: buf.toString('utf8') };
}

function lines() {
  return t.gw.ctx.store.queryLedger({});
}

/** The ledger line is durable before the response ends, so it is there as soon as we read it. */
function lastLine() {
  const l = lines();
  return l[l.length - 1]!;
}

before(async () => {
  fake = await new FakeAnthropic().start();
  t = await startGateway(upstreamYaml(fake.url));
  key = t.key('alice', 'core', 'atlas');
});
after(async () => {
  await t.stop();
  await fake.stop();
});
beforeEach(() => {
  fake.requests.length = 0;
  fake.fallback = { kind: 'stream' };
});

describe('pass-through', () => {
  it('forwards body bytes, anthropic headers and end-to-end headers unchanged, with the upstream key instead of the virtual key', async () => {
    const body = claudeBody(50_000);
    const r = await post('/v1/messages?beta=true', body, {
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,some-future-beta-2027-01-01',
      'x-claude-code-session-id': 'sess-1',
      'x-app': 'cli',
      'user-agent': 'claude-cli/2.1.330 (external, sdk-cli)',
      'x-stainless-retry-count': '0',
      'x-api-key': key.secret,
      'accept-encoding': 'gzip, deflate, br, zstd',
    });
    assert.equal(r.status, 200);
    const got = fake.requests[0]!;
    assert.equal(got.url, '/v1/messages?beta=true');
    assert.ok(got.body.equals(body), 'body bytes identical');
    assert.equal(got.headers['anthropic-version'], '2023-06-01');
    assert.equal(got.headers['anthropic-beta'], 'claude-code-20250219,interleaved-thinking-2025-05-14,some-future-beta-2027-01-01');
    assert.equal(got.headers['x-claude-code-session-id'], 'sess-1');
    assert.equal(got.headers['x-app'], 'cli');
    assert.equal(got.headers['user-agent'], 'claude-cli/2.1.330 (external, sdk-cli)');
    assert.equal(got.headers['x-stainless-retry-count'], '0');
    assert.equal(got.headers['x-api-key'], 'sk-upstream-secret');
    assert.equal(got.headers.authorization, undefined, 'virtual key never forwarded');
    assert.equal(got.headers['accept-encoding'], 'gzip, deflate, br', 'only codings the meter can read are offered');
    assert.ok(!JSON.stringify(got.headers).includes(key.secret));
  });

  it('drops hop-by-hop headers, including those named in Connection', async () => {
    const port = Number(new URL(t.url).port);
    const status = await new Promise<number>((resolve, reject) => {
      const body = claudeBody(100);
      const r = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/messages',
          headers: {
            authorization: `Bearer ${key.secret}`,
            connection: 'keep-alive, x-hop',
            'x-hop': 'drop-me',
            'keep-alive': 'timeout=5',
            'proxy-authorization': 'Basic eA==',
            te: 'trailers',
            'content-length': body.length,
            'x-keep': 'yes',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      r.on('error', reject);
      r.end(body);
    });
    assert.equal(status, 200);
    const h = fake.requests[0]!.headers;
    assert.equal(h['x-hop'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h['x-keep'], 'yes');
  });

  it('returns the upstream status, error body and retry headers unchanged', async () => {
    const errBody = JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' }, request_id: 'req_abc' });
    fake.next({
      kind: 'raw',
      status: 429,
      body: errBody,
      headers: {
        'content-type': 'application/json',
        'request-id': 'req_abc',
        'retry-after': '17',
        'x-should-retry': 'true',
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '2026-11-25T10:00:00Z',
        'anthropic-ratelimit-unified-status': 'rejected',
      },
    });
    const r = await post('/v1/messages', claudeBody(1000));
    assert.equal(r.status, 429);
    assert.equal(r.text, errBody);
    assert.equal(r.headers['request-id'], 'req_abc');
    assert.equal(r.headers['retry-after'], '17');
    assert.equal(r.headers['x-should-retry'], 'true');
    assert.equal(r.headers['anthropic-ratelimit-requests-remaining'], '0');
    assert.equal(r.headers['anthropic-ratelimit-unified-status'], 'rejected');
    const l = lastLine();
    assert.equal(l.http_status, 429);
    assert.equal(l.error_type, 'rate_limit_error');
    assert.equal(l.cost_nanousd, 0);
    assert.equal(l.upstream_request_id, 'req_abc');
  });

  it('streams SSE bytes to the client unchanged and in pieces, not buffered to the end', async () => {
    fake.next({ kind: 'stream', chunkSize: 40, delayMs: 15 });
    const res = await request(t.url + '/v1/messages', { method: 'POST', body: claudeBody(2000), headers: { authorization: `Bearer ${key.secret}` } });
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const arrivals: number[] = [];
    const parts: Buffer[] = [];
    for await (const c of res.body) {
      arrivals.push(Date.now());
      parts.push(c as Buffer);
    }
    assert.ok(parts.length > 5, `expected many reads, got ${parts.length}`);
    assert.ok(arrivals[arrivals.length - 1]! - arrivals[0]! > 100, 'chunks arrived over time');
    const text = Buffer.concat(parts).toString();
    assert.match(text, /^event: message_start\n/);
    assert.match(text, /event: message_stop\ndata: \{"type":"message_stop"\}\n\n$/);
  });
});

describe('metering', () => {
  it('records one exact line for a streamed request: every token class, cost, session, ttfb', async () => {
    fake.next({
      kind: 'stream',
      chunkSize: 7,
      usageStart: {
        input_tokens: 1000,
        output_tokens: 1,
        cache_creation_input_tokens: 2000,
        cache_read_input_tokens: 3000,
        cache_creation: { ephemeral_5m_input_tokens: 1500, ephemeral_1h_input_tokens: 500 },
      },
      usageEnd: { output_tokens: 50, server_tool_use: { web_search_requests: 2 } },
    });
    const r = await post('/v1/messages?beta=true', claudeBody(5000, { sessionId: 'aaaaaaaa-0000-0000-0000-000000000001' }));
    assert.equal(r.status, 200);
    const l = lastLine();
    assert.equal(l.user, 'alice');
    assert.equal(l.team, 'core');
    assert.equal(l.project, 'atlas');
    assert.equal(l.key_id, key.id);
    assert.equal(l.session_id, 'aaaaaaaa-0000-0000-0000-000000000001', 'from metadata.user_id');
    assert.equal(l.model_requested, 'claude-opus-5-5');
    assert.equal(l.model_served, 'claude-opus-5-5');
    assert.equal(l.route, 'anthropic');
    assert.equal(l.upstream, 'anthropic');
    assert.equal(l.stop_reason, 'end_turn');
    assert.equal(l.streamed, true);
    assert.deepEqual(
      [l.input_tokens, l.output_tokens, l.cache_read_input_tokens, l.cache_creation_5m_input_tokens, l.cache_creation_1h_input_tokens, l.web_search_requests],
      [1000, 50, 3000, 1500, 500, 2],
    );
    // Opus 5.5: 1000×4 + 50×20 + 1500×5 + 500×8 + 3000×0.2 = 17100 µUSD, + 2 searches × $0.01
    assert.equal(l.cost_nanousd, 17_100_000 + 20_000_000);
    assert.equal(l.priced, true);
    assert.ok(l.ttfb_ms !== null && l.ttfb_ms >= 0 && l.ttfb_ms <= l.duration_ms);
    assert.equal(l.client_aborted, false);
    assert.equal(l.http_status, 200);
  });

  it('prefers the x-claude-code-session-id header and meters non-streaming responses', async () => {
    fake.next({ kind: 'json', usage: { input_tokens: 100, output_tokens: 10, cache_creation_input_tokens: 40 } });
    const r = await post('/v1/messages', claudeBody(500, { stream: false }), { 'x-claude-code-session-id': 'hdr-session' });
    assert.equal(r.status, 200);
    const l = lastLine();
    assert.equal(l.session_id, 'hdr-session');
    assert.equal(l.streamed, false);
    assert.deepEqual([l.input_tokens, l.output_tokens, l.cache_creation_5m_input_tokens, l.cache_creation_1h_input_tokens], [100, 10, 40, 0]);
    assert.equal(l.cost_nanousd, (100 * 4 + 10 * 20 + 40 * 5) * 1000);
  });

  it('reads compressed responses: the client gets the gzip bytes, the meter the usage', async () => {
    fake.next({ kind: 'stream', gzip: true, usageStart: { input_tokens: 7, output_tokens: 1 }, usageEnd: { output_tokens: 9 } });
    const r = await post('/v1/messages', claudeBody(500), { 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.match(gunzipSync(r.body).toString(), /message_stop/);
    const l = lastLine();
    assert.deepEqual([l.input_tokens, l.output_tokens], [7, 9]);
    fake.next({ kind: 'json', gzip: true, usage: { input_tokens: 3, output_tokens: 4 } });
    await post('/v1/messages', claudeBody(500, { stream: false }), { 'accept-encoding': 'gzip' });
    assert.deepEqual([lastLine().input_tokens, lastLine().output_tokens], [3, 4]);
  });

  it('reads a gzip-compressed request body and forwards it as sent', async () => {
    const body = gzipSync(claudeBody(3000, { model: 'claude-haiku-4-5' }));
    const r = await post('/v1/messages', body, { 'content-encoding': 'gzip' });
    assert.equal(r.status, 200);
    assert.ok(fake.requests[0]!.body.equals(body));
    assert.equal(lastLine().model_requested, 'claude-haiku-4-5');
  });

  it('records an unknown model with its tokens, flagged unpriced, at the ceiling rates — never as another model, never free', async () => {
    fake.next({ kind: 'stream', usageStart: { input_tokens: 500, output_tokens: 1 }, usageEnd: { output_tokens: 5 } });
    await post('/v1/messages', claudeBody(500, { model: 'claude-nonexistent-9' }));
    const l = lastLine();
    assert.equal(l.model_served, 'claude-nonexistent-9');
    assert.equal(l.priced, false);
    assert.equal(l.price_tier, 'unpriced_ceiling');
    // prices.unpriced: reserve (the default): the highest rates known, $30/M in, $150/M out.
    assert.equal(l.cost_nanousd, 500 * 30_000 + 5 * 150_000);
    assert.equal(l.input_tokens, 500);
  });

  it('passes count_tokens through and records it at no cost', async () => {
    const r = await post('/v1/messages/count_tokens?beta=true', JSON.stringify({ model: 'claude-opus-5-5', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { input_tokens: 42 });
    assert.equal(fake.requests[0]!.url, '/v1/messages/count_tokens?beta=true');
    const l = lastLine();
    assert.equal(l.endpoint, 'count_tokens');
    assert.equal(l.input_tokens, 0);
    assert.equal(l.cost_nanousd, 0);
    assert.equal(l.priced, true);
  });
});

describe('client abort', () => {
  it('stops the upstream when the client goes away mid-stream and keeps what was metered', async () => {
    fake.next({ kind: 'stream', stallAfterStart: true, usageStart: { input_tokens: 321, output_tokens: 1 } });
    const ac = new AbortController();
    const res = await request(t.url + '/v1/messages', {
      method: 'POST',
      body: claudeBody(1000),
      headers: { authorization: `Bearer ${key.secret}` },
      signal: ac.signal,
    });
    for await (const _ of res.body) {
      ac.abort();
      break;
    }
    const deadline = Date.now() + 3000;
    let l = lastLine();
    while (!(l && l.client_aborted) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      l = lastLine();
    }
    assert.equal(l.client_aborted, true);
    assert.equal(l.input_tokens, 321);
    assert.equal(l.cost_nanousd, 321 * 4000 + 1 * 20000);
    // The upstream connection was closed by the gateway.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((fake as unknown as { open: Set<unknown> }).open.size, 0);
  });
});

describe('errors are Anthropic-shaped with stable codes', () => {
  const errorOf = (text: string) => JSON.parse(text) as { type: string; error: { type: string; message: string } };

  it('401 without a key, with an unknown key, with a revoked key', async () => {
    let r = await post('/v1/messages', claudeBody(100), { authorization: '' });
    assert.equal(r.status, 401);
    assert.equal(errorOf(r.text).error.type, 'authentication_error');
    assert.match(errorOf(r.text).error.message, /^TG_NO_KEY:/);
    assert.equal(r.headers['x-should-retry'], 'false', 'deterministic refusals are not retried');
    r = await post('/v1/messages', claudeBody(100), { authorization: 'Bearer tg_nope' });
    assert.equal(r.status, 401);
    assert.match(errorOf(r.text).error.message, /^TG_UNKNOWN_KEY:/);
    const k2 = t.key('bob');
    r = await post('/v1/messages', claudeBody(100), { authorization: '', 'x-api-key': k2.secret });
    assert.equal(r.status, 200, 'x-api-key works');
    // Revoked from another connection to the same store, as the CLI (or another replica) does;
    // the running gateway notices within a second.
    const other = openStore(loadConfig(t.configFile));
    other.revokeKey(k2.id, Date.now());
    other.close();
    const t0 = Date.now();
    let served = 1;
    for (;;) {
      r = await post('/v1/messages', claudeBody(100), { authorization: '', 'x-api-key': k2.secret });
      if (r.status === 401 || Date.now() - t0 > 1000) break;
      served++;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(r.status, 401);
    assert.ok(Date.now() - t0 < 1000, 'revocation took effect within one second');
    assert.match(errorOf(r.text).error.message, /^TG_REVOKED_KEY:/);
    assert.equal(fake.requests.length, served, 'refused requests never reach the upstream');
  });

  it('400 for malformed JSON and for a missing model', async () => {
    for (const bad of ['not json', '[1,2]', '{"a":tru}', '{"a":"x\\"}', '{"messages":[', '']) {
      const r = await post('/v1/messages', bad);
      assert.equal(r.status, 400, bad);
      assert.equal(errorOf(r.text).error.type, 'invalid_request_error');
      assert.match(errorOf(r.text).error.message, /^TG_BAD_JSON:/);
    }
    assert.equal(fake.requests.length, 0, 'checked before anything is sent upstream');
    // Claude Code's shape (model first) is passed through unscanned; the upstream judges the
    // rest and its 400 comes back as is.
    for (const bad of ['{"model":"x",', '{"model":"x"} trailing']) {
      const r = await post('/v1/messages', bad);
      assert.equal(r.status, 400, bad);
      assert.equal(errorOf(r.text).error.type, 'invalid_request_error');
    }
    let r = await post('/v1/messages', JSON.stringify({ messages: [] }));
    assert.equal(r.status, 400);
    assert.match(errorOf(r.text).error.message, /^TG_BAD_REQUEST: model: field required/);
    r = await post('/v1/messages', JSON.stringify({ model: 5 }));
    assert.match(errorOf(r.text).error.message, /^TG_BAD_REQUEST: model/);
    r = await post('/v1/messages', JSON.stringify({ stream: 'yes', model: 'claude-opus-5-5' }));
    assert.match(errorOf(r.text).error.message, /^TG_BAD_REQUEST: stream: expected a boolean/);
    assert.equal(fake.requests.length, 2);
    assert.equal(lastLine().error_code, 'TG_BAD_REQUEST');
  });

  it('413 for a body over the limit', async () => {
    const r = await post('/v1/messages', Buffer.alloc(33 * 1024 * 1024, 0x20));
    assert.equal(r.status, 413);
    assert.equal(errorOf(r.text).error.type, 'request_too_large');
    assert.match(errorOf(r.text).error.message, /^TG_BODY_TOO_LARGE:/);
  });

  it('404 for unknown paths, 405 for wrong methods, health and models', async () => {
    let res = await request(t.url + '/v1/complete', { method: 'POST', body: '{}' });
    assert.equal(res.statusCode, 404);
    assert.match(((await res.body.json()) as { error: { message: string } }).error.message, /^TG_NOT_FOUND/);
    res = await request(t.url + '/v1/messages');
    assert.equal(res.statusCode, 405);
    await res.body.dump();
    res = await request(t.url + '/health');
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as { status: string }).status, 'ok');
    res = await request(t.url + '/v1/models?limit=1000', { headers: { 'x-api-key': key.secret } });
    assert.equal(res.statusCode, 200);
    const models = (await res.body.json()) as { data: { type: string; id: string; display_name: string }[]; has_more: boolean };
    assert.ok(models.data.some((m) => m.id === 'claude-opus-5-5' && m.type === 'model' && m.display_name));
    assert.equal(models.has_more, false);
    res = await request(t.url + '/v1/models');
    assert.equal(res.statusCode, 401);
    await res.body.dump();
  });

  it('pages /v1/models (limit, after_id, before_id) and answers /v1/models/{id}, as the official SDK reads them', async () => {
    const { default: Anthropic } = await import('@anthropic-ai/sdk');
    const client = new Anthropic({ baseURL: t.url, apiKey: key.secret, maxRetries: 0 });
    const all = ((await (await request(t.url + '/v1/models?limit=1000', { headers: { 'x-api-key': key.secret } })).body.json()) as { data: { id: string }[] })
      .data;
    assert.ok(all.length > 5);
    // The SDK follows has_more/last_id page by page and ends up with the same list.
    const paged: string[] = [];
    for await (const m of client.models.list({ limit: 2 })) paged.push(m.id);
    assert.deepEqual(
      paged,
      all.map((m) => m.id),
    );
    const get = async (qs: string) =>
      (await (await request(`${t.url}/v1/models${qs}`, { headers: { 'x-api-key': key.secret } })).body.json()) as Record<string, unknown>;
    const first = await get('?limit=3');
    assert.deepEqual([(first.data as unknown[]).length, first.has_more, first.first_id, first.last_id], [3, true, all[0]!.id, all[2]!.id]);
    const back = await get(`?limit=2&before_id=${all[3]!.id}`);
    assert.deepEqual(
      (back.data as { id: string }[]).map((m) => m.id),
      [all[1]!.id, all[2]!.id],
    );
    assert.equal(back.has_more, true);
    const end = await get(`?after_id=${all[all.length - 2]!.id}`);
    assert.deepEqual([(end.data as unknown[]).length, end.has_more], [1, false]);
    for (const bad of ['?limit=0', '?limit=x', '?after_id=nope', `?after_id=${all[0]!.id}&before_id=${all[1]!.id}`]) {
      const r = await request(`${t.url}/v1/models${bad}`, { headers: { 'x-api-key': key.secret } });
      assert.equal(r.statusCode, 400, bad);
      await r.body.dump();
    }
    // One model, by its id or any id the catalog knows for it.
    const one = await client.models.retrieve('claude-sonnet-4-5');
    assert.equal(one.id, 'claude-sonnet-4-5-20250929');
    assert.equal(one.type, 'model');
    const viaBedrock = await get(`/${encodeURIComponent('eu.anthropic.claude-sonnet-4-5-20250929-v1:0')}`);
    assert.equal(viaBedrock.id, 'claude-sonnet-4-5-20250929');
    const missing = await request(`${t.url}/v1/models/claude-nonexistent-1`, { headers: { 'x-api-key': key.secret } });
    assert.equal(missing.statusCode, 404);
    assert.equal(((await missing.body.json()) as { error: { type: string } }).error.type, 'not_found_error');
  });

  it('502 naming the upstream when it is unreachable, 504 when it times out', async () => {
    const dead = await startGateway(upstreamYaml('http://127.0.0.1:9', ''));
    const k = dead.key();
    let res = await request(dead.url + '/v1/messages', { method: 'POST', body: claudeBody(100), headers: { authorization: `Bearer ${k.secret}` } });
    let e = (await res.body.json()) as { error: { type: string; message: string } };
    assert.equal(res.statusCode, 502, JSON.stringify(e));
    assert.equal(e.error.type, 'api_error');
    assert.match(e.error.message, /^TG_UPSTREAM_UNREACHABLE: upstream "anthropic" \(http:\/\/127\.0\.0\.1:9\) unreachable: ECONNREFUSED/);
    await dead.stop();

    const slow = await startGateway(upstreamYaml(fake.url, ', timeout_ms: 150') + 'failover: { max_attempts: 2, backoff_ms: 0 }\n');
    const k2 = slow.key();
    fake.next({ kind: 'hang' }, { kind: 'hang' });
    res = await request(slow.url + '/v1/messages', { method: 'POST', body: claudeBody(100), headers: { authorization: `Bearer ${k2.secret}` } });
    e = (await res.body.json()) as { error: { type: string; message: string } };
    assert.equal(res.statusCode, 504, JSON.stringify(e));
    assert.equal(e.error.type, 'timeout_error');
    assert.match(
      e.error.message,
      /^TG_UPSTREAM_TIMEOUT: upstream "anthropic".*\(tollgate tried: anthropic → TG_UPSTREAM_TIMEOUT.*; anthropic → TG_UPSTREAM_TIMEOUT/,
    );
    const l = slow.gw.ctx.store.queryLedger({});
    assert.equal(l[l.length - 1]!.http_status, 504);
    await slow.stop();
  });

  it('an upstream cut mid-stream gives the SSE client an error event and the ledger an error line', async () => {
    fake.next({ kind: 'stream', cutAfterStart: true, usageStart: { input_tokens: 11, output_tokens: 1 } });
    const r = await post('/v1/messages', claudeBody(200));
    assert.equal(r.status, 200);
    assert.match(r.text, /event: error\ndata: .*TG_UPSTREAM_UNREACHABLE/);
    const l = lastLine();
    assert.equal(l.error_code, 'TG_UPSTREAM_UNREACHABLE');
    assert.equal(l.input_tokens, 11);
  });

  it('survives arbitrary bytes on the socket', async () => {
    const garbage = [
      Buffer.from('GARBAGE\r\n\r\n'),
      Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]),
      Buffer.from('POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n'),
      Buffer.from('POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
      Buffer.from(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70000)}\r\n\r\n`),
    ];
    for (const g of garbage) {
      await new Promise<void>((resolve) => {
        const s = connect(Number(new URL(t.url).port), '127.0.0.1', () => s.end(g));
        s.on('data', () => {});
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
    }
    const r = await post('/v1/messages', claudeBody(100));
    assert.equal(r.status, 200, 'still serving');
  });
});
