// `tollgate doctor --probe`: one minimal request through the configured endpoint, to prove the
// path works: latency, the model that answered, and (through tollgate) the route that served it.
import { execSync } from 'node:child_process';
import { request } from 'undici';
import type { DoctorReport } from './doctor.js';
import type { ClaudeConfig } from './settings.js';

export interface ProbeResult {
  ok: boolean;
  status: number | null;
  latency_ms: number;
  model: string | null;
  route: string | null;
  upstream: string | null;
  error: string | null;
}

export async function probe(cfg: ClaudeConfig, report: DoctorReport, timeoutMs = 30_000): Promise<ProbeResult> {
  const t0 = Date.now();
  const done = (p: Partial<ProbeResult>): ProbeResult => ({
    ok: false,
    status: null,
    latency_ms: Date.now() - t0,
    model: null,
    route: null,
    upstream: null,
    error: null,
    ...p,
  });
  if (report.provider !== 'anthropic') {
    return done({
      error: `--probe speaks the Anthropic API (direct or through tollgate); for ${report.provider} run \`claude -p hi\`, or route through tollgate and probe that`,
    });
  }
  const env = (k: string) => cfg.env.get(k)?.value;
  let token = env('ANTHROPIC_AUTH_TOKEN');
  let apiKey = token ? undefined : env('ANTHROPIC_API_KEY');
  if (!token && !apiKey && cfg.apiKeyHelper) {
    try {
      apiKey = execSync(cfg.apiKeyHelper.value, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      token = apiKey;
    } catch (err) {
      return done({ error: `apiKeyHelper failed: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  if (!token && !apiKey) return done({ error: 'no credential to probe with (a /login subscription cannot be probed from here)' });
  const model = report.models.find((m) => m.alias === 'haiku')?.resolves ?? 'claude-haiku-4-5';
  try {
    const res = await request(report.endpoint.replace(/\/+$/, '') + '/v1/messages', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(apiKey ? { 'x-api-key': apiKey } : {}),
      },
      body: JSON.stringify({ model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    let j: { model?: string; error?: { message?: string } } = {};
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      /* not JSON */
    }
    const h = (k: string) => (typeof res.headers[k] === 'string' ? (res.headers[k] as string) : null);
    return done({
      ok: res.statusCode < 400,
      status: res.statusCode,
      model: j.model ?? null,
      route: h('x-tollgate-route'),
      upstream: h('x-tollgate-upstream'),
      error: res.statusCode >= 400 ? (j.error?.message ?? `HTTP ${res.statusCode}`) : null,
    });
  } catch (err) {
    const e = err as { cause?: { code?: string }; code?: string; message: string };
    return done({ error: `cannot reach ${report.endpoint}: ${e.cause?.code ?? e.code ?? e.message} (a stale or wrong base URL?)` });
  }
}

/** With telemetry over OTLP/gRPC aimed at the gateway's host: asks the gateway (/health) which
 * gRPC port it serves, and says so when it is not the one Claude Code exports to. */
export async function probeTelemetry(cfg: ClaudeConfig, report: DoctorReport): Promise<DoctorReport['findings'][number] | null> {
  const f = report.findings.find((x) => x.code === 'TELEMETRY_GRPC_PORT');
  const target = cfg.env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value;
  if (!f || !target) return null;
  let served: number | null;
  try {
    const res = await request(new URL('/health', report.endpoint), { headersTimeout: 10_000, bodyTimeout: 10_000 });
    served = ((await res.body.json()) as { telemetry?: { otlp_grpc_port?: number | null } }).telemetry?.otlp_grpc_port ?? null;
  } catch (err) {
    return {
      severity: 'warning',
      code: 'TELEMETRY_GRPC_UNCHECKED',
      message: `could not ask the gateway which OTLP/gRPC port it serves: ${(err as Error).message}`,
      fix: f.fix,
    };
  }
  const port = Number(new URL(target).port || 80);
  if (served === port)
    return { severity: 'info', code: 'TELEMETRY_GRPC_SERVED', message: `the gateway serves OTLP/gRPC on port ${port}, where telemetry goes`, fix: '' };
  return {
    severity: 'error',
    code: 'TELEMETRY_GRPC_NOT_SERVED',
    message: `telemetry goes over OTLP/gRPC to port ${port}, but the gateway ${served === null ? 'serves no OTLP/gRPC (telemetry.grpc_port is unset)' : `serves it on port ${served}`}: every metric and event is lost`,
    fix: served === null ? f.fix : `export OTEL_EXPORTER_OTLP_ENDPOINT=${new URL(target).protocol}//${new URL(target).hostname}:${served}`,
  };
}
