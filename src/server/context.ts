// What the request path needs, assembled once at start-up.
import type { Config } from '../config/schema.js';
import type { KeyRing } from '../identity/keys.js';
import type { LedgerWriter } from '../metering/ledger.js';
import type { PriceBook } from '../metering/prices.js';
import type { Upstream } from '../providers/types.js';
import type { Router } from '../routing/router.js';
import type { SpendControl } from '../policy/spend.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';

export interface GatewayContext {
  config: Config;
  store: Store;
  keys: KeyRing;
  ledger: LedgerWriter;
  prices: PriceBook;
  catalog: ModelCatalog;
  upstreams: Upstream[];
  router: Router;
  spend: SpendControl;
  logger: Logger;
  /** Monotonic milliseconds, for durations. */
  now: () => number;
  /** Wall-clock epoch milliseconds, for timestamps (injectable for tests). */
  wallNow: () => number;
  /** Aborted when a shutdown's grace period is over: requests still in flight are cut. */
  shutdown: AbortSignal;
  /** Why the store cannot take ledger lines now (write failing, disk nearly full), or null. */
  storeProblem(): string | null;
}
