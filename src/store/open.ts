// The one place a store implementation is chosen from the config: the gateway and every CLI
// command open their store here: the embedded SQLite file, or PostgreSQL (store.postgres).
import { resolveFrom, type LoadedConfig } from '../config/load.js';
import { PostgresStore, redactUrl } from './postgres/index.js';
import { SpooledStore } from './postgres/spooled.js';
import { SqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

/** `gateway`: the long-running server (SQLite checkpoints move to a worker thread). */
export function openStore(loaded: LoadedConfig, role: 'gateway' | 'cli' = 'cli'): Store {
  const { store } = loaded.config;
  if (store.postgres) {
    // A gateway replica writes through its local spool; commands talk to PostgreSQL directly.
    if (role === 'gateway') return new SpooledStore(store.postgres, resolveFrom(loaded, store.spool), { migrate: store.migrate_on_start, sync: store.sync });
    return new PostgresStore(store.postgres, { migrate: store.migrate_on_start });
  }
  return new SqliteStore(resolveFrom(loaded, store.sqlite), { sync: store.sync, backgroundCheckpoint: role === 'gateway' });
}

/** Where the store is, for messages (a PostgreSQL URL without its password). */
export function describeStore(loaded: LoadedConfig): string {
  const { store } = loaded.config;
  return store.postgres ? `PostgreSQL ${redactUrl(store.postgres)} (spool ${resolveFrom(loaded, store.spool)})` : resolveFrom(loaded, store.sqlite);
}
