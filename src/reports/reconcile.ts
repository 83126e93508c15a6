// Reconciliation: per group and day, the gateway's ledger next to every other record of the
// same usage — Claude Code's telemetry and transcripts, Bedrock invocation logs, CloudTrail and
// the bill (CUR) — with every difference over a threshold flagged and its likely cause.
//
// Records that describe the same request are matched by id before anything is compared: an
// invocation log whose requestId is a ledger line's upstream_request_id is the gateway's own
// call, never "bypass". Only sources that hold any record at all are compared, so a source that
// was never set up does not flag every row.
import { IdentityMap } from '../ingest/identities.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { Store } from '../store/types.js';

export type ReconcileBy = 'user' | 'team' | 'model' | 'day';

export type ReconcileSource = 'telemetry' | 'bedrock_logs' | 'transcripts' | 'cur' | 'cloudtrail';

export interface ReconcileRow {
  group: string | null;
  day: string;
  ledger_usd: number;
  telemetry_usd: number;
  ledger_tokens: number;
  telemetry_tokens: number;
  /** From imported Bedrock invocation logs (priced from the price data), transcripts, CUR. */
  bedrock_logs_usd: number;
  /** The part of bedrock_logs_usd with no ledger line (matched by request id): bypass. */
  bypass_usd: number;
  transcripts_usd: number;
  cur_usd: number;
  cloudtrail_calls: number;
  /** The difference behind the first flag (0 when none). */
  difference_usd: number;
  flagged: boolean;
  /** Every flag's cause, most certain first; likely_cause is the first. */
  flags: string[];
  likely_cause: string | null;
}

export interface ReconcileResult {
  rows: ReconcileRow[];
  /** Sources with no record at all in the store: not compared. */
  notSetUp: ReconcileSource[];
}

interface Acc {
  ledger: number;
  telemetry: number;
  logs: number;
  bypass: number;
  transcripts: number;
  cur: number;
}

const usd = (nano: number) => nano / 1e9;

export function reconcile(
  store: Store,
  catalog: ModelCatalog,
  by: ReconcileBy,
  since: number,
  until: number,
  threshold = { pct: 1, usd: 0.01 },
): ReconcileResult {
  // Model ids in any form (catalog ids, first-party, Bedrock profiles) group as one.
  const canonical = (m: string | null) => (m ? (catalog.resolve(m)?.id ?? m) : null);
  const has = store.sourcesPresent();
  const present = { telemetry: has.telemetry, bedrock_logs: has.bedrock_log, transcripts: has.transcript, cur: has.cur, cloudtrail: has.cloudtrail };

  const rows = new Map<string, ReconcileRow>();
  const nanos = new Map<ReconcileRow, Acc>();
  const row = (grp: string | null, d: string): { r: ReconcileRow; acc: Acc } => {
    const k = `${grp ?? ''}\u0000${d}`;
    let r = rows.get(k);
    if (!r) {
      r = {
        group: grp,
        day: d,
        ledger_usd: 0,
        telemetry_usd: 0,
        ledger_tokens: 0,
        telemetry_tokens: 0,
        bedrock_logs_usd: 0,
        bypass_usd: 0,
        transcripts_usd: 0,
        cur_usd: 0,
        cloudtrail_calls: 0,
        difference_usd: 0,
        flagged: false,
        flags: [],
        likely_cause: null,
      };
      rows.set(k, r);
      nanos.set(r, { ledger: 0, telemetry: 0, logs: 0, bypass: 0, transcripts: 0, cur: 0 });
    }
    return { r, acc: nanos.get(r) as Acc };
  };
  const groupOf = (user: string | null, team: string | null, model: string | null) =>
    by === 'user' ? user : by === 'team' ? team : by === 'model' ? canonical(model) : 'all';

  const ledger = store.ledgerDaily(since, until);
  for (const l of ledger) {
    const { r, acc } = row(groupOf(l.user, l.team, l.model), l.day);
    acc.ledger += l.cost;
    r.ledger_tokens += l.tokens;
  }
  const tele = store.telemetryDaily(since, until);
  for (const t of tele) {
    const { r, acc } = row(groupOf(t.user, t.team, t.model), t.day);
    acc.telemetry += t.cost;
    r.telemetry_tokens += t.tokens;
  }

  // Imported records join people by the identity map. An invocation log is the gateway's own
  // call when a ledger line carries its request id.
  const ids = new IdentityMap(store.listIdentities());
  const ext = store.iterateExternalUsage({ sources: ['bedrock_log', 'transcript', 'cur', 'cloudtrail'], since, until });
  for (const e of ext) {
    const who = ids.resolve(e.principal);
    const grp =
      by === 'user'
        ? (who?.user ?? (e.principal ? `unmapped:${e.principal}` : null))
        : by === 'team'
          ? (who?.team ?? null)
          : by === 'model'
            ? canonical(e.model)
            : 'all';
    const { r, acc } = row(grp, new Date(e.ts).toISOString().slice(0, 10));
    if (e.source === 'bedrock_log') {
      acc.logs += e.cost_nanousd;
      if (!e.matched_ledger) acc.bypass += e.cost_nanousd;
    } else if (e.source === 'transcript') acc.transcripts += e.cost_nanousd;
    else if (e.source === 'cur') acc.cur += e.cost_nanousd;
    else if (e.source === 'cloudtrail') r.cloudtrail_calls += e.calls;
  }

  const over = (diff: number, base: number) => Math.abs(diff) > threshold.usd && (base === 0 || (Math.abs(diff) / base) * 100 > threshold.pct);
  for (const [r, a] of nanos) {
    // Summed in integer nano-USD, converted once: no float drift in the totals.
    r.ledger_usd = usd(a.ledger);
    r.telemetry_usd = usd(a.telemetry);
    r.bedrock_logs_usd = usd(a.logs);
    r.bypass_usd = usd(a.bypass);
    r.transcripts_usd = usd(a.transcripts);
    r.cur_usd = usd(a.cur);
    const flag = (diffNano: number, cause: string) => {
      if (r.flags.length === 0) r.difference_usd = usd(diffNano);
      r.flags.push(cause);
    };
    if (present.bedrock_logs && over(usd(a.bypass), usd(a.logs))) {
      flag(a.bypass, `traffic bypassing the gateway: $${usd(a.bypass)} in Bedrock invocation logs with no ledger line (matched by request id)`);
    }
    if (present.cur && present.bedrock_logs && (a.cur > 0 || a.logs > 0) && over(usd(a.cur - a.logs), usd(Math.max(a.cur, a.logs)))) {
      flag(
        a.cur - a.logs,
        'the bill (CUR) differs from the invocation logs priced at list: discounts, credits, cache tokens priced differently, or a route surcharge',
      );
    }
    if (present.transcripts && a.transcripts > a.ledger && over(usd(a.transcripts - a.ledger), usd(a.transcripts))) {
      flag(a.transcripts - a.ledger, 'Claude Code transcripts show more than the ledger: usage outside the gateway (a direct API key, another route)');
    }
    if (present.telemetry && over(usd(a.telemetry - a.ledger), usd(Math.max(a.ledger, a.telemetry)))) {
      flag(
        a.telemetry - a.ledger,
        r.telemetry_tokens > r.ledger_tokens
          ? 'traffic bypassing the gateway: Claude Code reported more tokens than passed through tollgate'
          : r.telemetry_tokens < r.ledger_tokens
            ? 'telemetry missing or delayed (exporter off, interval not yet flushed) for part of the traffic'
            : 'same tokens, different price: client-side estimate drift, cache tokens priced differently, or a route surcharge (Bedrock/Vertex regional 1.1×)',
      );
    }
    r.flagged = r.flags.length > 0;
    r.likely_cause = r.flags[0] ?? null;
  }
  const notSetUp = (Object.keys(present) as ReconcileSource[]).filter((k) => !present[k]);
  return { rows: [...rows.values()].sort((a, b) => a.day.localeCompare(b.day) || String(a.group).localeCompare(String(b.group))), notSetUp };
}
