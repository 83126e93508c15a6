// tollgate serve: run the gateway.
import type { Command } from 'commander';
import { resolveFrom } from '../../config/load.js';
import { createGateway } from '../../server/start.js';
import { createLogger } from '../../util/log.js';
import { VERSION } from '../../util/version.js';
import { openConfig, UsageError, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  program.command('serve')
    .description('run the gateway (defaults: 127.0.0.1:8787, ./data/tollgate.db, the Anthropic API with $ANTHROPIC_API_KEY)')
    .option('--host <host>', 'listen address (overrides server.host)')
    .option('--port <port>', 'listen port (overrides server.port)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port ${v}: expected 0-65535`);
      return n;
    })
    .action(async (o: { host?: string; port?: number }) => {
      const loaded = openConfig(globals());
      const logger = createLogger(loaded.config.log.level);
      const gw = createGateway(loaded, { logger });
      const addr = await gw.listen(o.port ?? loaded.config.server.port, o.host ?? loaded.config.server.host);
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const url = `http://${host}:${addr.port}`;
      const lines = [
        `tollgate ${VERSION} listening on ${url}`,
        `config: ${loaded.file ?? 'none found (tollgate.yaml, $TOLLGATE_CONFIG or --config); running on defaults'}`,
        `store:  ${resolveFrom(loaded, loaded.config.store.sqlite)}`,
      ];
      for (const u of gw.ctx.upstreams) {
        const p = u.credentialProblem();
        lines.push(`upstream ${u.name} (${u.route}) ${u.displayUrl}: ${p ? `NOT READY: ${p}` : 'ready'}`);
      }
      for (const v of loaded.missingEnv) lines.push(`warning: $${v} is not set (referenced in the config)`);
      lines.push('', 'Point Claude Code at it:',
        `  tollgate keys create --user <name>          # prints a key once`,
        `  export ANTHROPIC_BASE_URL=${url}`,
        `  export ANTHROPIC_AUTH_TOKEN=<that key>`);
      process.stderr.write(lines.join('\n') + '\n');
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) process.exit(1);
        stopping = true;
        logger.info(`${sig}: finishing requests in flight, then stopping`);
        gw.close().then(() => { gw.ctx.store.close(); process.exit(0); }, () => process.exit(1));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
