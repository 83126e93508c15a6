// Alert delivery: Slack-compatible ({"text": …}) or generic JSON webhooks, per destination and
// event type. Delivery runs off the request path, retries with backoff, and logs failures.
import { request } from 'undici';
import type { Config } from '../config/schema.js';
import type { RouterEvent } from '../routing/router.js';
import type { Logger } from '../util/log.js';

export type AlertEventType = 'budget_threshold' | 'budget_exhausted' | 'failover' | 'cooldown' | 'unpriced_model';

export interface Alert {
  event: AlertEventType;
  /** One line for humans (Slack). */
  text: string;
  /** The figures, for machines (generic webhooks). */
  data: Record<string, unknown>;
}

/** A routing event (failover, cooldown) as an alert. */
export function routerAlert(e: RouterEvent): Alert {
  return e.kind === 'failover'
    ? { event: 'failover', text: `tollgate: failover from ${e.from} to ${e.to} (${e.reason})${e.user ? ` for ${e.user}` : ''}`, data: { ...e } }
    : {
        event: 'cooldown',
        text: `tollgate: upstream ${e.upstream} is in cooldown after ${e.failures} consecutive failures, until ${new Date(e.until).toISOString()}`,
        data: { ...e, until: new Date(e.until).toISOString() },
      };
}

export class AlertDispatcher {
  /** Deliveries still being attempted (tests wait on it). */
  readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly destinations: Config['alerts'],
    private readonly logger: Logger,
    private readonly retry = { attempts: 4, baseMs: 500 },
  ) {}

  send(a: Alert): void {
    for (const d of this.destinations) {
      if (!d.events.includes(a.event)) continue;
      const body = d.type === 'slack' ? { text: a.text } : { event: a.event, text: a.text, ...a.data, sent_at: new Date().toISOString() };
      const p = this.deliver(d.url, JSON.stringify(body), a.event).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  private async deliver(url: string, body: string, event: string): Promise<void> {
    const host = new URL(url).host;
    for (let i = 0; i < this.retry.attempts; i++) {
      try {
        const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, headersTimeout: 10_000, bodyTimeout: 10_000 });
        await res.body.dump();
        if (res.statusCode < 300) return;
        if (res.statusCode < 500 && res.statusCode !== 429) {
          this.logger.error('alert refused by destination', { host, event, status: res.statusCode });
          return;
        }
        this.logger.warn('alert delivery failed, will retry', { host, event, status: res.statusCode, attempt: i + 1 });
      } catch (err) {
        this.logger.warn('alert delivery failed, will retry', { host, event, error: (err as Error).message, attempt: i + 1 });
      }
      await new Promise((r) => setTimeout(r, this.retry.baseMs * 4 ** i));
    }
    this.logger.error('alert not delivered after retries', { host, event });
  }

  async drain(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
