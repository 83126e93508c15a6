// Usage from outside the gateway on SQLite: Claude Code telemetry (OTLP), imported records
// (transcripts, invocation logs, CloudTrail, CUR) and the identity map that joins them to people.
import type Database from 'better-sqlite3';
import {
  EXTERNAL_SOURCES,
  type DailyUsage,
  type ExternalSource,
  type ExternalUsage,
  type ExternalUsageQuery,
  type ExternalUsageRow,
  type ExternalWriteResult,
  type Identity,
  type TelemetryEvent,
  type TelemetryPoint,
} from '../types.js';

const DAY = "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')";

export class ExternalTables {
  private readonly insertEvent: Database.Statement;
  private readonly getCumulative: Database.Statement;
  private readonly setCumulative: Database.Statement;
  private readonly insertPoint: Database.Statement;
  private readonly insertOnce: Database.Statement;
  private readonly replaceSnapshot: Database.Statement;
  private readonly exists: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.insertEvent =
      db.prepare(`INSERT OR IGNORE INTO telemetry_events (id, ts, key_id, user, team, session_id, otel_user_id, model, input_tokens, output_tokens,
      cache_read_input_tokens, cache_creation_input_tokens, cost_nanousd, duration_ms) VALUES (@id, @ts, @key_id, @user, @team, @session_id, @otel_user_id, @model,
      @input_tokens, @output_tokens, @cache_read_input_tokens, @cache_creation_input_tokens, @cost_nanousd, @duration_ms)`);
    this.getCumulative = db.prepare('SELECT start_ts, value FROM telemetry_cumulative WHERE series = ?');
    this.setCumulative = db.prepare('INSERT OR REPLACE INTO telemetry_cumulative (series, start_ts, value) VALUES (?, ?, ?)');
    this.insertPoint = db.prepare(
      'INSERT OR IGNORE INTO telemetry_metrics (series, ts, key_id, user, team, session_id, model, metric, kind, delta) VALUES (?,?,?,?,?,?,?,?,?,?)',
    );
    const cols = `(id, source, ts, principal, session_id, model, region, input_tokens, output_tokens,
      cache_read_input_tokens, cache_creation_input_tokens, calls, usage_type, cost_nanousd, priced)
      VALUES (@id, @source, @ts, @principal, @session_id, @model, @region, @input_tokens, @output_tokens, @cache_read_input_tokens,
      @cache_creation_input_tokens, @calls, @usage_type, @cost_nanousd, @priced)`;
    this.insertOnce = db.prepare(`INSERT OR IGNORE INTO external_usage ${cols}`);
    // Transcripts: the final snapshot of a response wins (Claude Code writes one line per
    // content block, older versions with growing output counts).
    this.replaceSnapshot = db.prepare(`INSERT INTO external_usage ${cols} ON CONFLICT(id) DO UPDATE SET
      input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, cache_read_input_tokens = excluded.cache_read_input_tokens,
      cache_creation_input_tokens = excluded.cache_creation_input_tokens, cost_nanousd = excluded.cost_nanousd, priced = excluded.priced, model = excluded.model
      WHERE input_tokens != excluded.input_tokens OR output_tokens != excluded.output_tokens OR cache_read_input_tokens != excluded.cache_read_input_tokens
        OR cache_creation_input_tokens != excluded.cache_creation_input_tokens OR cost_nanousd != excluded.cost_nanousd`);
    this.exists = db.prepare('SELECT 1 FROM external_usage WHERE id = ?').pluck();
  }

  recordEvents(events: TelemetryEvent[]): void {
    this.db
      .transaction(() => {
        for (const e of events) this.insertEvent.run(e);
      })
      .immediate();
  }

  recordPoints(points: TelemetryPoint[]): void {
    this.db
      .transaction(() => {
        for (const p of points) {
          let delta = p.value;
          if (p.cumulative) {
            const prev = this.getCumulative.get(p.series) as { start_ts: number; value: number } | undefined;
            delta = prev && prev.start_ts === p.start_ts ? p.value - prev.value : p.value;
            this.setCumulative.run(p.series, p.start_ts, p.value);
          }
          this.insertPoint.run(p.series, p.ts, p.key_id, p.user, p.team, p.session_id, p.model, p.metric, p.kind, delta);
        }
      })
      .immediate();
  }

  write(rows: ExternalUsage[]): ExternalWriteResult {
    const r: ExternalWriteResult = { imported: 0, updated: 0, duplicates: 0 };
    this.db
      .transaction(() => {
        for (const x of rows) {
          const params = { ...x, priced: x.priced ? 1 : 0 };
          if (x.source === 'transcript') {
            const had = this.exists.get(x.id) !== undefined;
            const changes = this.replaceSnapshot.run(params).changes;
            if (!had) r.imported++;
            else if (changes) r.updated++;
            else r.duplicates++;
          } else if (this.insertOnce.run(params).changes) r.imported++;
          else r.duplicates++;
        }
      })
      .immediate();
    return r;
  }

  *iterate(q: ExternalUsageQuery): IterableIterator<ExternalUsageRow> {
    if (!q.sources.length) return;
    const rows = this.db
      .prepare(
        `SELECT e.*,
        CASE WHEN e.source = 'bedrock_log' AND EXISTS (SELECT 1 FROM ledger l WHERE l.upstream_request_id = substr(e.id, 9)) THEN 1 ELSE 0 END AS matched_ledger
      FROM external_usage e WHERE e.source IN (${q.sources.map(() => '?').join(',')}) AND e.ts >= ? AND e.ts < ? ORDER BY e.ts, e.id`,
      )
      .iterate(...q.sources, q.since ?? 0, q.until ?? Number.MAX_SAFE_INTEGER) as IterableIterator<Record<string, unknown>>;
    for (const r of rows) yield { ...(r as unknown as ExternalUsage), priced: r.priced === 1, matched_ledger: r.matched_ledger === 1 };
  }

  present(): Record<ExternalSource | 'telemetry', boolean> {
    const any = (sql: string, ...p: unknown[]) =>
      this.db
        .prepare(sql)
        .pluck()
        .get(...p) !== undefined;
    const out = { telemetry: any('SELECT 1 FROM telemetry_events LIMIT 1') } as Record<ExternalSource | 'telemetry', boolean>;
    for (const s of EXTERNAL_SOURCES) out[s] = any('SELECT 1 FROM external_usage WHERE source = ? LIMIT 1', s);
    return out;
  }

  telemetryDaily(since: number, until: number): DailyUsage[] {
    return this.db
      .prepare(
        `SELECT user, team, model, ${DAY} AS day, SUM(cost_nanousd) AS cost,
        SUM(input_tokens + output_tokens + cache_read_input_tokens + cache_creation_input_tokens) AS tokens
      FROM telemetry_events WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3, 4`,
      )
      .all(since, until) as DailyUsage[];
  }

  upsertIdentity(i: Identity, at: number): void {
    this.db.prepare('INSERT OR REPLACE INTO identities (external_id, user, team, created_at) VALUES (?, ?, ?, ?)').run(i.external_id, i.user, i.team, at);
  }

  removeIdentity(externalId: string): boolean {
    return this.db.prepare('DELETE FROM identities WHERE external_id = ?').run(externalId).changes > 0;
  }

  listIdentities(): Identity[] {
    return this.db.prepare('SELECT external_id, user, team FROM identities ORDER BY user, external_id').all() as Identity[];
  }
}
