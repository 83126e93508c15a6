// One gateway on a given config, in its own process (the two-gateways and postgres benchmarks).
import { loadConfig } from '../src/config/load.js';
import { createGateway } from '../src/server/start.js';
import { createWriteStream } from 'node:fs';
import { createLogger, silentLogger } from '../src/util/log.js';

// A second argument: a file the gateway logs to, as configured (log.format, log.access), the way
// a service's log goes to a file or journal; without it, nothing is logged.
const loaded = loadConfig(process.argv[2] as string);
const logFile = process.argv[3];
const logger = logFile
  ? (() => {
      const out = createWriteStream(logFile);
      return createLogger({ level: loaded.config.log.level, format: loaded.config.log.format, sink: (l) => out.write(l + '\n') });
    })()
  : silentLogger;
const gw = createGateway(loaded, { logger });
const addr = await gw.listen(0, '127.0.0.1');
process.send?.({ port: addr.port });
process.on('message', (m) => {
  // A clean exit (a CPU profile taken with --cpu-prof is written on exit).
  if (m === 'exit') process.exit(0);
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
