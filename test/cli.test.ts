// The CLI as a user runs it: a separate process on a scratch config and store.
import { after, before, describe, it } from 'node:test';
import { packageRoot } from '../src/util/paths.js';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { claudeBody, storeLocation } from './helpers/gateway.js';
import { serve, tollgate } from './helpers/cli.js';

let dir: string;
let cfg: string;
let fake: FakeAnthropic;

before(async () => {
  fake = await new FakeAnthropic().start();
  dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
  cfg = join(dir, 'tollgate.yaml');
  writeFileSync(
    cfg,
    `store: { ${await storeLocation(dir, 'db/tollgate.db')} }\nupstreams:\n  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: "\${UPSTREAM_KEY}" }\n`,
  );
});
after(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** What the store holds at rest: the SQLite file's bytes, or PostgreSQL's keys table as text. */
async function storedText(): Promise<string> {
  if (!existsSync(join(dir, 'postgres-url'))) return readFileSync(join(dir, 'db', 'tollgate.db')).toString('latin1');
  const c = new pg.Client({ connectionString: readFileSync(join(dir, 'postgres-url'), 'utf8') });
  await c.connect();
  try {
    return JSON.stringify((await c.query('SELECT * FROM keys')).rows);
  } finally {
    await c.end();
  }
}

describe('tollgate CLI', () => {
  it('creates keys (secret once, stored only as a hash), lists and revokes them', async () => {
    const c = tollgate(['--config', cfg, 'keys', 'create', '--user', 'alice', '--team', 'core', '--project', 'atlas', '--name', 'laptop', '--json']);
    assert.equal(c.status, 0, c.stderr);
    const k = JSON.parse(c.stdout) as { id: string; key: string; user: string; team: string };
    assert.match(k.key, /^tg_[A-Za-z0-9_-]{43}$/);
    assert.equal(k.user, 'alice');
    assert.equal((await storedText()).indexOf(k.key), -1, 'the secret is not in the store');
    const plain = tollgate(['--config', cfg, 'keys', 'create', '--user', 'bob']);
    assert.match(plain.stdout.trim(), /^tg_\S+$/, 'plain output is just the key, for scripts');
    assert.match(plain.stderr, /shown only once/);
    const list = JSON.parse(tollgate(['--config', cfg, 'keys', 'list', '--json']).stdout) as {
      id: string;
      user: string;
      team: string | null;
      project: string | null;
      created: string;
      last_used: string | null;
      revoked: string | null;
    }[];
    assert.equal(list.length, 2);
    assert.deepEqual([list[0]!.id, list[0]!.user, list[0]!.team, list[0]!.project, list[0]!.revoked], [k.id, 'alice', 'core', 'atlas', null]);
    assert.ok(!JSON.stringify(list).includes(k.key));
    assert.match(tollgate(['--config', cfg, 'keys', 'list']).stdout, /alice\s+core\s+atlas\s+laptop/);
    const r = tollgate(['--config', cfg, 'keys', 'revoke', k.id]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /revoked/);
    const again = tollgate(['--config', cfg, 'keys', 'revoke', 'key_missing']);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /no key with id key_missing/);
    const listed = JSON.parse(tollgate(['--config', cfg, 'keys', 'list', '--json']).stdout) as { revoked: string | null }[];
    assert.ok(listed[0]!.revoked);
  });

  it('validates input with clear errors', () => {
    let r = tollgate(['--config', cfg, 'keys', 'create']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /required option '--user <user>'/);
    r = tollgate(['--config', cfg, 'keys', 'create', '--user', 'bad user!']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /user "bad user!": use letters, digits/);
    r = tollgate(['--config', join(dir, 'missing.yaml'), 'keys', 'list']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot read: ENOENT/);
    writeFileSync(join(dir, 'bad.yaml'), 'server: { port: "x" }\nupstreams: []\n');
    r = tollgate(['--config', join(dir, 'bad.yaml'), 'config', 'check']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /server\.port/);
    assert.match(r.stderr, /upstreams/);
    r = tollgate(['--config', cfg, 'usage', '--since', 'yesterday-ish']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot read time/);
    r = tollgate(['--config', cfg, 'usage', 'summary', '--by', 'planet']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--by planet: expected one of/);
  });

  it('serve on defaults says what is missing and how to point Claude Code at it', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tollgate-defaults-'));
    const env = { ...process.env, ANTHROPIC_API_KEY: '', TOLLGATE_CONFIG: '' };
    const s = await serve([], { cwd: empty, env });
    try {
      const err = s.stderr();
      assert.match(err, /running on defaults/);
      assert.match(err, /NOT READY: upstream "anthropic" has no api_key/);
      assert.match(err, /ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:\d+/);
      const key = JSON.parse(tollgate(['keys', 'create', '--user', 'x', '--json'], { cwd: empty, env }).stdout) as { key: string };
      const res = await request(s.url + '/v1/messages', { method: 'POST', body: claudeBody(100), headers: { authorization: `Bearer ${key.key}` } });
      assert.equal(res.statusCode, 500);
      assert.match(((await res.body.json()) as { error: { message: string } }).error.message, /^TG_UPSTREAM_NO_CREDENTIALS/);
    } finally {
      s.child.kill('SIGTERM');
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('serves, meters, and reports usage lines and summaries', async () => {
    const s = await serve(['--config', cfg], { env: { UPSTREAM_KEY: 'sk-up' } });
    try {
      const k1 = JSON.parse(tollgate(['--config', cfg, 'keys', 'create', '--user', 'carol', '--team', 'data', '--json']).stdout) as { key: string; id: string };
      const k2 = JSON.parse(tollgate(['--config', cfg, 'keys', 'create', '--user', 'dave', '--team', 'data', '--json']).stdout) as { key: string };
      fake.next(
        { kind: 'stream', usageStart: { input_tokens: 1000, output_tokens: 1 }, usageEnd: { output_tokens: 100 } },
        { kind: 'stream', usageStart: { input_tokens: 2000, output_tokens: 1, cache_read_input_tokens: 500 }, usageEnd: { output_tokens: 10 } },
        { kind: 'json', usage: { input_tokens: 10, output_tokens: 10 } },
      );
      for (const [k, stream] of [
        [k1.key, true],
        [k2.key, true],
        [k1.key, false],
      ] as const) {
        const res = await request(s.url + '/v1/messages?beta=true', {
          method: 'POST',
          body: claudeBody(1000, { stream, model: 'claude-sonnet-4-5' }),
          headers: { 'x-api-key': k },
        });
        assert.equal(res.statusCode, 200);
        await res.body.text();
      }
      const lines = JSON.parse(tollgate(['--config', cfg, 'usage', '--json', '--since', '1h']).stdout) as Record<string, unknown>[];
      assert.equal(lines.length, 3);
      for (const f of [
        'id',
        'time',
        'key_id',
        'user',
        'team',
        'project',
        'session_id',
        'model_requested',
        'model_served',
        'upstream',
        'route',
        'http_status',
        'error_type',
        'stop_reason',
        'input_tokens',
        'output_tokens',
        'cache_read_input_tokens',
        'cache_creation_5m_input_tokens',
        'cache_creation_1h_input_tokens',
        'web_search_requests',
        'cost_usd',
        'priced',
        'ttfb_ms',
        'duration_ms',
        'client_aborted',
      ]) {
        assert.ok(f in lines[0]!, `usage --json has ${f}`);
      }
      assert.equal(lines[0]!.user, 'carol');
      assert.equal(lines[0]!.cost_usd, 0.0045, '1000 in × $3/M + 100 out × $15/M');
      const byUser = JSON.parse(tollgate(['--config', cfg, 'usage', 'summary', '--by', 'user', '--json']).stdout) as {
        user: string;
        requests: number;
        cost_usd: number;
        input_tokens: number;
      }[];
      const carol = byUser.find((r) => r.user === 'carol')!;
      assert.equal(carol.requests, 2);
      assert.equal(carol.input_tokens, 1010);
      assert.equal(carol.cost_usd, 0.00468, 'exact, not a float sum');
      const byTeam = tollgate(['--config', cfg, 'usage', 'summary', '--by', 'team']).stdout;
      assert.match(byTeam, /data\s+3\s+/);
      assert.match(byTeam, /TOTAL/);
      const byModel = JSON.parse(tollgate(['--config', cfg, 'usage', 'summary', '--by', 'model', '--json']).stdout) as { model: string }[];
      assert.deepEqual(
        byModel.map((r) => r.model),
        ['claude-sonnet-4-5'],
      );
      assert.equal(JSON.parse(tollgate(['--config', cfg, 'usage', '--json', '--user', 'dave']).stdout).length, 1);
      // last_used is written with the ledger.
      const keys = JSON.parse(tollgate(['--config', cfg, 'keys', 'list', '--json']).stdout) as { id: string; last_used: string | null }[];
      assert.ok(keys.find((k) => k.id === k1.id)!.last_used);
    } finally {
      s.child.kill('SIGTERM');
    }
  });

  it('prints the model catalog per route and resolves single ids', () => {
    let r = tollgate(['models', '--route', 'bedrock', '--region', 'eu-west-1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { model: string; id: string | null; endpoint_type: string | null }[];
    assert.equal(rows.find((x) => x.model === 'claude-sonnet-4-5')!.id, 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0');
    assert.equal(rows.find((x) => x.model === 'claude-mythos-5')!.id, null);
    r = tollgate(['models', 'resolve', 'haiku', '--route', 'vertex', '--region', 'us-east5']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /haiku → claude-haiku-5-5 +\(route vertex, region us-east5, regional endpoint; catalog model claude-haiku-5-5\)/);
    r = tollgate(['models', 'resolve', 'us.anthropic.claude-opus-4-6-v1', '--route', 'anthropic']);
    assert.match(r.stdout, /→ claude-opus-4-6 /);
    r = tollgate(['models', 'resolve', 'claude-nope', '--route', 'vertex']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /not in the catalog.*vertex route/);
    r = tollgate(['models', '--route', 'bedrock']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--region is required/);
    assert.match(tollgate(['models']).stdout, /claude-opus-5-5\s+opus\s+claude-opus-5-5/);
  });

  it('prints the config JSON Schema', () => {
    const r = tollgate(['config', 'schema']);
    assert.equal(r.status, 0);
    assert.ok((JSON.parse(r.stdout) as { properties: object }).properties);
  });
});

describe('CLI layout and packaging', () => {
  it('loads commands lazily: the top-level help names each command as the command itself does', async () => {
    const { COMMANDS } = await import('../src/cli/main.js');
    const { Command } = await import('commander');
    for (const [name, c] of Object.entries(COMMANDS)) {
      const program = new Command('tollgate');
      (await c.load()).register(program, () => ({}));
      const registered = program.commands.find((x) => x.name() === name);
      assert.ok(registered, `${name} registers itself`);
      assert.equal(registered.description(), c.description, `${name}: the listed description is the command's own`);
    }
    const help = tollgate(['--help']);
    assert.equal(help.status, 0);
    for (const name of Object.keys(COMMANDS)) assert.match(help.stdout, new RegExp(`\\n  ${name} `), name);
    const sub = tollgate(['help', 'prune']);
    assert.match(sub.stdout, /--before <time>/, '`help <command>` loads that command');
    const unknown = tollgate(['reprot']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /unknown command 'reprot'[\s\S]*report/, 'an unknown command suggests the near one');
  });

  it('packs without tests or dev tooling, with the compiled CLI, data and a bin', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of [
      'bin/tollgate.js',
      'dist/src/cli/main.js',
      'dist/src/server/start.js',
      'data/models.json',
      'data/prices.json',
      'package.json',
      'README.md',
    ])
      assert.ok(files.includes(f), f);
    assert.deepEqual(
      files.filter((f) => /\.test\.js$|^test\/|^src\/|^bench\//.test(f)),
      [],
    );
  });
});

describe('durability', () => {
  it('after kill -9, every request whose client saw the end of the stream is in the ledger', async () => {
    const kdir = mkdtempSync(join(tmpdir(), 'tollgate-kill-'));
    const kcfg = join(kdir, 'tollgate.yaml');
    writeFileSync(kcfg, `store: { sqlite: ./t.db }\nupstreams:\n  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: k }\n`);
    const key = (JSON.parse(tollgate(['--config', kcfg, 'keys', 'create', '--user', 'k', '--json']).stdout) as { key: string }).key;
    const s = await serve(['--config', kcfg]);
    fake.fallback = { kind: 'stream', chunkSize: 200, delayMs: 1 };
    const completed: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const res = await request(s.url + '/v1/messages', { method: 'POST', body: claudeBody(2000), headers: { authorization: `Bearer ${key}` } });
          const text = await res.body.text();
          if (text.includes('event: message_stop')) completed.push(res.headers['x-tollgate-request-id'] as string);
        } catch {
          // The gateway was killed under this request.
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    const deadline = Date.now() + 60_000;
    while (completed.length < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    s.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    fake.fallback = { kind: 'stream' };
    const store = new SqliteStore(join(kdir, 't.db'));
    const ids = new Set(store.queryLedger({}).map((l) => l.id));
    store.close();
    const missing = completed.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${completed.length} completed requests missing from the ledger`);
    assert.ok(completed.length >= 150);
    rmSync(kdir, { recursive: true, force: true });
  });
});
