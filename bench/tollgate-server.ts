// tollgate as benchmarked: the same assembly as `tollgate serve`, metering and ledger on,
// SQLite on a scratch file, in its own process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { mintKey } from '../src/identity/keys.js';
import { createGateway } from '../src/server/start.js';
import { silentLogger } from '../src/util/log.js';

const upstream = process.argv[2] as string;
const bedrock = process.argv[3] as string;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
const file = join(dir, 'tollgate.yaml');
writeFileSync(
  file,
  `store: { sqlite: ./bench.db }
upstreams:
  - { name: anthropic, type: anthropic, base_url: "${upstream}", api_key: upstream-key }
  - { name: bedrock, type: bedrock, region: us-east-1, base_url: "${bedrock}", bearer_token: bench-token }
routes: { default: [anthropic], teams: { cloud: [bedrock] } }
`,
);
const gw = createGateway(loadConfig(file), { logger: silentLogger });
const key = mintKey({ user: 'bench', team: 'perf' }, Date.now());
gw.ctx.store.insertKey(key.record);
const cloudKey = mintKey({ user: 'bench', team: 'cloud' }, Date.now());
gw.ctx.store.insertKey(cloudKey.record);
const addr = await gw.listen(0, '127.0.0.1');
process.send?.({ port: addr.port, key: key.secret, cloudKey: cloudKey.secret, dir });
process.on('message', (m) => {
  if (m === 'lines') process.send?.({ lines: gw.ctx.ledger.written, commits: gw.ctx.ledger.commits });
  // CPU time (user + system, µs) for the run's CPU-per-request figures.
  if (m === 'cpu') {
    const u = process.cpuUsage();
    process.send?.({ cpu: u.user + u.system });
  }
  // A clean exit lets --cpu-prof write its profile when profiling the benchmark.
  if (m === 'exit') void gw.close(0).then(() => process.exit(0));
});
