// One gateway on a given config, in its own process (the two-gateways and postgres benchmarks).
import { loadConfig } from '../src/config/load.js';
import { createGateway } from '../src/server/start.js';
import { silentLogger } from '../src/util/log.js';

const gw = createGateway(loadConfig(process.argv[2] as string), { logger: silentLogger });
const addr = await gw.listen(0, '127.0.0.1');
process.send?.({ port: addr.port });
process.on('message', (m) => {
  // CPU time (user + system, µs, all threads: the PostgreSQL store's worker too).
  if (m === 'cpu') {
    const u = process.cpuUsage();
    process.send?.({ cpu: u.user + u.system });
  }
  if (m === 'spent') {
    const b = gw.ctx.spend.budgets.snapshot().find((x) => x.def.scope === 'team' && x.def.value === 'team-0' && x.def.period === 'day');
    process.send?.({ spent: b?.spent ?? -1 });
  }
});
