// OTLP over gRPC (OTEL_EXPORTER_OTLP_PROTOCOL=grpc, the OpenTelemetry default and port 4317):
// the collector services' Export methods on @grpc/grpc-js, with the same key authentication and
// the same storage as OTLP/HTTP. Messages are decoded by the same protobuf code as
// http/protobuf; gRPC framing, HTTP/2 and compression are grpc-js's.
import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from '@grpc/grpc-js';
import type { GatewayContext } from '../server/context.js';
import { OtlpStore } from './otlp.js';
import { decodeOtlp } from './otlp-proto.js';

type Kind = 'metrics' | 'logs' | 'traces';

const SERVICES: Record<Kind, string> = {
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
};

/** Raw bytes in and out: the messages are decoded (and answered) here, not by grpc-js. */
function service(kind: Kind): ServiceDefinition {
  const id = (b: Buffer) => b;
  return {
    Export: {
      path: SERVICES[kind],
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    },
  };
}

/** An Export response: empty, or a partial_success (field 1) with the count rejected (field 1)
 * and a message (field 2). */
function partialSuccess(rejected: number, message: string): Buffer {
  if (!rejected) return Buffer.alloc(0);
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 127) {
      out.push((n & 127) | 128);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  };
  const msg = Buffer.from(message);
  const inner = Buffer.from([0x08, ...varint(rejected), 0x12, ...varint(msg.length), ...msg]);
  return Buffer.from([0x0a, ...varint(inner.length), ...inner]);
}

export class OtlpGrpcReceiver {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  port = 0;

  constructor(private readonly ctx: GatewayContext) {
    for (const kind of Object.keys(SERVICES) as Kind[]) {
      this.server.addService(service(kind), {
        Export: (call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => void this.export(kind, call, done),
      });
    }
  }

  private async export(kind: Kind, call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>): Promise<void> {
    const headers: Record<string, string> = {};
    const auth = call.metadata.get('authorization')[0];
    if (typeof auth === 'string') headers.authorization = auth;
    const xk = call.metadata.get('x-api-key')[0];
    if (typeof xk === 'string') headers['x-api-key'] = xk;
    const who = await this.ctx.keys.authenticate(headers);
    if (!who.ok) {
      this.ctx.logger.warn('OTLP/gRPC: refused credentials', { kind, code: who.code });
      return done({
        code: status.UNAUTHENTICATED,
        details: `${who.code}: telemetry needs a virtual key or the signed-in bearer: OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <key>"`,
        metadata: new Metadata(),
      });
    }
    // Traces carry nothing the ledger needs: accepted and dropped, as over HTTP.
    if (kind === 'traces') return done(null, Buffer.alloc(0));
    let body: unknown;
    try {
      body = decodeOtlp(kind, call.request);
    } catch (err) {
      return done({ code: status.INVALID_ARGUMENT, details: `OTLP ${kind}: not a valid Export request (${(err as Error).message})` });
    }
    try {
      const sink = new OtlpStore(this.ctx.store);
      const r = kind === 'logs' ? sink.logs(body, who.key) : sink.metrics(body, who.key);
      done(null, partialSuccess(r.rejected, 'records without session.id or a value'));
    } catch (err) {
      this.ctx.logger.error('OTLP/gRPC: storing telemetry failed', { kind, error: (err as Error).message });
      done({ code: status.UNAVAILABLE, details: 'the store could not take the records; retry' });
    }
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
        if (err) return reject(new Error(`telemetry.grpc_port ${port}: ${err.message}`));
        this.port = bound;
        resolve(bound);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.tryShutdown(() => resolve());
      // Exporters hold their streams open: do not wait for them for long.
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000).unref();
    });
  }
}
