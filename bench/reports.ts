// npm run bench -- --case reports [--lines 1000000,10000000]: a fleet ledger of each size made
// with `tollgate dev seed-ledger` (the store's own write path, rollups included), then every
// report command timed by its CPU seconds and peak memory; and a key revocation plus a budget
// change applied to a serving gateway with 1,000 budgets on that ledger, timed while streams run.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { loadConfig } from '../src/config/load.js';
import { mintKey } from '../src/identity/keys.js';
import { budgetId } from '../src/policy/budgets.js';
import { createGateway } from '../src/server/start.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { silentLogger } from '../src/util/log.js';
import { claudeBody } from '../test/helpers/gateway.js';

const probe = fileURLToPath(new URL('./cli-probe.js', import.meta.url));

interface Run {
  cpuS: number;
  maxRssMb: number;
  wallS: number;
  outBytes: number;
  status: number | null;
}

function cli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [probe, ...args], { cwd, stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    let outBytes = 0;
    let stats = '';
    child.stdout!.on('data', (b: Buffer) => {
      outBytes += b.length;
    });
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => {
      stats += b.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => {
      const s = JSON.parse(stats || '{"cpuS":NaN,"maxRssMb":NaN}') as { cpuS: number; maxRssMb: number };
      resolve({ ...s, wallS: (performance.now() - t0) / 1000, outBytes, status });
    });
  });
}

const COMMANDS: [string, string[]][] = [
  ['usage summary --by user', ['usage', 'summary', '--by', 'user']],
  ['report --by team,model', ['report', '--by', 'team,model']],
  ['report chargeback', ['report', 'chargeback']],
  ['report --by day,route --since 30d', ['report', '--by', 'day,route', '--since', '30d']],
  ['advise seats', ['advise', 'seats']],
  ['report --html', ['report', '--html', 'r.html']],
  ['usage --limit 10', ['usage', '--limit', '10']],
  ['usage --since 7d --json', ['usage', '--since', '7d', '--json']],
  ['insights', ['insights']],
];

/** A gateway on the ledger with 1,000 budgets: how long a revocation and a budget change made
 * by the CLI take to apply, and the worst latency of requests running meanwhile. */
async function changes(dir: string, upstream: string): Promise<{ startS: number; revokeMs: number; budgetMs: number; worstMs: number; requests: number }> {
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, `store: { sqlite: ./t.db }\nupstreams:\n  - { name: anthropic, type: anthropic, base_url: "${upstream}", api_key: k }\n`);
  const s = new SqliteStore(join(dir, 't.db'));
  const t = Date.now();
  for (let i = 0; i < 1000; i++) {
    const [scope, value] = i % 2 ? (['user', `u${i}`] as const) : (['team', `team-${i % 100}`] as const);
    const period = (['day', 'week', 'month', 'total'] as const)[i % 4]!;
    s.upsertBudget({
      id: budgetId(scope, value, period),
      scope,
      scope_value: value,
      period,
      limit_nanousd: 1e15,
      mode: 'hard',
      alert_at: [],
      created_at: t,
      updated_at: t,
    });
  }
  const live = mintKey({ user: 'u1', team: 'team-0' }, t);
  const doomed = mintKey({ user: 'u3', team: 'team-0' }, t);
  s.insertKey(live.record);
  s.insertKey(doomed.record);
  s.close();
  const t0 = performance.now();
  const gw = createGateway(loadConfig(cfg), { logger: silentLogger });
  const startS = (performance.now() - t0) / 1000;
  const addr = await gw.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${addr.port}/v1/messages`;
  const body = claudeBody(2000, { model: 'claude-sonnet-4-6', stream: true });
  const send = async (key: string) => {
    const r = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'anthropic-version': '2023-06-01' },
    });
    await r.body.arrayBuffer();
    return r.statusCode;
  };
  let stop = false;
  let worst = 0;
  let requests = 0;
  const load = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stop) {
        const a = performance.now();
        await send(live.secret);
        worst = Math.max(worst, performance.now() - a);
        requests++;
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  worst = 0;
  const other = new SqliteStore(join(dir, 't.db'));
  let a = performance.now();
  other.revokeKey(doomed.record.id, Date.now());
  while ((await send(doomed.secret)) === 200) await new Promise((r) => setTimeout(r, 5));
  const revokeMs = performance.now() - a;
  a = performance.now();
  other.upsertBudget({
    id: budgetId('user', 'u1', 'day'),
    scope: 'user',
    scope_value: 'u1',
    period: 'day',
    limit_nanousd: 1,
    mode: 'hard',
    alert_at: [],
    created_at: t,
    updated_at: t,
  });
  while ((await send(live.secret)) === 200) await new Promise((r) => setTimeout(r, 5));
  const budgetMs = performance.now() - a;
  stop = true;
  await load;
  other.close();
  await gw.close(0);
  return { startS, revokeMs, budgetMs, worstMs: worst, requests };
}

export async function benchReports(sizes: number[], upstream: string): Promise<void> {
  const header = `| command | ${sizes.map((n) => `${n.toLocaleString('en')} lines`).join(' | ')} |`;
  const results = new Map<string, string[]>();
  const extra: string[] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-reports-'));
    try {
      writeFileSync(join(dir, 'c.yaml'), 'store: { sqlite: ./t.db }\n');
      const seed = await cli(['dev', 'seed-ledger', '--lines', String(n), '--config', 'c.yaml'], dir);
      if (seed.status !== 0) throw new Error('seed-ledger failed');
      const mb = statSync(join(dir, 't.db')).size / 1048576;
      extra.push(
        `seed ${n.toLocaleString('en')} lines: ${seed.wallS.toFixed(0)} s (${Math.round(n / seed.wallS).toLocaleString('en')} lines/s through the write path, rollups included), store ${mb.toFixed(0)} MB`,
      );
      console.log(extra[extra.length - 1]);
      for (const [name, args] of COMMANDS) {
        const r = await cli([...args, '--config', 'c.yaml'], dir);
        const cell = r.status === 0 ? `${r.cpuS.toFixed(2)} s CPU, ${r.maxRssMb.toFixed(0)} MB` : `failed (${r.status})`;
        (results.get(name) ?? results.set(name, []).get(name)!).push(cell);
        console.log(`${n} lines: ${name}: ${cell}, ${r.wallS.toFixed(2)} s wall${r.outBytes > 1e6 ? `, ${(r.outBytes / 1048576).toFixed(0)} MB out` : ''}`);
      }
      const c = await changes(dir, upstream);
      extra.push(
        `${n.toLocaleString('en')} lines, 1,000 budgets: gateway start ${c.startS.toFixed(2)} s; a CLI revocation applied in ${c.revokeMs.toFixed(0)} ms and a budget change in ${c.budgetMs.toFixed(0)} ms, worst latency of the ${c.requests} requests running meanwhile ${c.worstMs.toFixed(0)} ms`,
      );
      console.log(extra[extra.length - 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\nReports (CPU seconds and peak RSS of the command):\n\n${header}\n|---|${sizes.map(() => '---').join('|')}|`);
  for (const [name] of COMMANDS) console.log(`| \`${name}\` | ${(results.get(name) ?? []).join(' | ')} |`);
  console.log('\n' + extra.join('\n'));
}
