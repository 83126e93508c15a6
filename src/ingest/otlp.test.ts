import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../store/sqlite/index.js';
import type { KeyRecord } from '../store/types.js';
import { OtlpStore } from './otlp.js';
import { loadCatalog } from '../routing/catalog.js';
import { reconcile } from '../reports/reconcile.js';

const key = { id: 'key_1', user: 'ivy', team: 'ops' } as KeyRecord;
const s = (k: string, v: string) => ({ key: k, value: { stringValue: v } });
const i = (k: string, v: number) => ({ key: k, value: { intValue: String(v) } });

function metrics(temporality: number, points: [number, number, number][]) {
  return {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'claude_code.cost.usage',
                sum: {
                  aggregationTemporality: temporality,
                  dataPoints: points.map(([start, t, v]) => ({
                    attributes: [s('session.id', 'S1'), s('model', 'claude-opus-5-5')],
                    startTimeUnixNano: String(start * 1e6),
                    timeUnixNano: String(t * 1e6),
                    asDouble: v,
                  })),
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

describe('OTLP receiver', () => {
  it('turns cumulative points into deltas and keeps delta points as they are', () => {
    const store = new SqliteStore(':memory:');
    const o = new OtlpStore(store);
    o.metrics(metrics(2, [[1000, 2000, 0.5]]), key);
    o.metrics(metrics(2, [[1000, 3000, 0.75]]), key);
    o.metrics(metrics(2, [[5000, 6000, 0.1]]), key); // a restart: new start time
    o.metrics(metrics(1, [[6000, 7000, 0.2]]), key);
    const rows = store.db.prepare('SELECT ts, delta FROM telemetry_metrics ORDER BY ts').all() as { ts: number; delta: number }[];
    assert.deepEqual(
      rows.map((r) => [r.ts, Math.round(r.delta * 1000) / 1000]),
      [
        [2000, 0.5],
        [3000, 0.25],
        [6000, 0.1],
        [7000, 0.2],
      ],
    );
    store.close();
  });

  it('stores api_request events once (re-sent batches change nothing) and flags what the ledger lacks', () => {
    const store = new SqliteStore(':memory:');
    const o = new OtlpStore(store);
    const now = Date.now();
    const logs = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: String(now * 1e6),
                  body: { stringValue: 'claude_code.api_request' },
                  attributes: [
                    s('session.id', 'S1'),
                    i('event.sequence', 3),
                    s('model', 'claude-opus-5-5'),
                    i('input_tokens', 100),
                    i('output_tokens', 10),
                    i('cache_read_tokens', 0),
                    i('cache_creation_tokens', 0),
                    i('cost_usd_micros', 600),
                  ],
                },
                { timeUnixNano: String(now * 1e6), body: { stringValue: 'claude_code.api_request' }, attributes: [i('event.sequence', 4)] },
                { timeUnixNano: String(now * 1e6), body: { stringValue: 'claude_code.tool_result' }, attributes: [] },
              ],
            },
          ],
        },
      ],
    };
    assert.deepEqual(o.logs(logs, key), { accepted: 1, rejected: 1 });
    o.logs(logs, key);
    assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM telemetry_events').get() as { n: number }).n, 1);
    const { rows } = reconcile(store, loadCatalog(), 'user', now - 60_000, now + 60_000);
    assert.equal(rows.length, 1);
    assert.deepEqual([rows[0]!.group, rows[0]!.telemetry_usd, rows[0]!.ledger_usd, rows[0]!.flagged], ['ivy', 0.0006, 0, false], 'under $0.01: not flagged');
    store.close();
  });
});

describe('OTLP protobuf', () => {
  it('decodes to the same shape as OTLP JSON, 64-bit values as strings', async () => {
    const { decodeOtlp, encodeOtlp } = await import('./otlp-proto.js');
    const json = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'claude_code.token.usage',
                  sum: {
                    aggregationTemporality: 1,
                    dataPoints: [
                      {
                        attributes: [
                          { key: 'session.id', value: { stringValue: 'S9' } },
                          { key: 'n', value: { intValue: '7' } },
                        ],
                        startTimeUnixNano: '1795627548867000000',
                        timeUnixNano: '1795627549315000000',
                        asDouble: 1000,
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const back = decodeOtlp('metrics', encodeOtlp('metrics', json)) as typeof json;
    assert.deepEqual(back, json);
    const store = new SqliteStore(':memory:');
    new OtlpStore(store).metrics(back, key);
    assert.equal((store.db.prepare('SELECT delta FROM telemetry_metrics').get() as { delta: number }).delta, 1000);
    store.close();
  });
});
