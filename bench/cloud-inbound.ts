// npm run bench -- --case cloud-inbound: Claude Code in Bedrock or Vertex mode through tollgate
// against Anthropic mode, same gateway, same fake upstream (the Anthropic route): the cloud
// modes add a parse and re-serialise of the body, and Bedrock mode re-frames the stream as AWS
// event-stream frames. Added latency over direct calls and CPU per request, interleaved rounds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintKey } from '../src/identity/keys.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { claudeBody } from '../test/helpers/gateway.js';
import { gateway, measure, median, run, type Gw } from './harness.js';

export async function benchCloudInbound(upstream: string, quick: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-cloud-'));
  let g: Gw | null = null;
  try {
    const cfg = join(dir, 'gw.yaml');
    writeFileSync(cfg, `store: { sqlite: ./bench.db }\nupstreams:\n  - { name: anthropic, type: anthropic, base_url: "${upstream}", api_key: k }\n`);
    const key = mintKey({ user: 'bench', team: 'perf' }, Date.now());
    const s = new SqliteStore(join(dir, 'bench.db'));
    s.insertKey(key.record);
    s.close();
    g = await gateway(cfg);
    const first = claudeBody(20_000, { model: 'claude-sonnet-4-6' });
    const { model: _m, stream: _s, ...rest } = JSON.parse(first.toString()) as Record<string, unknown>;
    const modes: Record<string, { path: string; body: Buffer }> = {
      anthropic: { path: '/v1/messages', body: first },
      bedrock: {
        path: `/model/${encodeURIComponent('us.anthropic.claude-sonnet-4-6')}/invoke-with-response-stream`,
        body: Buffer.from(JSON.stringify({ ...rest, anthropic_version: 'bedrock-2023-05-31', anthropic_beta: ['interleaved-thinking-2025-05-14'] })),
      },
      vertex: {
        path: '/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-6:streamRawPredict',
        body: Buffer.from(JSON.stringify({ ...rest, stream: true, anthropic_version: 'vertex-2023-10-16' })),
      },
    };
    const n = quick ? 400 : 2000;
    const rounds = quick ? 3 : 6;
    const conc = 8;
    for (const m of Object.values(modes)) await run([g.url], m.body, key.secret, 200, conc, m.path);
    await run([upstream], first, key.secret, 200, conc);
    const lat: Record<string, number[]> = { direct: [], anthropic: [], bedrock: [], vertex: [] };
    const cpuMs: Record<string, number[]> = { anthropic: [], bedrock: [], vertex: [] };
    const names = Object.keys(modes);
    for (let r = 0; r < rounds; r++) {
      lat.direct!.push(median((await run([upstream], first, key.secret, n, conc)).ms));
      for (const name of [...names.slice(r % 3), ...names.slice(0, r % 3)]) {
        const m = await measure(g, modes[name]!.body, key.secret, n, conc, modes[name]!.path);
        cpuMs[name]!.push(m.cpuMs);
        lat[name]!.push(m.latencyMs);
      }
    }
    const added = (k: string) => median(lat[k]!) - median(lat.direct!);
    const c = (k: string) => median(cpuMs[k]!);
    const vs = (k: string, f: (k: string) => number) => `${f(k).toFixed(3)} ms (${(f(k) / f('anthropic')).toFixed(2)}×)`;
    console.log(`Claude Code's modes through tollgate, 20 KB streaming requests, concurrency ${conc}, ${rounds} rounds of ${n} (median of round medians):`);
    console.log(
      `  added latency: Anthropic mode ${added('anthropic').toFixed(3)} ms; Bedrock mode ${vs('bedrock', added)}; Vertex mode ${vs('vertex', added)}`,
    );
    console.log(`  gateway CPU per request: Anthropic mode ${c('anthropic').toFixed(3)} ms; Bedrock mode ${vs('bedrock', c)}; Vertex mode ${vs('vertex', c)}`);
  } finally {
    g?.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
