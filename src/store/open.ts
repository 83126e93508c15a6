// The one place a store implementation is chosen from the config: the gateway and every CLI
// command open their store here. (Today the embedded SQLite store; a PostgreSQL store joins it.)
import { resolveFrom, type LoadedConfig } from '../config/load.js';
import { SqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

/** `gateway`: the long-running server (checkpoints move to a worker thread). */
export function openStore(loaded: LoadedConfig, role: 'gateway' | 'cli'): Store {
  const { store } = loaded.config;
  return new SqliteStore(resolveFrom(loaded, store.sqlite), { sync: store.sync, backgroundCheckpoint: role === 'gateway' });
}
