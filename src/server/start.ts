// Assembles a gateway from a loaded config: store, catalog, prices, upstreams.
import { resolveFrom, type LoadedConfig } from '../config/load.js';
import { PriceBook } from '../metering/prices.js';
import { loadCatalog } from '../routing/catalog.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { Gateway } from './app.js';

export interface StartOptions {
  logger: Logger;
  store?: Store;
  wallNow?: () => number;
  pollMs?: number;
}

export function createGateway(loaded: LoadedConfig, opts: StartOptions): Gateway {
  // Files named in the config are relative to it.
  const config = loaded.config.server.tls
    ? {
        ...loaded.config,
        server: {
          ...loaded.config.server,
          tls: { cert: resolveFrom(loaded, loaded.config.server.tls.cert), key: resolveFrom(loaded, loaded.config.server.tls.key) },
        },
      }
    : loaded.config;
  const store = opts.store ?? openStore(loaded, 'gateway');
  const catalog = loadCatalog();
  const prices = PriceBook.load(
    catalog,
    {
      file: config.prices.file ? resolveFrom(loaded, config.prices.file) : undefined,
      overrides: config.prices.overrides,
    },
    (msg) => opts.logger.warn(msg),
  );
  return new Gateway({ config, store, prices, catalog, logger: opts.logger, wallNow: opts.wallNow, pollMs: opts.pollMs });
}
