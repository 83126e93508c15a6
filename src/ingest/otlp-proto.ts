// OTLP/HTTP protobuf: the subset of the OpenTelemetry proto schema (opentelemetry-proto, Apache
// 2.0) that the receiver reads — metrics Sum points and log records — decoded with protobufjs
// into the same shape as OTLP/HTTP JSON (camelCase fields, 64-bit integers as strings).
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlp;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric { string name = 1; string description = 2; string unit = 3; oneof data { Gauge gauge = 5; Sum sum = 7; } }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; oneof value { double as_double = 4; sfixed64 as_int = 6; } uint32 flags = 8; }

message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord { fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11; int32 severity_number = 2; string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6; uint32 dropped_attributes_count = 7; fixed32 flags = 8; bytes trace_id = 9; bytes span_id = 10; string event_name = 12; }
`;

const root = protobuf.parse(SCHEMA, { keepCase: false }).root;
const Metrics = root.lookupType('otlp.ExportMetricsServiceRequest');
const Logs = root.lookupType('otlp.ExportLogsServiceRequest');

export function decodeOtlp(kind: 'metrics' | 'logs', buf: Buffer): unknown {
  const t = kind === 'metrics' ? Metrics : Logs;
  return t.toObject(t.decode(buf), { longs: String, enums: Number, defaults: false, oneofs: false });
}

/** For tests: encode a JSON-shaped request as protobuf. */
export function encodeOtlp(kind: 'metrics' | 'logs', obj: unknown): Buffer {
  const t = kind === 'metrics' ? Metrics : Logs;
  return Buffer.from(t.encode(t.fromObject(obj as Record<string, unknown>)).finish());
}
