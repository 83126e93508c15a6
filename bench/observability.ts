// npm run bench -- --case observability: what metrics and the access log cost on the request
// path. Two gateways on the same SQLite store and fake upstream, in interleaved rounds: one with
// /metrics off and no log (as before they existed), one with Prometheus counters and a JSON
// access line per request written to a file. Added latency over direct calls and CPU per
// request of each gateway process; then the time a scrape of /metrics takes.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { mintKey } from '../src/identity/keys.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { claudeBody } from '../test/helpers/gateway.js';
import { gateway, measure, median, run, type Gw } from './harness.js';

export async function benchObservability(upstream: string, quick: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-obs-'));
  const gws: Gw[] = [];
  try {
    const up = `upstreams:\n  - { name: anthropic, type: anthropic, base_url: "${upstream}", api_key: k }\n`;
    const cfg = (name: string, extra: string) => {
      const f = join(dir, `${name}.yaml`);
      writeFileSync(f, `store: { sqlite: ./${name}.db }\n${up}${extra}`);
      return f;
    };
    const key = mintKey({ user: 'bench', team: 'perf' }, Date.now());
    for (const name of ['plain', 'metrics', 'observed']) {
      const s = new SqliteStore(join(dir, `${name}.db`));
      s.insertKey(key.record);
      s.close();
    }
    const plain = await gateway(cfg('plain', 'metrics: { enabled: false }\nlog: { access: false }\n'));
    const metricsOnly = await gateway(cfg('metrics', 'metrics: { enabled: true }\nlog: { access: false }\n'));
    const logFile = join(dir, 'access.log');
    const observed = await gateway(cfg('observed', 'metrics: { enabled: true }\nlog: { format: json, access: true }\n'), logFile);
    gws.push(plain, metricsOnly, observed);
    const body = claudeBody(20_000, { model: 'claude-sonnet-4-6' });
    const n = quick ? 400 : 2000;
    const rounds = quick ? 3 : 6;
    const conc = 8;
    for (const u of [upstream, plain.url, metricsOnly.url, observed.url]) await run([u], body, key.secret, 200, conc);
    const lat: Record<string, number[]> = { direct: [], plain: [], metrics: [], observed: [] };
    const cpuMs: Record<string, number[]> = { plain: [], metrics: [], observed: [] };
    const all = [
      ['plain', plain],
      ['metrics', metricsOnly],
      ['observed', observed],
    ] as const;
    for (let r = 0; r < rounds; r++) {
      lat.direct!.push(median((await run([upstream], body, key.secret, n, conc)).ms));
      // Rotate which goes first: drift in the machine's load hits each alike.
      for (const [name, g] of [...all.slice(r % 3), ...all.slice(0, r % 3)]) {
        const m = await measure(g, body, key.secret, n, conc);
        cpuMs[name]!.push(m.cpuMs);
        lat[name]!.push(m.latencyMs);
      }
    }
    const med = (k: string) => median(lat[k]!);
    const added = (k: string) => med(k) - med('direct');
    const c = (k: string) => median(cpuMs[k]!);
    console.log(`metrics and access log, 20 KB streaming requests, concurrency ${conc}, ${rounds} rounds of ${n} (median of round medians):`);
    const vs = (k: string, f: (k: string) => number) => `${f(k).toFixed(3)} ms (${(f(k) / f('plain')).toFixed(2)}×)`;
    console.log(`  added latency: neither ${added('plain').toFixed(3)} ms; metrics ${vs('metrics', added)}; metrics and access log ${vs('observed', added)}`);
    console.log(`  gateway CPU per request: neither ${c('plain').toFixed(3)} ms; metrics ${vs('metrics', c)}; metrics and access log ${vs('observed', c)}`);
    const logged = statSync(logFile).size;
    const requests = 200 + rounds * n;
    console.log(`  access log: ${(logged / requests).toFixed(0)} bytes per request`);
    const scrapes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const res = await request(`${observed.url}/metrics`);
      await res.body.text();
      scrapes.push(performance.now() - t0);
    }
    console.log(`  a /metrics scrape: ${median(scrapes).toFixed(2)} ms (median of 20)`);
  } finally {
    for (const g of gws) g.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
