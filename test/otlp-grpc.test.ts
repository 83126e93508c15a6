// OTLP over gRPC, as an OpenTelemetry exporter speaks it (a @grpc/grpc-js client, protobuf
// messages): key authentication, metrics and logs stored as over HTTP, traces accepted, a
// partial success for records it cannot use, and the log line that names an HTTP/2 client on
// the HTTP port. (The real Claude Code CLI exporting over gRPC is in claude-cli.test.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { credentials, makeGenericClientConstructor, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { encodeOtlp } from '../src/ingest/otlp-proto.js';
import { createLogger } from '../src/util/log.js';

const s = (k: string, v: string) => ({ key: k, value: { stringValue: v } });
const id = (b: Buffer) => b;

function exporter(port: number, service: 'metrics.v1.MetricsService' | 'logs.v1.LogsService' | 'trace.v1.TraceService') {
  const Client = makeGenericClientConstructor(
    {
      Export: {
        path: `/opentelemetry.proto.collector.${service}/Export`,
        requestStream: false,
        responseStream: false,
        requestSerialize: id,
        requestDeserialize: id,
        responseSerialize: id,
        responseDeserialize: id,
      },
    },
    service,
  );
  const c = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return {
    send(body: Buffer, key?: string): Promise<Buffer> {
      const md = new Metadata();
      if (key) md.set('authorization', `Bearer ${key}`);
      return new Promise((resolve, reject) =>
        (c as unknown as { Export: (b: Buffer, m: Metadata, cb: (e: ServiceError | null, r?: Buffer) => void) => void }).Export(body, md, (e, r) =>
          e ? reject(e) : resolve(r as Buffer),
        ),
      );
    },
    close: () => c.close(),
  };
}

describe('OTLP/gRPC receiver', () => {
  let fake: FakeAnthropic;
  let t: TestGateway;
  const logs: string[] = [];
  before(async () => {
    fake = await new FakeAnthropic().start();
    t = await startGateway(upstreamYaml(fake.url) + 'telemetry: { grpc_port: 0 }\n', { logger: createLogger({ level: 'warn', sink: (l) => logs.push(l) }) });
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  it('stores metrics and log events under the key, refuses without one, accepts traces', async () => {
    const port = t.gw.grpc!.port;
    assert.ok(port > 0);
    const k = t.key('gina', 'obs');
    const now = Date.now();
    const metrics = encodeOtlp('metrics', {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'claude_code.cost.usage',
                  sum: {
                    aggregationTemporality: 1,
                    dataPoints: [
                      {
                        attributes: [s('session.id', 'G1'), s('model', 'claude-opus-5-5')],
                        startTimeUnixNano: String((now - 1000) * 1e6),
                        timeUnixNano: String(now * 1e6),
                        asDouble: 0.25,
                      },
                    ],
                  },
                },
                // A point whose value is not a number: refused, as a partial success.
                {
                  name: 'claude_code.cost.usage',
                  sum: { aggregationTemporality: 1, dataPoints: [{ attributes: [s('session.id', 'G1')], timeUnixNano: String(now * 1e6), asDouble: NaN }] },
                },
              ],
            },
          ],
        },
      ],
    });
    const m = exporter(port, 'metrics.v1.MetricsService');
    await assert.rejects(m.send(metrics), (e: ServiceError) => e.code === status.UNAUTHENTICATED && /TG_NO_KEY/.test(e.details));
    await assert.rejects(m.send(metrics, 'tg_wrong'), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
    const answer = await m.send(metrics, k.secret);
    // ExportMetricsServiceResponse.partial_success { rejected_data_points: 1, error_message }.
    assert.equal(answer[0], 0x0a);
    assert.equal(answer[2], 0x08);
    assert.equal(answer[3], 1);
    assert.match(answer.toString('latin1'), /or a value/);
    const l = exporter(port, 'logs.v1.LogsService');
    const logsBody = encodeOtlp('logs', {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: String(now * 1e6),
                  body: { stringValue: 'claude_code.api_request' },
                  attributes: [
                    s('event.name', 'api_request'),
                    s('event.sequence', '1'),
                    s('session.id', 'G1'),
                    s('model', 'claude-opus-5-5'),
                    s('cost_usd', '0.25'),
                    s('input_tokens', '100'),
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    assert.equal((await l.send(logsBody, k.secret)).length, 0);
    // The api_request event, as reconcile reads telemetry (per user and day).
    const day = t.gw.ctx.store.telemetryDaily(now - 86_400_000, now + 86_400_000);
    const mine = day.filter((d) => d.user === 'gina');
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.cost, 250_000_000, JSON.stringify(mine));
    const tr = exporter(port, 'trace.v1.TraceService');
    assert.equal((await tr.send(Buffer.alloc(0), k.secret)).length, 0);
    // Not an Export request: INVALID_ARGUMENT, the receiver keeps serving.
    await assert.rejects(m.send(Buffer.from([0xff, 0xff, 0xff]), k.secret), (e: ServiceError) => e.code === status.INVALID_ARGUMENT);
    for (const c of [m, l, tr]) c.close();
    const health = (await (await fetch(`${t.url}/health`)).json()) as { telemetry: { otlp_grpc_port: number } };
    assert.equal(health.telemetry.otlp_grpc_port, port);
  });

  it('logs a warning naming the gRPC port when an HTTP/2 client talks to the HTTP port', async () => {
    const port = Number(new URL(t.url).port);
    await new Promise<void>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
      sock.on('data', () => {});
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
    });
    assert.ok(
      logs.some((x) => /spoke HTTP\/2 to the HTTP port/.test(x) && x.includes(`port ${t.gw.grpc!.port}`)),
      logs.join('\n'),
    );
  });
});
