// The admin API against its own description: the OpenAPI 3.1 document validates, every path
// and method it lists is called and answers as described (status and body schema), roles and
// CSRF hold, and the CLI's --url gives what the local command gives.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { packageRoot } from '../src/util/paths.js';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { tollgateAsync } from './helpers/cli.js';
import { SessionSigner } from '../src/console/session.js';

const TOKEN = 'admin-token-for-the-api-test-0001';

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, { content?: { 'application/json'?: { schema: Record<string, unknown> } } }>;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

describe('admin API', () => {
  let fake: FakeAnthropic;
  let t: TestGateway;
  let doc: Doc;
  let keyId = '';
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-admin-'));

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const raw = Buffer.isBuffer(body);
    const res = await request(t.url + path, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body !== undefined ? { 'content-type': raw ? 'application/octet-stream' : 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: text ? (JSON.parse(text) as unknown) : null };
  };

  before(async () => {
    fake = await new FakeAnthropic().start();
    fake.fallback = { kind: 'stream', usageStart: { input_tokens: 2000, output_tokens: 1 }, usageEnd: { output_tokens: 150 } };
    t = await startGateway(upstreamYaml(fake.url) + `admin: { token: ${TOKEN} }\nconsole: { session_secret: "a-console-session-secret-of-32-chars!!" }\n`);
    const k = t.key('alice', 'core');
    keyId = k.id;
    for (let i = 0; i < 3; i++) {
      const r = await request(t.url + '/v1/messages', {
        method: 'POST',
        body: claudeBody(300, { model: 'claude-sonnet-4-5' }),
        headers: { authorization: `Bearer ${k.secret}` },
      });
      await r.body.text();
    }
    writeFileSync(
      join(dir, 'invocations.json.gz'),
      gzipSync(
        JSON.stringify({
          timestamp: new Date(Date.now() - 3_600_000).toISOString(),
          requestId: 'inv-1',
          region: 'us-east-1',
          modelId: 'global.anthropic.claude-haiku-4-5-20251001-v1:0',
          identity: { arn: 'arn:aws:iam::111122223333:user/alice' },
          input: { inputTokenCount: 1000 },
          output: { outputTokenCount: 10 },
        }) + '\n',
      ),
    );
    const res = await call('GET', '/admin/openapi.json', undefined, { authorization: '' });
    assert.equal(res.status, 200);
    doc = res.json as Doc;
  });
  after(async () => {
    await t.stop();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const r = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
    assert.equal(r.valid, true, JSON.stringify(r.errors, null, 2));
  });

  it('answers every listed operation as described', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const line = t.gw.ctx.store.queryLedger({ limit: 1 })[0]!;
    // One call per operation, in an order where each finds what it needs (a key to revoke, an
    // identity to remove).
    const plan: Record<string, { path?: string; body?: unknown }> = {
      openapi: {},
      whoami: {},
      listKeys: {},
      createKey: { body: { user: 'bob', team: 'data', name: 'laptop' } },
      revokeKey: { path: `/admin/keys/${keyId}/revoke` },
      listBudgets: {},
      setBudget: { body: { scope: 'team', value: 'core', period: 'month', limit_usd: 100 } },
      removeBudget: { path: '/admin/budgets?scope=team&value=core&period=month' },
      audit: { path: '/admin/audit?limit=5' },
      alerts: {},
      usage: { path: '/admin/usage?limit=2&order=desc' },
      line: { path: `/admin/usage/lines/${line.id}` },
      summary: { path: '/admin/usage/summary?by=model' },
      report: { path: '/admin/report?by=team,model&since=7d' },
      reconcile: { path: '/admin/reconcile?by=user&since=7d' },
      seats: { path: '/admin/advice/seats?since=30d' },
      route: { path: '/admin/advice/route?cloud=none&stage=steady&usage=uneven&chargeback=true' },
      ingest: { path: '/admin/ingest/bedrock-invocation-logs?name=invocations.json.gz', body: gzipSync('') },
      listIdentities: {},
      setIdentity: { body: { external_id: 'arn:aws:iam::111122223333:user/alice', user: 'alice', team: 'core' } },
      removeIdentity: { path: `/admin/identities/${encodeURIComponent('arn:aws:iam::111122223333:user/alice')}` },
      policies: {},
      teams: {},
      users: {},
      fleet: {},
    };
    const order = Object.keys(plan);
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    assert.deepEqual(ops.map((o) => o.op.operationId).sort(), [...order].sort(), 'the test calls every documented operation');
    ops.sort((a, b) => order.indexOf(a.op.operationId) - order.indexOf(b.op.operationId));
    for (const { path, method, op } of ops) {
      const p = plan[op.operationId]!;
      let body = p.body;
      if (op.operationId === 'ingest') {
        body = readFileSync(join(dir, 'invocations.json.gz'));
      }
      const res = await call(method, p.path ?? path, body);
      const documented = op.responses[String(res.status)];
      assert.ok(documented, `${method} ${path}: HTTP ${res.status} is not a documented answer: ${JSON.stringify(res.json)}`);
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
      const schema = documented.content?.['application/json']?.schema;
      assert.ok(schema, `${method} ${path}: no schema`);
      const validate = ajv.compile({ ...schema, components: doc.components });
      assert.ok(validate(res.json), `${method} ${path}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.json).slice(0, 600)}`);
      if (op.operationId === 'ingest') assert.equal((res.json as { imported: number }).imported, 1);
      if (op.operationId === 'report') {
        const r = res.json as { rows: { cost_nanousd: number }[]; total_nanousd: number };
        assert.equal(
          r.total_nanousd,
          t.gw.ctx.store.queryLedger({}).reduce((a, l) => a + l.cost_nanousd, 0),
        );
      }
    }
    // Every change is in the audit log with who made it.
    const audit = (await call('GET', '/admin/audit?limit=50')).json as { action: string; actor: string }[];
    for (const a of ['key.create', 'key.revoke', 'budget.set', 'budget.remove', 'identity.set', 'identity.remove', 'ingest'])
      assert.ok(
        audit.some((e) => e.action === a && e.actor.startsWith('admin-api')),
        a,
      );
  });

  it('docs/admin-api.md lists every operation the gateway serves', () => {
    const text = readFileSync(join(packageRoot(), 'docs', 'admin-api.md'), 'utf8');
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods))
        assert.ok(text.includes(`| \`${method.toUpperCase()} ${path}\` | ${(op as unknown as { summary: string }).summary}`), `${method} ${path}`);
  });

  it('refuses bad input, wrong methods and unknown paths with clear errors', async () => {
    const bad = await call('PUT', '/admin/budgets', { scope: 'galaxy', period: 'month', limit_usd: 1 });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /scope: one of key, user, team, project, org/);
    assert.equal((await call('GET', '/admin/report?by=planet')).status, 400);
    const open = await call('GET', '/admin/advice/route?cloud=none');
    assert.equal(open.status, 400);
    assert.match(JSON.stringify(open.json), /stage: the decision needs it/);
    assert.equal(((await call('GET', '/admin/advice/route?residency=eu&cloud=aws')).json as { route: string; region: string }).region, 'eu-west-1');
    assert.equal((await call('GET', '/admin/usage?since=yesterdayish')).status, 400);
    assert.equal((await call('GET', '/admin/usage/lines/tg_nope')).status, 404);
    const m = await call('DELETE', '/admin/keys');
    assert.equal(m.status, 405);
    const nf = await call('GET', '/admin/nothing-here');
    assert.equal(nf.status, 404);
    assert.match(JSON.stringify(nf.json), /openapi\.json/);
    const past = await call('POST', '/admin/keys', { user: 'x', expires: '2020-01-01' });
    assert.equal(past.status, 400);
    assert.match(JSON.stringify(past.json), /not in the future/);
    assert.equal((await call('POST', '/admin/keys', { user: 'x', expires: 'someday' })).status, 400);
    assert.equal((await call('GET', '/admin/keys', undefined, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await call('GET', '/admin/keys', undefined, { authorization: '' })).status, 401);
  });

  it('a caller leaving a long usage listing ends it: the request does not wait for a drain forever', async () => {
    const { ledgerLine } = await import('./helpers/store-conformance.js');
    const base = Date.now() - 3_600_000;
    const many = Array.from({ length: 20_000 }, (_, i) =>
      ledgerLine({ id: `bulk-${i}`, ts: base + i, user: 'bulk', team: 'core', model_served: 'claude-sonnet-4-5', input_tokens: 100, cost_nanousd: 1 }),
    );
    t.gw.ctx.store.writeBatch(many, new Map());
    const { connect } = await import('node:net');
    const port = Number(new URL(t.url).port);
    await new Promise<void>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.write(`GET /admin/usage?user=bulk HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`));
      // Read a little, then stop reading and go: the gateway's writes back up, then fail.
      sock.once('data', () => {
        sock.pause();
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 300);
      });
    });
    const deadline = Date.now() + 10_000;
    while (t.gw.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.gw.inFlight, 0, 'the listing ended with its caller');
  });

  it('lets a key expire: listed with its date, refused after it with TG_KEY_EXPIRED', async () => {
    const made = (await call('POST', '/admin/keys', { user: 'temp', expires: '90d' })).json as { id: string; key: string; expires: string };
    const days = (Date.parse(made.expires) - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90, String(days));
    const ok = await request(t.url + '/v1/messages', { method: 'POST', body: claudeBody(200), headers: { authorization: `Bearer ${made.key}` } });
    await ok.body.text();
    assert.equal(ok.statusCode, 200);
    // One that expired a second ago (as if 90 days had passed).
    const { mintKey } = await import('../src/identity/keys.js');
    const old = mintKey({ user: 'temp', expiresAt: Date.now() - 1000 }, Date.now() - 86_400_000);
    t.gw.ctx.store.insertKey(old.record);
    const refused = await request(t.url + '/v1/messages', { method: 'POST', body: claudeBody(200), headers: { authorization: `Bearer ${old.secret}` } });
    const body = JSON.parse(await refused.body.text()) as { error: { message: string } };
    assert.equal(refused.statusCode, 401);
    assert.match(body.error.message, /^TG_KEY_EXPIRED: this virtual key has expired/);
    const listed = (await call('GET', '/admin/keys')).json as { id: string; expires: string | null }[];
    assert.equal(listed.find((k) => k.id === made.id)?.expires, made.expires);
  });

  it('lets a read-only console session look but not change, and a change needs the CSRF token', async () => {
    const signer = new SessionSigner('a-console-session-secret-of-32-chars!!');
    const read = signer.newSession('viewer@example.com', 'read', 3_600_000, Date.now());
    const adm = signer.newSession('boss@example.com', 'admin', 3_600_000, Date.now());
    const as = (value: string, extra: Record<string, string> = {}) => ({ authorization: '', cookie: `tg_console=${value}`, ...extra });
    assert.equal((await call('GET', '/admin/keys', undefined, as(read.value))).status, 200);
    const refused = await call('POST', '/admin/keys', { user: 'x' }, as(read.value, { 'x-csrf-token': read.session.csrf }));
    assert.equal(refused.status, 403);
    assert.match(JSON.stringify(refused.json), /read-only/);
    assert.equal((await call('POST', '/admin/keys', { user: 'x' }, as(adm.value))).status, 403, 'no CSRF token');
    const ok = await call('POST', '/admin/keys', { user: 'x' }, as(adm.value, { 'x-csrf-token': adm.session.csrf }));
    assert.equal(ok.status, 201);
    const audit = (await call('GET', '/admin/audit?limit=1')).json as { actor: string }[];
    assert.equal(audit[0]!.actor, 'console:boss@example.com');
    // A forged or expired cookie is no session.
    assert.equal((await call('GET', '/admin/keys', undefined, as(adm.value.slice(0, -2) + 'xx'))).status, 401);
    const old = signer.newSession('boss@example.com', 'admin', 1000, Date.now() - 10_000);
    assert.equal((await call('GET', '/admin/keys', undefined, as(old.value))).status, 401);
  });

  it('runs the CLI against the gateway with --url as it runs locally', async () => {
    const env = { TOLLGATE_ADMIN_TOKEN: TOKEN };
    const cfg = ['--config', t.configFile];
    const url = ['--url', t.url];
    // Reports: remote and local give the same JSON.
    const remote = await tollgateAsync(['report', '--by', 'team,model', '--json', ...url], { env });
    const local = await tollgateAsync(['report', '--by', 'team,model', '--json', ...cfg]);
    assert.equal(remote.status, 0, remote.stderr);
    assert.equal(remote.stdout, local.stdout);
    const rs = await tollgateAsync(['usage', 'summary', '--by', 'user', '--json', ...url], { env });
    const ls = await tollgateAsync(['usage', 'summary', '--by', 'user', '--json', ...cfg]);
    assert.equal(rs.stdout, ls.stdout);
    const ru = await tollgateAsync(['usage', '--json', ...url], { env });
    const lu = await tollgateAsync(['usage', '--json', ...cfg]);
    assert.equal(ru.status, 0, ru.stderr);
    assert.deepEqual(JSON.parse(ru.stdout), JSON.parse(lu.stdout));
    const table = await tollgateAsync(['usage', '--limit', '2', ...url], { env });
    assert.match(table.stdout, /TIME\s+USER\s+TEAM/);
    assert.equal(table.stdout.trim().split('\n').length, 4);
    // Reconcile, seats, fleet: the same JSON either way.
    for (const args of [
      ['reconcile', '--since', '2026-01-01', '--until', '2030-01-01', '--json'],
      ['advise', 'seats', '--since', '2026-01-01', '--until', '2030-01-01', '--json'],
      ['fleet', '--all', '--json'],
    ]) {
      const r = await tollgateAsync([...args, ...url], { env });
      const l = await tollgateAsync([...args, ...cfg]);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), JSON.parse(l.stdout), args.join(' '));
    }
    // Identities and ingest change the gateway's store.
    assert.equal((await tollgateAsync(['identities', 'add', 'ann@example.com', '--user', 'ann', '--team', 'core', ...url], { env })).status, 0);
    assert.ok(t.gw.ctx.store.listIdentities().some((i) => i.external_id === 'ann@example.com' && i.user === 'ann'));
    const il = await tollgateAsync(['identities', 'list', '--json', ...url], { env });
    assert.ok((JSON.parse(il.stdout) as { external_id: string }[]).some((i) => i.external_id === 'ann@example.com'));
    assert.equal((await tollgateAsync(['identities', 'remove', 'ann@example.com', ...url], { env })).status, 0);
    assert.ok(!t.gw.ctx.store.listIdentities().some((i) => i.external_id === 'ann@example.com'));
    const ing = await tollgateAsync(['ingest', 'bedrock-invocation-logs', dir, '--json', ...url], { env });
    assert.equal(ing.status, 0, ing.stderr);
    const first = JSON.parse(ing.stdout) as { files: number; records: number; imported: number; duplicates: number };
    assert.deepEqual([first.files, first.records, first.imported + first.duplicates], [1, 1, 1]);
    // Importing the same file again changes nothing.
    const again = JSON.parse((await tollgateAsync(['ingest', 'bedrock-invocation-logs', dir, '--json', ...url], { env })).stdout) as {
      imported: number;
      duplicates: number;
    };
    assert.deepEqual([again.imported, again.duplicates], [0, 1]);
    // Without the token: a clear error, exit 2.
    const noToken = await tollgateAsync(['report', ...url], { env: { TOLLGATE_ADMIN_TOKEN: '' } });
    assert.equal(noToken.status, 2);
    assert.match(noToken.stderr, /TOLLGATE_ADMIN_TOKEN/);
  });
});
