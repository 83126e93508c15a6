// Reconciliation: per group and day, the gateway's ledger next to Claude Code's own telemetry
// estimate, with differences over a threshold flagged and their likely cause.
import type Database from 'better-sqlite3';
import { IdentityMap } from '../ingest/identities.js';

export type ReconcileBy = 'user' | 'team' | 'model' | 'day';

export interface ReconcileRow {
  group: string | null;
  day: string;
  ledger_usd: number;
  telemetry_usd: number;
  ledger_tokens: number;
  telemetry_tokens: number;
  /** From imported Bedrock invocation logs (priced from the price data), transcripts, CUR. */
  bedrock_logs_usd: number;
  transcripts_usd: number;
  cur_usd: number;
  cloudtrail_calls: number;
  difference_usd: number;
  flagged: boolean;
  likely_cause: string | null;
}

const GROUP: Record<ReconcileBy, { ledger: string; telemetry: string }> = {
  user: { ledger: 'user', telemetry: 'user' },
  team: { ledger: 'team', telemetry: 'team' },
  model: { ledger: 'COALESCE(model_served, model_requested)', telemetry: 'model' },
  day: { ledger: "'all'", telemetry: "'all'" },
};

export function reconcile(db: Database.Database, by: ReconcileBy, since: number, until: number, threshold = { pct: 1, usd: 0.01 }): ReconcileRow[] {
  const day = "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')";
  const g = GROUP[by];
  const ledger = db.prepare(`SELECT ${g.ledger} AS grp, ${day} AS day, SUM(cost_nanousd) AS cost,
      SUM(input_tokens + output_tokens + cache_read_input_tokens + cache_creation_5m_input_tokens + cache_creation_1h_input_tokens) AS tokens
    FROM ledger WHERE ts >= ? AND ts < ? AND endpoint = 'messages' GROUP BY 1, 2`).all(since, until) as { grp: string | null; day: string; cost: number; tokens: number }[];
  const tele = db.prepare(`SELECT ${g.telemetry} AS grp, ${day} AS day, SUM(cost_nanousd) AS cost,
      SUM(input_tokens + output_tokens + cache_read_input_tokens + cache_creation_input_tokens) AS tokens
    FROM telemetry_events WHERE ts >= ? AND ts < ? GROUP BY 1, 2`).all(since, until) as { grp: string | null; day: string; cost: number; tokens: number }[];
  const rows = new Map<string, ReconcileRow>();
  const row = (grp: string | null, d: string) => {
    const k = `${grp ?? ''}\u0000${d}`;
    let r = rows.get(k);
    if (!r) {
      r = { group: grp, day: d, ledger_usd: 0, telemetry_usd: 0, ledger_tokens: 0, telemetry_tokens: 0, bedrock_logs_usd: 0, transcripts_usd: 0, cur_usd: 0, cloudtrail_calls: 0, difference_usd: 0, flagged: false, likely_cause: null };
      rows.set(k, r);
    }
    return r;
  };
  for (const l of ledger) Object.assign(row(l.grp, l.day), { ledger_usd: l.cost / 1e9, ledger_tokens: l.tokens });
  for (const t of tele) Object.assign(row(t.grp, t.day), { telemetry_usd: t.cost / 1e9, telemetry_tokens: t.tokens });
  // Imported records join by the identity map (user, team) or directly (model, day).
  const ids = new IdentityMap(db);
  const ext = db.prepare(`SELECT source, principal, model, ${day} AS day, cost_nanousd, calls FROM external_usage WHERE ts >= ? AND ts < ?`).all(since, until) as { source: string; principal: string | null; model: string | null; day: string; cost_nanousd: number; calls: number }[];
  // Summed in integer nano-USD, converted once: no float drift in the totals.
  const nanos = new Map<ReconcileRow, { bedrock: number; transcript: number; cur: number }>();
  for (const e of ext) {
    const who = ids.resolve(e.principal);
    const grp = by === 'user' ? who?.user ?? (e.principal ? `unmapped:${e.principal}` : null) : by === 'team' ? who?.team ?? null : by === 'model' ? e.model : 'all';
    const r = row(grp, e.day);
    const acc = nanos.get(r) ?? { bedrock: 0, transcript: 0, cur: 0 };
    nanos.set(r, acc);
    if (e.source === 'bedrock_log') acc.bedrock += e.cost_nanousd;
    else if (e.source === 'transcript') acc.transcript += e.cost_nanousd;
    else if (e.source === 'cur') acc.cur += e.cost_nanousd;
    else if (e.source === 'cloudtrail') r.cloudtrail_calls += e.calls;
  }
  for (const [r, acc] of nanos) {
    r.bedrock_logs_usd = acc.bedrock / 1e9;
    r.transcripts_usd = acc.transcript / 1e9;
    r.cur_usd = acc.cur / 1e9;
  }
  for (const r of rows.values()) {
    // Traffic that reached Bedrock without passing tollgate shows up in its logs, not the ledger.
    if (r.bedrock_logs_usd - r.ledger_usd > threshold.usd && r.bedrock_logs_usd > r.ledger_usd * (1 + threshold.pct / 100)) {
      r.flagged = true;
      r.likely_cause = 'traffic bypassing the gateway: Bedrock invocation logs show more than the ledger';
      r.difference_usd = Math.round((r.bedrock_logs_usd - r.ledger_usd) * 1e9) / 1e9;
      continue;
    }
    if (r.cur_usd > 0 && r.bedrock_logs_usd > 0 && Math.abs(r.cur_usd - r.bedrock_logs_usd) > threshold.usd && Math.abs(r.cur_usd - r.bedrock_logs_usd) / r.cur_usd * 100 > threshold.pct) {
      r.flagged = true;
      r.likely_cause = 'the bill (CUR) differs from the logs priced at list: discounts, cache tokens priced differently, or a route surcharge';
      r.difference_usd = Math.round((r.cur_usd - r.bedrock_logs_usd) * 1e9) / 1e9;
      continue;
    }
    r.difference_usd = Math.round((r.telemetry_usd - r.ledger_usd) * 1e9) / 1e9;
    const base = Math.max(r.ledger_usd, r.telemetry_usd);
    r.flagged = Math.abs(r.difference_usd) > threshold.usd && (base === 0 || (Math.abs(r.difference_usd) / base) * 100 > threshold.pct);
    if (r.flagged) {
      r.likely_cause = r.telemetry_tokens > r.ledger_tokens
        ? 'traffic bypassing the gateway: Claude Code reported more tokens than passed through tollgate'
        : r.telemetry_tokens < r.ledger_tokens
          ? 'telemetry missing or delayed (exporter off, interval not yet flushed) for part of the traffic'
          : 'same tokens, different price: client-side estimate drift, cache tokens priced differently, or a route surcharge (Bedrock/Vertex regional 1.1×)';
    }
  }
  return [...rows.values()].sort((a, b) => a.day.localeCompare(b.day) || String(a.group).localeCompare(String(b.group)));
}
