// What the request path needs, assembled once at start-up.
import type { Config } from '../config/schema.js';
import type { AuthServer } from '../identity/authorization-server.js';
import type { FleetWatch } from '../clientconfig/fleet.js';
import type { KeyRing } from '../identity/keys.js';
import type { LedgerWriter } from '../metering/ledger.js';
import type { PriceBook } from '../metering/prices.js';
import type { Upstream } from '../providers/types.js';
import type { Router } from '../routing/router.js';
import type { SpendControl } from '../policy/spend.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { ConsoleAuth } from '../console/auth.js';
import type { LedgerLine } from '../store/types.js';

/** One listener per request in flight, added and removed in O(1) (an AbortSignal warns past
 * ten listeners and removes them in O(n)). */
export class ShutdownSignal {
  private readonly listeners = new Set<() => void>();
  aborted = false;

  /** Calls `fn` when the grace period ends; returns the function that unregisters it. */
  on(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  fire(): void {
    if (this.aborted) return;
    this.aborted = true;
    for (const fn of [...this.listeners]) fn();
    this.listeners.clear();
  }
}

export interface GatewayContext {
  config: Config;
  store: Store;
  keys: KeyRing;
  /** Sign-in (Claude Code's /login); answers 404 when auth.oidc is not configured. */
  auth: AuthServer;
  /** Managed-settings checksums machines report (hint headers). */
  fleet: FleetWatch;
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
  /** Fires when a shutdown's grace period is over: requests still in flight are cut. */
  shutdown: ShutdownSignal;
  /** Why the store cannot take ledger lines now (write failing, disk nearly full), or null. */
  storeProblem(): string | null;
  /** Console sign-in and sessions (also accepted by the admin API). */
  console: ConsoleAuth;
  /** Prometheus counters (null when metrics.enabled is false). */
  metrics: Metrics | null;
  /** A request's ledger line is in the store: its metrics and access-log line. */
  observe(line: LedgerLine): void;
}
