// Rate limits per key, user or team: requests per minute and tokens per minute over a sliding
// minute (one-second buckets), and concurrent requests in flight. All in memory: a check is a
// few array reads.
//
// Replicas on a shared store count together: on each poll a replica publishes its own figures
// per counter and reads the other replicas' (store.syncRates), and admission adds those to its
// own. No database round trip per request; the others' figures are at most one poll old, so a
// limit can be passed by what the other replicas admit within one poll interval.
import type { KeyRecord } from '../store/types.js';

export interface RateRule {
  scope: 'key' | 'user' | 'team';
  value: string;
  rpm?: number;
  tpm?: number;
  concurrent?: number;
}

class Window {
  private readonly counts = new Float64Array(60);
  private readonly secs = new Float64Array(60).fill(-1);

  add(sec: number, n: number): void {
    const i = sec % 60;
    if (this.secs[i] !== sec) {
      this.secs[i] = sec;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  sum(sec: number): number {
    let s = 0;
    for (let i = 0; i < 60; i++) if (this.secs[i]! > sec - 60) s += this.counts[i]!;
    return s;
  }

  /** Seconds until the window's sum falls by at least `need`. */
  secondsUntilBelow(sec: number, need: number): number {
    let freed = 0;
    for (let age = 59; age >= 0; age--) {
      const s = sec - age;
      const i = ((s % 60) + 60) % 60;
      if (this.secs[i] === s) freed += this.counts[i]!;
      if (freed >= need) return 60 - age;
    }
    return 60;
  }
}

interface Counter {
  id: string;
  rule: RateRule;
  requests: Window;
  tokens: Window;
  inFlight: number;
  /** The other replicas' figures at the last sync. */
  others: RateFigures;
}

export interface RateFigures {
  requests: number;
  tokens: number;
  inFlight: number;
}

/** Publishes this replica's figures per counter and returns the other replicas' sums. */
export type RateSync = (mine: (RateFigures & { counter: string })[]) => Map<string, RateFigures>;

export type RateRefusal = { limit: 'rpm' | 'tpm' | 'concurrent'; rule: RateRule; retryAfterS: number; current: number; max: number };

export interface RateTicket {
  counters: Counter[];
  done: boolean;
}

export class RateLimiter {
  private readonly counters = new Map<string, Counter>();

  constructor(
    private readonly rules: RateRule[],
    private readonly now: () => number,
  ) {}

  private countersFor(key: Pick<KeyRecord, 'id' | 'user' | 'team'>): Counter[] {
    const out: Counter[] = [];
    for (const r of this.rules) {
      const v = r.scope === 'key' ? key.id : r.scope === 'user' ? key.user : key.team;
      if (v === null || (r.value !== '*' && r.value !== v)) continue;
      // "*" gives each key/user/team its own counter.
      const id = `${r.scope}:${r.value}:${v}:${r.rpm ?? ''}:${r.tpm ?? ''}:${r.concurrent ?? ''}`;
      let c = this.counters.get(id);
      if (!c) {
        c = { id, rule: r, requests: new Window(), tokens: new Window(), inFlight: 0, others: { requests: 0, tokens: 0, inFlight: 0 } };
        this.counters.set(id, c);
      }
      out.push(c);
    }
    return out;
  }

  admit(key: Pick<KeyRecord, 'id' | 'user' | 'team'>): { ok: true; ticket: RateTicket } | { ok: false; refusal: RateRefusal } {
    const cs = this.countersFor(key);
    const sec = Math.floor(this.now() / 1000);
    for (const c of cs) {
      const r = c.rule;
      if (r.concurrent !== undefined && c.inFlight + c.others.inFlight >= r.concurrent)
        return { ok: false, refusal: { limit: 'concurrent', rule: r, retryAfterS: 1, current: c.inFlight + c.others.inFlight, max: r.concurrent } };
      if (r.rpm !== undefined) {
        const n = c.requests.sum(sec) + c.others.requests;
        if (n >= r.rpm)
          return { ok: false, refusal: { limit: 'rpm', rule: r, retryAfterS: c.requests.secondsUntilBelow(sec, n - r.rpm + 1), current: n, max: r.rpm } };
      }
      if (r.tpm !== undefined) {
        const n = c.tokens.sum(sec) + c.others.tokens;
        if (n >= r.tpm)
          return { ok: false, refusal: { limit: 'tpm', rule: r, retryAfterS: c.tokens.secondsUntilBelow(sec, n - r.tpm + 1), current: n, max: r.tpm } };
      }
    }
    for (const c of cs) {
      c.requests.add(sec, 1);
      c.inFlight++;
    }
    return { ok: true, ticket: { counters: cs, done: false } };
  }

  /** Shares figures with the other replicas (on the gateway's poll). A failed sync keeps the
   * last figures: limits then hold per replica plus what was last known of the others. */
  sync(share: RateSync): void {
    if (this.counters.size === 0) return;
    const sec = Math.floor(this.now() / 1000);
    const mine = [...this.counters.values()].map((c) => ({ counter: c.id, requests: c.requests.sum(sec), tokens: c.tokens.sum(sec), inFlight: c.inFlight }));
    const others = share(mine);
    for (const c of this.counters.values()) c.others = others.get(c.id) ?? { requests: 0, tokens: 0, inFlight: 0 };
  }

  /** The request finished: free its concurrency slot and count its tokens (input + output). */
  finish(t: RateTicket, tokens: number): void {
    if (t.done) return;
    t.done = true;
    const sec = Math.floor(this.now() / 1000);
    for (const c of t.counters) {
      c.inFlight = Math.max(0, c.inFlight - 1);
      if (tokens > 0) c.tokens.add(sec, tokens);
    }
  }
}

export function rateRules(list: { key?: string; user?: string; team?: string; rpm?: number; tpm?: number; concurrent?: number }[]): RateRule[] {
  return list.map((r) => ({
    scope: r.key !== undefined ? 'key' : r.user !== undefined ? 'user' : 'team',
    value: (r.key ?? r.user ?? r.team) as string,
    rpm: r.rpm,
    tpm: r.tpm,
    concurrent: r.concurrent,
  }));
}
