// OTLP receiver for Claude Code's own telemetry (OTEL_EXPORTER_OTLP_ENDPOINT pointed at
// tollgate, OTEL_EXPORTER_OTLP_PROTOCOL=http/json, the virtual key in OTEL_EXPORTER_OTLP_HEADERS).
// Stores the claude_code.api_request events and the token/cost metrics (delta and cumulative
// temporality) under the key's user and team, to reconcile Claude Code's client-side estimate
// with the gateway's ledger.
import type { KeyRecord, Store, TelemetryEvent, TelemetryPoint } from '../store/types.js';

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type Attr = { key: string; value: AnyValue };

function attrs(list: Attr[] | undefined): Map<string, string | number | boolean> {
  const m = new Map<string, string | number | boolean>();
  for (const a of list ?? []) {
    const v = a.value ?? {};
    const x = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue;
    if (x !== undefined) m.set(a.key, x);
  }
  return m;
}

const num = (v: unknown): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : 0;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const nanoTs = (v: unknown): number => Math.floor(num(v) / 1e6);

export interface OtlpResult {
  accepted: number;
  rejected: number;
}

/** Metrics kept: the ones that carry usage. */
const METRICS = new Set(['claude_code.cost.usage', 'claude_code.token.usage']);

export class OtlpStore {
  constructor(private readonly store: Store) {}

  logs(body: unknown, key: KeyRecord): OtlpResult {
    let accepted = 0;
    let rejected = 0;
    const events: TelemetryEvent[] = [];
    {
      for (const rl of (body as { resourceLogs?: unknown[] }).resourceLogs ?? []) {
        for (const sl of (rl as { scopeLogs?: unknown[] }).scopeLogs ?? []) {
          for (const r of (sl as { logRecords?: { body?: AnyValue; attributes?: Attr[]; timeUnixNano?: string }[] }).logRecords ?? []) {
            const name = r.body?.stringValue;
            if (name !== 'claude_code.api_request') continue;
            const a = attrs(r.attributes);
            const session = str(a.get('session.id'));
            const seq = a.get('event.sequence');
            if (!session || seq === undefined) {
              rejected++;
              continue;
            }
            // Claude Code reports micro-dollars when it can; else a float of dollars.
            const micros = a.get('cost_usd_micros');
            const cost = micros !== undefined ? Math.round(num(micros) * 1000) : Math.round(num(a.get('cost_usd')) * 1e9);
            events.push({
              id: `${session}:${String(seq)}`,
              ts: nanoTs(r.timeUnixNano),
              key_id: key.id,
              user: key.user,
              team: key.team,
              session_id: session,
              otel_user_id: str(a.get('user.id')),
              model: str(a.get('model')),
              input_tokens: num(a.get('input_tokens')),
              output_tokens: num(a.get('output_tokens')),
              cache_read_input_tokens: num(a.get('cache_read_tokens')),
              cache_creation_input_tokens: num(a.get('cache_creation_tokens')),
              cost_nanousd: cost,
              duration_ms: num(a.get('duration_ms')),
            });
            accepted++;
          }
        }
      }
    }
    this.store.recordTelemetryEvents(events);
    return { accepted, rejected };
  }

  metrics(body: unknown, key: KeyRecord): OtlpResult {
    let accepted = 0;
    let rejected = 0;
    const points: TelemetryPoint[] = [];
    {
      for (const rm of (body as { resourceMetrics?: unknown[] }).resourceMetrics ?? []) {
        for (const sm of (rm as { scopeMetrics?: unknown[] }).scopeMetrics ?? []) {
          for (const m of (sm as { metrics?: { name?: string; sum?: { aggregationTemporality?: number; dataPoints?: unknown[] } }[] }).metrics ?? []) {
            if (!m.name || !METRICS.has(m.name) || !m.sum) continue;
            // OTLP: 1 = delta, 2 = cumulative (a running total since start_time).
            const cumulative = m.sum.aggregationTemporality === 2;
            for (const p of m.sum.dataPoints ?? []) {
              const dp = p as { attributes?: Attr[]; startTimeUnixNano?: string; timeUnixNano?: string; asDouble?: number; asInt?: string | number };
              const a = attrs(dp.attributes);
              const session = str(a.get('session.id'));
              const value = dp.asDouble ?? num(dp.asInt);
              if (!Number.isFinite(value)) {
                rejected++;
                continue;
              }
              const kind = str(a.get('type'));
              const series = [key.id, m.name, session, str(a.get('model')), kind, str(a.get('query_source')), str(a.get('user.id'))].join('|');
              points.push({
                series,
                ts: nanoTs(dp.timeUnixNano),
                key_id: key.id,
                user: key.user,
                team: key.team,
                session_id: session,
                model: str(a.get('model')),
                metric: m.name,
                kind,
                value,
                cumulative,
                start_ts: nanoTs(dp.startTimeUnixNano),
              });
              accepted++;
            }
          }
        }
      }
    }
    this.store.recordTelemetryPoints(points);
    return { accepted, rejected };
  }
}
