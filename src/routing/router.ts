// Which upstreams serve a request, in failover order, and which are cooling down. A request
// only ever goes to upstreams on its own list (a team pinned to a region for residency is
// never failed over outside it); an upstream in cooldown moves to the back of the list.
import type { Config } from '../config/schema.js';
import type { Upstream } from '../providers/types.js';
import type { KeyRecord } from '../store/types.js';

export type RouterEvent =
  | { kind: 'failover'; from: string; to: string; reason: string; keyId: string | null; user: string | null; team: string | null }
  | { kind: 'cooldown'; upstream: string; until: number; failures: number };

interface Health {
  consecutiveFailures: number;
  coolUntil: number;
}

export class Router {
  private readonly byName = new Map<string, Upstream>();
  private readonly health = new Map<string, Health>();

  constructor(
    readonly upstreams: Upstream[],
    private readonly routes: Config['routes'],
    readonly failover: Config['failover'],
    private readonly now: () => number = Date.now,
    private readonly onEvent: (e: RouterEvent) => void = () => {},
  ) {
    for (const u of upstreams) {
      this.byName.set(u.name, u);
      this.health.set(u.name, { consecutiveFailures: 0, coolUntil: 0 });
    }
  }

  /** The names serving a key: key override, else team, else default, else the first upstream. */
  listFor(key: Pick<KeyRecord, 'id' | 'team'>): string[] {
    const r = this.routes;
    return r.keys?.[key.id] ?? (key.team ? r.teams?.[key.team] : undefined) ?? r.default ?? (this.upstreams[0] ? [this.upstreams[0].name] : []);
  }

  /** The list in failover order for this moment (cooling upstreams last). */
  targetsFor(key: Pick<KeyRecord, 'id' | 'team'>): Upstream[] {
    const t = this.now();
    const list = this.listFor(key)
      .map((n) => this.byName.get(n))
      .filter((u): u is Upstream => u !== undefined);
    const warm = list.filter((u) => (this.health.get(u.name)?.coolUntil ?? 0) <= t);
    const cool = list.filter((u) => (this.health.get(u.name)?.coolUntil ?? 0) > t);
    return [...warm, ...cool];
  }

  isCooling(name: string): boolean {
    return (this.health.get(name)?.coolUntil ?? 0) > this.now();
  }

  success(name: string): void {
    const h = this.health.get(name);
    if (h) {
      h.consecutiveFailures = 0;
      h.coolUntil = 0;
    }
  }

  failure(name: string): void {
    const h = this.health.get(name);
    if (!h) return;
    h.consecutiveFailures++;
    if (h.consecutiveFailures >= this.failover.cooldown_after && h.coolUntil <= this.now()) {
      h.coolUntil = this.now() + this.failover.cooldown_ms;
      this.onEvent({ kind: 'cooldown', upstream: name, until: h.coolUntil, failures: h.consecutiveFailures });
    }
  }

  emit(e: RouterEvent): void {
    this.onEvent(e);
  }

  /** Backoff before retrying an upstream already tried in this request: exponential with
   * "equal jitter" (half fixed, half random), capped. */
  backoff(round: number, random: () => number = Math.random): number {
    const base = Math.min(this.failover.max_backoff_ms, this.failover.backoff_ms * 2 ** Math.max(0, round - 1));
    return Math.round(base / 2 + (random() * base) / 2);
  }
}

/** retry-after in seconds or an HTTP date, as milliseconds from now; null when absent. */
export function retryAfterMs(v: string | string[] | undefined, now = Date.now()): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s.trim())) return Math.round(Number(s) * 1000);
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}
