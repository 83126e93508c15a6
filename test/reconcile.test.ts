// Reconcile on a fixture month a finance team would recognise: the gateway's own Bedrock calls
// (in the ledger and in the invocation logs, matched by request id), an engineer who also goes
// straight to Bedrock, a bill (CUR) line $0.02 off the logs, and Claude Code transcripts.
// Exactly the bypass and the CUR difference are flagged, nothing else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PriceBook } from '../src/metering/prices.js';
import { emptyUsage } from '../src/metering/usage.js';
import { loadCatalog } from '../src/routing/catalog.js';
import { storeFor, storeLocation } from './helpers/gateway.js';
import type { LedgerLine } from '../src/store/types.js';
import { tollgate } from './helpers/cli.js';

const GATEWAY_ROLE = 'arn:aws:sts::111122223333:assumed-role/tollgate-gateway/i-0abc';
const CAROL = 'arn:aws:sts::111122223333:assumed-role/Developer/carol@example.com';
const MODEL = 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0';
const book = PriceBook.load(loadCatalog());
// Each Bedrock call: 100k input, 2k output tokens of Sonnet 4.5 on an eu. profile (1.1× list).
const usage = { ...emptyUsage(), input_tokens: 100_000, output_tokens: 2_000 };
const callNano = book.cost('claude-sonnet-4-5', usage, { route: 'bedrock', endpointType: 'geo' }).nanoUsd;

let dir: string;
let cfg: string;

function ledgerLine(id: string, ts: string, user: string, requestId: string | null, route: 'bedrock' | 'anthropic'): LedgerLine {
  const cost = route === 'bedrock' ? callNano : book.cost('claude-sonnet-4-5', usage).nanoUsd;
  return {
    id,
    ts: Date.parse(ts),
    key_id: `key_${user}`,
    user,
    team: 'web',
    project: null,
    session_id: `s-${user}`,
    endpoint: 'messages',
    model_requested: 'claude-sonnet-4-5',
    model_served: 'claude-sonnet-4-5',
    upstream: route,
    route,
    region: route === 'bedrock' ? 'eu-west-1' : null,
    http_status: 200,
    error_type: null,
    error_code: null,
    stop_reason: 'end_turn',
    streamed: true,
    ...usage,
    cost_nanousd: cost,
    priced: true,
    ttfb_ms: 1,
    duration_ms: 2,
    client_aborted: false,
    upstream_request_id: requestId,
    message_id: `msg_${id}`,
    upstream_model: route === 'bedrock' ? MODEL : null,
    endpoint_type: route === 'bedrock' ? 'geo' : null,
    attempts: [],
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-reconcile-'));
  cfg = join(dir, 'c.yaml');
  // SQLite, or PostgreSQL when the suite runs on it (TOLLGATE_TEST_STORE=postgres).
  writeFileSync(cfg, `store: { ${await storeLocation(dir, 't.db')} }\n`);
  const store = await storeFor(dir, 't.db');
  // Alice works through the gateway, which calls Bedrock as its own role; Bob uses the
  // Anthropic route. Carol is in the gateway too, but also calls Bedrock directly.
  store.writeBatch(
    [
      ledgerLine('l1', '2026-11-03T09:00:00Z', 'alice', 'br-req-1', 'bedrock'),
      ledgerLine('l2', '2026-11-03T10:00:00Z', 'alice', 'br-req-2', 'bedrock'),
      ledgerLine('l3', '2026-11-10T09:00:00Z', 'carol', 'br-req-3', 'bedrock'),
      ledgerLine('l4', '2026-11-10T11:00:00Z', 'bob', 'req_anthropic_1', 'anthropic'),
    ],
    new Map(),
  );
  store.close();
  const log = (requestId: string, ts: string, principal: string) =>
    JSON.stringify({
      schemaType: 'ModelInvocationLog',
      timestamp: ts,
      requestId,
      region: 'eu-west-1',
      modelId: MODEL,
      identity: { arn: principal },
      input: { inputTokenCount: usage.input_tokens, cacheReadInputTokenCount: 0, cacheWriteInputTokenCount: 0 },
      output: { outputTokenCount: usage.output_tokens },
    });
  writeFileSync(
    join(dir, 'logs.json'),
    [
      log('br-req-1', '2026-11-03T09:00:01Z', GATEWAY_ROLE),
      log('br-req-2', '2026-11-03T10:00:01Z', GATEWAY_ROLE),
      log('br-req-3', '2026-11-10T09:00:01Z', GATEWAY_ROLE),
      // Carol straight to Bedrock: no ledger line carries these request ids.
      log('direct-1', '2026-11-10T15:00:00Z', CAROL),
      log('direct-2', '2026-11-10T16:00:00Z', CAROL),
    ].join('\n') + '\n',
  );
  const usd = (nano: number) => (nano / 1e9).toFixed(9);
  writeFileSync(
    join(dir, 'cur.csv'),
    [
      'identity_line_item_id,line_item_usage_start_date,line_item_product_code,line_item_usage_type,line_item_iam_principal,line_item_unblended_cost',
      `c1,2026-11-03T00:00:00Z,AmazonBedrock,EU-Claude4.5Sonnet-tokens,${GATEWAY_ROLE},${usd(2 * callNano)}`,
      // The bill for the gateway role on the 10th is $0.02 above its logs priced at list.
      `c2,2026-11-10T00:00:00Z,AmazonBedrock,EU-Claude4.5Sonnet-tokens,${GATEWAY_ROLE},${usd(callNano + 20_000_000)}`,
      `c3,2026-11-10T00:00:00Z,AmazonBedrock,EU-Claude4.5Sonnet-tokens,${CAROL},${usd(2 * callNano)}`,
    ].join('\n') + '\n',
  );
  // Alice's transcripts: her two responses, as Claude Code saw them (list prices: below the
  // ledger's Bedrock surcharge, so not "more than the ledger").
  const asst = (id: string, ts: string) =>
    JSON.stringify({ type: 'assistant', sessionId: 's-alice', requestId: `r-${id}`, timestamp: ts, message: { id, model: 'claude-sonnet-4-5', usage } });
  writeFileSync(join(dir, 'alice.jsonl'), [asst('m1', '2026-11-03T09:00:02Z'), asst('m2', '2026-11-03T10:00:02Z')].join('\n') + '\n');
  const run = (args: string[]) => {
    const r = tollgate([...args, '--config', cfg]);
    assert.equal(r.status, 0, r.stderr);
  };
  run(['ingest', 'bedrock-invocation-logs', join(dir, 'logs.json')]);
  run(['ingest', 'cur', join(dir, 'cur.csv')]);
  run(['ingest', 'claude-transcripts', join(dir, 'alice.jsonl'), '--user', 'alice@example.com']);
  run(['identities', 'add', GATEWAY_ROLE, '--user', 'tollgate-gateway', '--team', 'platform']);
  run(['identities', 'add', 'carol@example.com', '--user', 'carol', '--team', 'web']);
  run(['identities', 'add', 'alice@example.com', '--user', 'alice', '--team', 'web']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  group: string;
  day: string;
  ledger_usd: number;
  bedrock_logs_usd: number;
  bypass_usd: number;
  cur_usd: number;
  transcripts_usd: number;
  flagged: boolean;
  flags: string[];
  difference_usd: number;
}

describe('reconcile on a fixture month', () => {
  it("flags exactly the bypass and the CUR difference; the gateway's own Bedrock calls are matched by request id", () => {
    const r = tollgate(['reconcile', '--since', '2026-11-01', '--until', '2026-12-01', '--by', 'user', '--json', '--config', cfg]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /not compared \(no records imported or received\): telemetry, cloudtrail/);
    const rows = JSON.parse(r.stdout) as Row[];
    const flagged = rows.filter((x) => x.flagged);
    assert.deepEqual(
      flagged.map((x) => [x.group, x.day, x.flags.length]),
      [
        ['carol', '2026-11-10', 1],
        ['tollgate-gateway', '2026-11-10', 1],
      ],
      JSON.stringify(rows, null, 1),
    );
    const carol = flagged[0]!;
    assert.match(carol.flags[0]!, /^traffic bypassing the gateway: \$[\d.]+ in Bedrock invocation logs with no ledger line/);
    assert.equal(carol.bypass_usd, (2 * callNano) / 1e9);
    assert.equal(carol.cur_usd, carol.bedrock_logs_usd, 'her bill matches her logs: no CUR flag');
    const gw = flagged[1]!;
    assert.match(gw.flags[0]!, /^the bill \(CUR\) differs from the invocation logs/);
    assert.equal(gw.difference_usd, 0.02);
    assert.equal(gw.bypass_usd, 0, "the gateway's own calls are never bypass");
    const alice = rows.filter((x) => x.group === 'alice');
    assert.ok(
      alice.some((x) => x.transcripts_usd > 0 && x.ledger_usd > 0),
      'transcripts compared',
    );
  });

  it('groups on canonical model ids and defaults --since to 30 days', () => {
    const r = tollgate(['reconcile', '--since', '2026-11-01', '--until', '2026-12-01', '--by', 'model', '--json', '--config', cfg]);
    const rows = JSON.parse(r.stdout) as Row[];
    // CUR line items name a usage type, not a model: they group apart (null).
    assert.deepEqual(
      [...new Set(rows.map((x) => x.group).filter((g) => g !== null))],
      ['claude-sonnet-4-5'],
      'eu.anthropic.… and claude-sonnet-4-5 are one model',
    );
    assert.ok(rows.some((x) => x.ledger_usd > 0 && x.bedrock_logs_usd > 0));
    // Without --since: the last 30 days from the CLI's clock.
    const d = tollgate(['reconcile', '--by', 'day', '--json', '--config', cfg], { env: { TOLLGATE_NOW: '2026-11-20T00:00:00Z' } });
    assert.equal(d.status, 0, d.stderr);
    assert.deepEqual(
      (JSON.parse(d.stdout) as Row[]).map((x) => x.day),
      ['2026-11-03', '2026-11-10'],
    );
    const late = tollgate(['reconcile', '--by', 'day', '--json', '--config', cfg], { env: { TOLLGATE_NOW: '2027-02-01T00:00:00Z' } });
    assert.deepEqual(JSON.parse(late.stdout), []);
  });

  it('shows imported usage in reports next to the ledger: report and usage summary --source', () => {
    const json = (args: string[]) => {
      const r = tollgate([...args, '--since', '2026-11-01', '--until', '2026-12-01', '--json', '--config', cfg]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>[];
    };
    const days = json(['report', '--by', 'day', '--source', 'transcripts']);
    assert.deepEqual(
      days.map((x) => [x.source, x.day, x.requests]),
      [['transcripts', '2026-11-03', 2]],
    );
    const all = json(['report', '--by', 'team', '--source', 'all']);
    const sum = (src: string) => all.filter((x) => x.source === src).reduce((a, x) => a + Number(x.cost_nanousd), 0);
    assert.equal(sum('ledger'), 3 * callNano + book.cost('claude-sonnet-4-5', usage).nanoUsd);
    assert.equal(sum('logs'), 5 * callNano, "every invocation log, the gateway's and the bypass");
    assert.equal(sum('cur'), 5 * callNano + 20_000_000);
    // Through identities: the gateway role's records under its team, Carol's under hers.
    assert.ok(all.some((x) => x.source === 'logs' && x.team === 'platform' && Number(x.cost_nanousd) === 3 * callNano));
    assert.ok(all.some((x) => x.source === 'logs' && x.team === 'web' && Number(x.cost_nanousd) === 2 * callNano));
    const users = json(['usage', 'summary', '--by', 'user', '--source', 'all']);
    const carol = users.filter((x) => x.user === 'carol').map((x) => [x.source, Number(x.cost_nanousd)]);
    // Carol: one call through the gateway, two straight to Bedrock (logs), her bill for those
    // (CUR) — each source apart, never summed into one figure that counts a call twice.
    assert.deepEqual(carol, [
      ['ledger', callNano],
      ['cur', 2 * callNano],
      ['logs', 2 * callNano],
    ]);
    const recs = json(['usage', '--source', 'logs']);
    assert.equal(recs.length, 5);
    assert.deepEqual(
      recs.map((x) => x.user),
      ['tollgate-gateway', 'tollgate-gateway', 'tollgate-gateway', 'carol', 'carol'],
    );
    assert.ok(recs.every((x) => x.source === 'logs' && Number(x.cost_nanousd) === callNano));
    const bad = tollgate(['report', '--source', 'bills', '--config', cfg]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--source bills: use one of ledger, transcripts, logs, cur, all/);
  });
});
