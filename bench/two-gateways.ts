// npm run bench -- --case two-gateways: two gateway processes on one SQLite file with 1,000
// budgets, both under load for 10 s: requests each served, worst latency, and whether the
// budgets they share saw every line once (the sum of the budgets' spend against the ledger).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { mintKey } from '../src/identity/keys.js';
import { budgetId } from '../src/policy/budgets.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { claudeBody } from '../test/helpers/gateway.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

interface Child {
  port: number;
  child: ReturnType<typeof fork>;
}

function gateway(cfg: string): Promise<Child> {
  const child = fork(here('./gateway-process.js'), [cfg], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ port: (m as { port: number }).port, child }));
    child.once('exit', (c) => reject(new Error(`gateway exited ${c}`)));
  });
}

export async function benchTwoGateways(upstream: string, seconds = 10): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-two-'));
  try {
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `store: { sqlite: ./t.db }\nupstreams:\n  - { name: anthropic, type: anthropic, base_url: "${upstream}", api_key: k }\n`);
    const s = new SqliteStore(join(dir, 't.db'));
    const t = Date.now();
    for (let i = 0; i < 1000; i++) {
      const [scope, value] = i % 2 ? (['user', `u${i}`] as const) : (['team', `team-${i % 100}`] as const);
      s.upsertBudget({
        id: budgetId(scope, value, 'month'),
        scope,
        scope_value: value,
        period: 'month',
        limit_nanousd: 1e15,
        mode: 'hard',
        alert_at: [],
        created_at: t,
        updated_at: t,
      });
    }
    // The team everyone is in has a budget in both gateways: its spend must count each line once.
    s.upsertBudget({
      id: budgetId('team', 'team-0', 'day'),
      scope: 'team',
      scope_value: 'team-0',
      period: 'day',
      limit_nanousd: 1e15,
      mode: 'hard',
      alert_at: [],
      created_at: t,
      updated_at: t,
    });
    const key = mintKey({ user: 'u1', team: 'team-0' }, t);
    s.insertKey(key.record);
    s.close();
    const gws = [await gateway(cfg), await gateway(cfg)];
    const body = claudeBody(20_000, { model: 'claude-sonnet-4-6' });
    const served = [0, 0];
    const worst = [0, 0];
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      gws.flatMap((g, i) =>
        Array.from({ length: 4 }, async () => {
          while (performance.now() < end) {
            const a = performance.now();
            const r = await request(`http://127.0.0.1:${g.port}/v1/messages`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}`, 'anthropic-version': '2023-06-01' },
            });
            await r.body.arrayBuffer();
            if (r.statusCode === 200) served[i]!++;
            worst[i] = Math.max(worst[i]!, performance.now() - a);
          }
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 600));
    const spent = await Promise.all(
      gws.map(
        (g) =>
          new Promise<number>((resolve) => {
            g.child.once('message', (m) => resolve((m as { spent: number }).spent));
            g.child.send('spent');
          }),
      ),
    );
    for (const g of gws) g.child.kill();
    const check = new SqliteStore(join(dir, 't.db'));
    const ledger = check.spend(
      'team',
      'team-0',
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()),
      Number.MAX_SAFE_INTEGER,
    );
    check.close();
    console.log(
      `two gateways, one SQLite file, 1,000 budgets, ${seconds} s: served ${served[0]} and ${served[1]} requests; worst latency ${worst[0]!.toFixed(0)} ms and ${worst[1]!.toFixed(0)} ms`,
    );
    console.log(
      `team-0's daily spend as each gateway counts it: ${spent[0]} and ${spent[1]} nano-USD; the ledger's sum: ${ledger} (${spent[0] === ledger && spent[1] === ledger ? 'equal' : 'DIFFERENT'})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
