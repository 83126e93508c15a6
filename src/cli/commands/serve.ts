// tollgate serve: run the gateway.
import type { Command } from 'commander';
import { createGateway } from '../../server/start.js';
import { describeStore } from '../../store/open.js';
import { createLogger } from '../../util/log.js';
import { VERSION } from '../../util/version.js';
import { openConfig, UsageError, type GlobalOpts } from '../shared.js';

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === 'localhost' || address.startsWith('::ffff:127.');
}

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('serve')
    .description('run the gateway (defaults: 127.0.0.1:8787, ./data/tollgate.db, the Anthropic API with $ANTHROPIC_API_KEY)')
    .option('--host <host>', 'listen address (overrides server.host)')
    .option('--port <port>', 'listen port (overrides server.port)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port ${v}: expected 0-65535`);
      return n;
    })
    .action(async (o: { host?: string; port?: number }) => {
      const loaded = openConfig(globals());
      const logger = createLogger({ level: loaded.config.log.level, format: loaded.config.log.format });
      const gw = createGateway(loaded, { logger });
      const addr = await gw.listen(o.port ?? loaded.config.server.port, o.host ?? loaded.config.server.host);
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const url = `http://${host}:${addr.port}`;
      const lines = [
        `tollgate ${VERSION} listening on ${url}`,
        `config: ${loaded.file ?? 'none found (tollgate.yaml, $TOLLGATE_CONFIG or --config); running on defaults'}`,
        `store:  ${describeStore(loaded)}`,
      ];
      for (const u of gw.ctx.upstreams) {
        const p = u.credentialProblem();
        lines.push(`upstream ${u.name} (${u.route}) ${u.displayUrl}: ${p ? `NOT READY: ${p}` : 'ready'}`);
      }
      for (const v of loaded.missingEnv) lines.push(`warning: $${v} is not set (referenced in the config)`);
      if (!isLoopback(addr.address)) {
        lines.push(
          `warning: listening on ${addr.address} without TLS: virtual keys and prompts cross the network in clear text. Put a TLS-terminating proxy or load balancer in front, or bind to 127.0.0.1.`,
        );
      }
      lines.push(
        '',
        'Point Claude Code at it:',
        `  tollgate keys create --user <name>          # prints a key once`,
        `  export ANTHROPIC_BASE_URL=${url}`,
        `  export ANTHROPIC_AUTH_TOKEN=<that key>`,
      );
      process.stderr.write(lines.join('\n') + '\n');
      // First signal: stop accepting, let requests in flight finish (server.shutdown_grace_ms),
      // write every ledger line, exit 0. Second: cut the requests now (still recorded). Third:
      // exit at once.
      let signals = 0;
      const stop = (sig: string) => {
        signals++;
        if (signals === 1) {
          const grace = loaded.config.server.shutdown_grace_ms;
          logger.info(
            `${sig}: stopped accepting; ${gw.inFlight} requests in flight may finish within ${Math.round(grace / 1000)} s (server.shutdown_grace_ms), then are cut; ${sig} again cuts them now`,
          );
          gw.close().then(
            () => {
              gw.ctx.store.close();
              logger.info(`stopped: ${gw.ctx.ledger.written} ledger lines written since start`);
              process.exit(gw.ctx.ledger.pending > 0 ? 1 : 0);
            },
            (err: unknown) => {
              logger.error('shutdown failed', { error: (err as Error)?.message });
              process.exit(1);
            },
          );
        } else if (signals === 2) {
          logger.warn(`${sig} again: cutting requests in flight now; their ledger lines are written`);
          gw.cutNow();
        } else {
          logger.error(`${sig} a third time: exiting without waiting`);
          process.exit(1);
        }
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      // No config reload: say so rather than die (SIGHUP's default) when a terminal closes or
      // an operator expects nginx-style reloads.
      process.on('SIGHUP', () => {
        logger.warn(
          'SIGHUP ignored: tollgate does not reload its config file; restart it to apply changes (SIGTERM lets requests in flight finish). Keys and budgets changed with the CLI or admin API apply within a second without a restart.',
        );
      });
    });
}
