// Cost of spend control on the hot path: model policy + rate limits + budget admission and
// settlement for one request, in process, with a realistic set of rules.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { PriceBook } from '../src/metering/prices.js';
import { SpendControl } from '../src/policy/spend.js';
import { AlertDispatcher } from '../src/policy/alerts.js';
import { loadCatalog } from '../src/routing/catalog.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import type { KeyRecord, LedgerLine } from '../src/store/types.js';
import { silentLogger } from '../src/util/log.js';

export function benchPolicy(iterations = 200_000): { p50us: number; p99us: number; meanUs: number } {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-policy-'));
  const { config } = parseConfig(
    `
upstreams: [{ name: a, type: anthropic, api_key: k }]
budgets:
  - { org: true, period: month, limit_usd: 1000000 }
  - { team: web, period: month, limit_usd: 100000 }
  - { user: alice, period: day, limit_usd: 10000 }
  - { project: atlas, period: week, limit_usd: 50000, mode: soft }
  - { key: key_bench, period: total, limit_usd: 1000000 }
rate_limits:
  - { user: "*", rpm: 100000000 }
  - { team: web, tpm: 1000000000000 }
  - { key: "*", concurrent: 1000 }
policy:
  teams: { web: { allow: [opus, sonnet, haiku], rewrite: [{ from: haiku, to: claude-haiku-4-5 }] } }
`,
    'bench',
  );
  const store = new SqliteStore(join(dir, 'p.db'));
  const catalog = loadCatalog();
  const spend = new SpendControl(new AlertDispatcher([], silentLogger), config, store, PriceBook.load(catalog), catalog, silentLogger, Date.now);
  const key: KeyRecord = {
    id: 'key_bench',
    hash: '',
    prefix: '',
    name: null,
    user: 'alice',
    team: 'web',
    project: 'atlas',
    created_at: 0,
    last_used_at: null,
    revoked_at: null,
  };
  const line = {
    cost_nanousd: 17_100_000,
    ts: Date.now(),
    input_tokens: 1000,
    output_tokens: 50,
    cache_read_input_tokens: 3000,
    cache_creation_5m_input_tokens: 1500,
    cache_creation_1h_input_tokens: 500,
  } as LedgerLine;
  const times = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    const a = spend.admit(key, 'claude-opus-5-5', 50_000);
    spend.settle(a, line);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  store.close();
  rmSync(dir, { recursive: true, force: true });
  const sorted = Array.from(times.subarray(Math.floor(iterations / 10))).sort((x, y) => x - y);
  return {
    p50us: sorted[Math.floor(sorted.length / 2)]!,
    p99us: sorted[Math.floor(sorted.length * 0.99)]!,
    meanUs: sorted.reduce((s, x) => s + x, 0) / sorted.length,
  };
}
