// Operations surface: Prometheus /metrics checked against the ledger after mixed traffic, and
// JSON logs (an access line per request, the request id on every line about a request, no
// prompt text or secret anywhere, checked with canaries in a prompt and in the keys).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { createLogger } from '../src/util/log.js';
import type { LedgerLine } from '../src/store/types.js';

const CANARY_PROMPT = 'CANARY-PROMPT-7f3a9c1e-do-not-log';
const UPSTREAM_SECRET = 'sk-upstream-secret';
const ADMIN_TOKEN = 'admin-canary-token-5b2e8d41c0';

/** Samples of a Prometheus text exposition: name → [labels, value][]. */
function parseMetrics(text: string): Map<string, { labels: Record<string, string>; value: number }[]> {
  const out = new Map<string, { labels: Record<string, string>; value: number }[]>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

function sum(samples: { labels: Record<string, string>; value: number }[] | undefined, where: Record<string, string> = {}): number {
  return (samples ?? []).filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

describe('metrics and logs', () => {
  let fake: FakeAnthropic;
  let t: TestGateway;
  const logs: string[] = [];
  const keys: Record<string, string> = {};

  before(async () => {
    fake = await new FakeAnthropic().start();
    fake.fallback = { kind: 'stream', usageStart: { input_tokens: 1200, output_tokens: 1, cache_read_input_tokens: 300 }, usageEnd: { output_tokens: 80 } };
    t = await startGateway(
      upstreamYaml(fake.url) +
        `admin: { token: ${ADMIN_TOKEN} }\nlog: { format: json }\nmetrics: { token: metrics-token-0123456789 }\n` +
        `budgets:\n  - { user: carol, period: day, limit_usd: 0.000001 }\n`,
      { logger: createLogger({ level: 'debug', format: 'json', sink: (l) => logs.push(l) }) },
    );
    keys.alice = t.key('alice', 'core').secret;
    keys.bob = t.key('bob', 'data').secret;
    keys.carol = t.key('carol', 'data').secret;
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  const post = async (key: string, model: string, stream = true) => {
    const body = JSON.parse(claudeBody(400, { model, stream }).toString()) as { messages: { content: { text: string }[] }[] };
    body.messages[0]!.content[0]!.text += ` ${CANARY_PROMPT}`;
    const res = await request(t.url + '/v1/messages', { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${key}` } });
    await res.body.text();
    return res.statusCode;
  };

  it('counts requests, tokens and cost as the ledger has them', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await post(keys.alice!, 'claude-sonnet-4-5', i % 2 === 0));
    for (let i = 0; i < 4; i++) statuses.push(await post(keys.bob!, 'claude-haiku-4-5'));
    // An upstream error (retried: one line, two attempts) and a model the catalog does not
    // know (served, labelled "other").
    fake.next({ kind: 'error', status: 529, type: 'overloaded_error' });
    statuses.push(await post(keys.bob!, 'claude-haiku-4-5'));
    statuses.push(await post(keys.alice!, 'claude-nonexistent-9'));
    // A budget smaller than one request: the first is admitted (nothing spent yet), the second
    // refused before any upstream (429), still a ledger line.
    statuses.push(await post(keys.carol!, 'claude-sonnet-4-5'));
    statuses.push(await post(keys.carol!, 'claude-sonnet-4-5'));
    // A bad key: no ledger line, counted as an error.
    statuses.push(await post('tg_not-a-key', 'claude-sonnet-4-5'));
    assert.ok(statuses.filter((s) => s === 200).length >= 10, String(statuses));
    assert.ok(statuses.includes(429) && statuses.includes(401), String(statuses));

    // Unauthenticated scrape refused when metrics.token is set.
    const refused = await request(t.url + '/metrics');
    assert.equal(refused.statusCode, 401);
    await refused.body.text();
    const res = await request(t.url + '/metrics', { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/plain; version=0\.0\.4/);
    const m = parseMetrics(await res.body.text());

    const lines: LedgerLine[] = t.gw.ctx.store.queryLedger({});
    assert.equal(lines.length, 14);
    // Requests by route, model and status, line for line.
    const catalogId = (l: LedgerLine) => {
      const id = l.model_served ?? l.model_requested;
      return (id && t.gw.ctx.catalog.resolve(id)?.id) ?? 'other';
    };
    const groups = new Map<string, number>();
    for (const l of lines) {
      const k = JSON.stringify([l.route ?? 'none', catalogId(l), String(l.http_status)]);
      groups.set(k, (groups.get(k) ?? 0) + 1);
    }
    assert.equal(sum(m.get('tollgate_requests_total')), lines.length);
    for (const [k, n] of groups) {
      const [route, model, status] = JSON.parse(k) as string[];
      assert.equal(sum(m.get('tollgate_requests_total'), { route: route!, model: model!, status: status! }), n, k);
    }
    assert.ok(sum(m.get('tollgate_requests_total'), { model: 'other' }) >= 1);
    // Cost per team, to the nano-dollar (floats hold these sums exactly enough).
    for (const team of ['core', 'data']) {
      const ledger = lines.filter((l) => l.team === team).reduce((a, l) => a + l.cost_nanousd, 0) / 1e9;
      assert.ok(ledger > 0);
      assert.ok(
        Math.abs(sum(m.get('tollgate_cost_usd_total'), { team }) - ledger) < 1e-9,
        `${team}: ${sum(m.get('tollgate_cost_usd_total'), { team })} vs ${ledger}`,
      );
    }
    // Every token class.
    const classes: [string, keyof LedgerLine][] = [
      ['input', 'input_tokens'],
      ['output', 'output_tokens'],
      ['cache_read', 'cache_read_input_tokens'],
    ];
    for (const [cls, field] of classes) {
      const ledger = lines.reduce((a, l) => a + Number(l[field]), 0);
      assert.equal(sum(m.get('tollgate_tokens_total'), { class: cls }), ledger, cls);
    }
    // No per-user label by default (cardinality); teams are there.
    assert.ok(!(m.get('tollgate_cost_usd_total') ?? []).some((s) => 'user' in s.labels));
    // Errors by code: the refusals and the bad key.
    assert.equal(sum(m.get('tollgate_errors_total'), { code: 'TG_BUDGET_EXHAUSTED' }), 1);
    assert.equal(sum(m.get('tollgate_errors_total'), { code: 'TG_UNKNOWN_KEY' }), 1);
    // Attempts: one per upstream call, with the 529.
    assert.equal(sum(m.get('tollgate_upstream_attempts_total'), { status: '529' }), 1);
    assert.equal(sum(m.get('tollgate_upstream_attempts_total')), lines.flatMap((l) => l.attempts).length);
    // Latency histograms observed once per line; store writes at least once.
    assert.equal(sum(m.get('tollgate_request_duration_seconds_count')), lines.length);
    assert.equal(sum(m.get('tollgate_overhead_seconds_count')), lines.length);
    assert.ok(sum(m.get('tollgate_store_write_seconds_count')) >= 1);
    // The budget's utilisation, read at scrape time.
    assert.ok(sum(m.get('tollgate_budget_utilisation_ratio'), { scope: 'user', value: 'carol' }) >= 1);
    assert.ok((m.get('tollgate_open_connections')?.length ?? 0) === 1);
    assert.ok(m.has('tollgate_process_cpu_seconds_total'));
  });

  it('writes JSON log lines: one access line per request with its id, and no prompt or secret', async () => {
    // An admin call carrying the admin token, and one with a wrong token.
    for (const token of [ADMIN_TOKEN, `${ADMIN_TOKEN}-wrong`]) {
      const r = await request(t.url + '/admin/keys', { headers: { authorization: `Bearer ${token}` } });
      await r.body.text();
    }
    const parsed = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const p of parsed) {
      assert.equal(typeof p.time, 'string');
      assert.ok(['debug', 'info', 'warn', 'error'].includes(String(p.level)));
      assert.equal(typeof p.msg, 'string');
    }
    const lines = t.gw.ctx.store.queryLedger({});
    const access = parsed.filter((p) => p.msg === 'request' && p.key_id !== undefined);
    assert.equal(access.length, lines.length);
    for (const l of lines) {
      const a = access.find((x) => x.request_id === l.id);
      assert.ok(a, `no access line for ${l.id}`);
      assert.equal(a.user, l.user);
      assert.equal(a.status, l.http_status);
      assert.equal(a.input_tokens, l.input_tokens);
      assert.equal(a.cost_usd, l.cost_nanousd / 1e9);
    }
    // Requests without a ledger line (the bad key, the admin calls) have theirs too.
    assert.ok(parsed.some((p) => p.msg === 'request' && p.path === '/v1/messages' && p.status === 401 && p.error_code === 'TG_UNKNOWN_KEY'));
    assert.ok(parsed.some((p) => p.msg === 'request' && p.path === '/admin/keys' && p.status === 401));
    // Every line about a request names it.
    for (const p of parsed.filter((x) => /upstream|request/.test(String(x.msg)) && x.msg !== 'request')) assert.ok(p.request_id || p.path, JSON.stringify(p));
    const all = logs.join('\n');
    assert.ok(!all.includes(CANARY_PROMPT), 'prompt text in the logs');
    assert.ok(!all.includes('function add(a, b)'), 'prompt text in the logs');
    assert.ok(!all.includes(UPSTREAM_SECRET), 'the upstream key in the logs');
    assert.ok(!all.includes(ADMIN_TOKEN), 'the admin token in the logs');
    for (const k of Object.values(keys)) assert.ok(!all.includes(k), 'a virtual key in the logs');
  });

  it('the sample Grafana dashboard asks only for metrics the gateway exports', async () => {
    const dash = JSON.parse(readFileSync(join(packageRoot(), 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const res = await request(t.url + '/metrics', { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    // Declared metrics (# TYPE lines): a counter with no sample yet, such as failovers, counts.
    const exported = new Set([...(await res.body.text()).matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));
    const used = new Set(dash.panels.flatMap((p) => p.targets.flatMap((x) => x.expr.match(/tollgate_\w+/g) ?? [])));
    assert.ok(used.size >= 10);
    for (const name of used) assert.ok(exported.has(name.replace(/_(bucket|count|sum)$/, '')), `${name} is in the dashboard but not in /metrics`);
  });

  it('masks a secret passed to the logger by mistake', () => {
    const out: string[] = [];
    const log = createLogger({ format: 'json', sink: (l) => out.push(l) });
    log.warn('oops', { header: `Bearer ${keys.alice}`, key: keys.bob, upstream: 'sk-ant-api03-abcdefghijklmnop' });
    assert.ok(!out[0]!.includes(keys.alice!) && !out[0]!.includes(keys.bob!) && !out[0]!.includes('abcdefghijklmnop'), out[0]);
    assert.match(out[0]!, /\[redacted\]/);
    // A request id (tg_ and 26 characters) is not a secret and stays readable.
    log.info('x', { request_id: 'tg_0mx56648g0002dc313685f58f' });
    assert.match(out[1]!, /tg_0mx56648g0002dc313685f58f/);
  });
});
