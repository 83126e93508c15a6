// HTTP side of the OTLP receiver: /v1/metrics and /v1/logs (http/json and http/protobuf),
// authenticated by virtual key.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeRequestBody, readBody } from '../server/body.js';
import type { GatewayContext } from '../server/context.js';
import { GatewayError } from '../server/errors.js';
import { headerValue } from '../server/headers.js';
import { OtlpStore } from './otlp.js';
import { decodeOtlp } from './otlp-proto.js';

const LIMIT = 16 * 1024 * 1024;

export async function handleOtlp(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, kind: 'metrics' | 'logs' | 'traces'): Promise<void> {
  if (req.method !== 'POST') throw new GatewayError('TG_METHOD', `${req.method} /v1/${kind}: use POST`, { allow: 'POST' });
  const auth = await ctx.keys.authenticate(req.headers);
  if (!auth.ok)
    throw new GatewayError(auth.code, 'telemetry needs the signed-in bearer or a virtual key: OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <key>"');
  const type = (headerValue(req.headers, 'content-type') ?? '').toLowerCase();
  const proto = type.startsWith('application/x-protobuf');
  if (!proto && !type.startsWith('application/json')) {
    throw new GatewayError(
      'TG_UNSUPPORTED_ENCODING',
      `OTLP ${type || 'without a content type'}: send http/json or http/protobuf here (OTEL_EXPORTER_OTLP_PROTOCOL); for grpc, point the exporter at telemetry.grpc_port`,
    );
  }
  const raw = await readBody(req, LIMIT);
  if (kind === 'traces') {
    const out = JSON.stringify({ partialSuccess: {} });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
    return;
  }
  let body: unknown;
  try {
    const decoded = decodeRequestBody(raw, headerValue(req.headers, 'content-encoding'), LIMIT);
    body = proto ? decodeOtlp(kind, decoded) : JSON.parse(decoded.toString('utf8'));
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('TG_BAD_JSON', `OTLP ${kind} body is not valid ${proto ? 'protobuf' : 'JSON'}`);
  }
  const sink = new OtlpStore(ctx.store);
  const r = kind === 'logs' ? sink.logs(body, auth.key) : sink.metrics(body, auth.key);
  // OTLP/HTTP: 200 with a partial-success object naming what was refused.
  const out = JSON.stringify({
    partialSuccess: r.rejected
      ? { [kind === 'logs' ? 'rejectedLogRecords' : 'rejectedDataPoints']: r.rejected, errorMessage: 'records without session.id or a value' }
      : {},
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);
}
