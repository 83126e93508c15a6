// Importers for usage outside the gateway: one fixture per format (malformed lines included),
// re-import is a no-op, identities join records to people, reconcile flags the bypass.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EXTERNAL_SOURCES, type ExternalUsageRow } from '../src/store/types.js';
import { tollgate } from './helpers/cli.js';
import { storeFor, storeLocation } from './helpers/gateway.js';

/** The store beside a test's config (SQLite, or PostgreSQL when the suite runs on it). */
const storeConfig = async (d: string) => `store: { ${await storeLocation(d, 't.db')} }\n`;

/** Every imported record, by id, read through the Store interface as reports read them. */
async function imported(d: string): Promise<ExternalUsageRow[]> {
  const s = await storeFor(d, 't.db');
  try {
    return [...s.iterateExternalUsage({ sources: EXTERNAL_SOURCES })].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  } finally {
    s.close();
  }
}

let dir: string;
let cfg: string;
const SECRET_PROMPT = 'TOP-SECRET-PROMPT-TEXT-42';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-ingest-'));
  cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, await storeConfig(dir));
  const proj = join(dir, 'claude', 'projects', '-home-ann-repo');
  mkdirSync(proj, { recursive: true });
  const usage = {
    input_tokens: 100,
    output_tokens: 50,
    cache_read_input_tokens: 1000,
    cache_creation_input_tokens: 200,
    cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 0 },
  };
  const asst = (id: string, req: string, block: string) =>
    JSON.stringify({
      type: 'assistant',
      sessionId: 'sess-1',
      requestId: req,
      timestamp: '2026-11-24T10:00:00.000Z',
      message: { id, model: 'claude-opus-5-5', content: [{ type: block }], usage },
    });
  writeFileSync(
    join(proj, 'sess-1.jsonl'),
    [
      JSON.stringify({ type: 'user', sessionId: 'sess-1', message: { content: SECRET_PROMPT } }),
      asst('msg_1', 'req_1', 'thinking'),
      asst('msg_1', 'req_1', 'text'),
      asst('msg_1', 'req_1', 'tool_use'), // one response, three lines
      asst('msg_2', 'req_2', 'text'),
      '{broken json',
    ].join('\n') + '\n',
  );
  const inv = (id: string, arn: string, model: string, i: number, o: number) =>
    JSON.stringify({
      schemaType: 'ModelInvocationLog',
      schemaVersion: '1.0',
      timestamp: '2026-11-24T11:00:00Z',
      accountId: '111122223333',
      identity: { arn },
      region: 'eu-west-1',
      requestId: id,
      operation: 'InvokeModel',
      modelId: model,
      input: {
        inputContentType: 'application/json',
        inputBodyJson: { messages: [{ role: 'user', content: SECRET_PROMPT }] },
        inputTokenCount: i,
        cacheReadInputTokenCount: 0,
        cacheWriteInputTokenCount: 0,
      },
      output: { outputContentType: 'application/json', outputBodyJson: { content: [{ text: SECRET_PROMPT }] }, outputTokenCount: o },
      inferenceRegion: 'eu-west-3',
    });
  mkdirSync(join(dir, 'bedrock'), { recursive: true });
  writeFileSync(
    join(dir, 'bedrock', 'part-0001.json.gz'),
    gzipSync(
      [
        inv('r-1', 'arn:aws:sts::111122223333:assumed-role/Dev/ann@example.com', 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0', 1_000_000, 100_000),
        inv('r-2', 'arn:aws:iam::111122223333:user/ci-bot', 'global.anthropic.claude-haiku-4-5-20251001-v1:0', 1_000_000, 0),
        '{"requestId": "r-3"}',
      ].join('\n'),
    ),
  );
  writeFileSync(
    join(dir, 'cloudtrail.json'),
    JSON.stringify({
      Records: [
        {
          eventID: 'e-1',
          eventTime: '2026-11-24T11:00:00Z',
          eventSource: 'bedrock.amazonaws.com',
          eventName: 'InvokeModel',
          awsRegion: 'eu-west-1',
          userIdentity: { arn: 'arn:aws:sts::111122223333:assumed-role/Dev/ann@example.com' },
          requestParameters: { modelId: 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0' },
        },
        {
          eventID: 'e-2',
          eventTime: '2026-11-24T11:01:00Z',
          eventSource: 'bedrock.amazonaws.com',
          eventName: 'InvokeModelWithResponseStream',
          awsRegion: 'eu-west-1',
          userIdentity: { arn: 'arn:aws:sts::111122223333:assumed-role/Dev/ann@example.com' },
          requestParameters: { modelId: 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0' },
        },
        { eventID: 'e-3', eventTime: '2026-11-24T11:02:00Z', eventSource: 's3.amazonaws.com', eventName: 'GetObject' },
        { eventSource: 'bedrock.amazonaws.com', eventName: 'InvokeModel' },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'cur.csv'),
    [
      'identity_line_item_id,line_item_usage_start_date,line_item_product_code,line_item_usage_type,line_item_iam_principal,line_item_unblended_cost,product_region_code',
      'li-1,2026-11-24T00:00:00Z,AmazonBedrock,EU-Claude4.5Sonnet-input-tokens,arn:aws:sts::111122223333:assumed-role/Dev/ann@example.com,3.30,eu-west-1',
      'li-2,2026-11-24T00:00:00Z,AmazonBedrock,EU-Claude4.5Sonnet-output-tokens,arn:aws:sts::111122223333:assumed-role/Dev/ann@example.com,1.65,eu-west-1',
      'li-3,2026-11-24T00:00:00Z,AmazonS3,"Requests, Tier1",arn:aws:iam::111122223333:user/x,0.01,eu-west-1',
      'li-4,not-a-date,AmazonBedrock,EU-Claude,arn:x,abc,eu-west-1',
    ].join('\n') + '\n',
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

function ingest(kind: string, path: string, extra: string[] = []) {
  const r = tollgate(['ingest', kind, path, '--json', '--config', cfg, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { records: number; imported: number; duplicates: number; malformed: number; problems: string[] };
}

describe('tollgate ingest', () => {
  it('imports Claude Code transcripts from a directory, one record per response, malformed lines reported', () => {
    const r = ingest('claude-transcripts', join(dir, 'claude', 'projects'), ['--user', 'ann@example.com']);
    assert.deepEqual([r.records, r.imported, r.duplicates, r.malformed], [4, 2, 2, 1]);
    assert.match(r.problems[0]!, /sess-1\.jsonl:6: not JSON/);
    const again = ingest('claude-transcripts', join(dir, 'claude', 'projects'), ['--user', 'ann@example.com']);
    assert.deepEqual([again.imported, again.duplicates], [0, 4], 're-import is a no-op');
  });

  it('imports gzipped Bedrock invocation logs, prices them per route, and never stores prompts', async () => {
    const r = ingest('bedrock-invocation-logs', join(dir, 'bedrock'));
    assert.deepEqual([r.records, r.imported, r.malformed], [2, 2, 1]);
    const rows = (await imported(dir)).filter((x) => x.source === 'bedrock_log');
    assert.ok(
      rows.every((x) => !JSON.stringify(x).includes(SECRET_PROMPT)),
      'no prompt or completion text in the records',
    );
    // Sonnet 4.5 on an eu. (geo) profile: 1.1 × ($3/M in, $15/M out); Haiku 4.5 global: list.
    assert.equal(rows[0]!.cost_nanousd, Math.round((1_000_000 * 3000 + 100_000 * 15000) * 1.1));
    assert.equal(rows[1]!.cost_nanousd, 1_000_000 * 1000);
    assert.deepEqual([rows[0]!.input_tokens, rows[0]!.output_tokens, rows[0]!.region], [1_000_000, 100_000, 'eu-west-1']);
    if (existsSync(join(dir, 't.db'))) assert.equal(readFileSync(join(dir, 't.db')).indexOf(SECRET_PROMPT), -1, 'no prompt or completion text in the store');
    assert.equal(ingest('bedrock-invocation-logs', join(dir, 'bedrock')).imported, 0);
  });

  it('imports CloudTrail Bedrock calls and CUR 2.0 lines; other services are skipped', () => {
    const c = ingest('cloudtrail', join(dir, 'cloudtrail.json'));
    assert.deepEqual([c.records, c.imported, c.malformed], [3, 2, 1]);
    const u = ingest('cur', join(dir, 'cur.csv'));
    assert.deepEqual([u.records, u.imported, u.malformed], [3, 2, 1]);
    assert.match(u.problems[0]!, /cur\.csv:5: row without/);
    assert.equal(ingest('cur', join(dir, 'cur.csv')).imported, 0);
  });

  it('imports CUR 2.0 Parquet the same way', async () => {
    const { parquetWriteFile } = await import('hyparquet-writer');
    const file = join(dir, 'cur.parquet');
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'identity_line_item_id', data: ['pq-1', 'pq-2', 'pq-3'] },
        { name: 'line_item_usage_start_date', data: ['2026-11-23T00:00:00Z', '2026-11-23T00:00:00Z', 'bad'] },
        { name: 'line_item_product_code', data: ['AmazonBedrock', 'AmazonBedrock', 'AmazonBedrock'] },
        { name: 'line_item_usage_type', data: ['USE1-Claude4.6Sonnet-input-tokens', 'USE1-Claude4.6Sonnet-output-tokens', 'x'] },
        { name: 'line_item_iam_principal', data: ['arn:aws:iam::111122223333:user/ci-bot', 'arn:aws:iam::111122223333:user/ci-bot', 'x'] },
        { name: 'line_item_unblended_cost', data: [0.25, 0.5, 1] },
      ],
    });
    const r = ingest('cur', file);
    assert.deepEqual([r.records, r.imported, r.malformed], [3, 2, 1]);
    assert.equal(ingest('cur', file).imported, 0);
    const sum = (await imported(dir)).filter((x) => x.id.startsWith('cur:pq-')).reduce((a, x) => a + x.cost_nanousd, 0);
    assert.equal(sum, 750_000_000);
  });

  it('joins imported usage to people through identities and flags traffic that bypassed the gateway', () => {
    assert.equal(tollgate(['identities', 'add', 'ann@example.com', '--user', 'ann', '--team', 'web', '--config', cfg]).status, 0);
    assert.equal(tollgate(['identities', 'add', 'arn:aws:iam::111122223333:user/ci-bot', '--user', 'ci', '--team', 'platform', '--config', cfg]).status, 0);
    assert.match(tollgate(['identities', 'list', '--config', cfg]).stdout, /ann@example\.com\s+ann\s+web/);
    const r = tollgate(['reconcile', '--since', '2026-11-24', '--until', '2026-11-25', '--by', 'user', '--json', '--config', cfg]);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as {
      group: string;
      bedrock_logs_usd: number;
      cur_usd: number;
      transcripts_usd: number;
      cloudtrail_calls: number;
      flagged: boolean;
      likely_cause: string;
    }[];
    const ann = rows.find((x) => x.group === 'ann')!;
    assert.ok(ann, JSON.stringify(rows));
    assert.equal(ann.bedrock_logs_usd, 4.95);
    assert.equal(ann.cur_usd, 4.95);
    assert.equal(ann.cloudtrail_calls, 2);
    assert.ok(ann.transcripts_usd > 0);
    assert.equal(ann.flagged, true);
    assert.match(ann.likely_cause, /bypassing the gateway/);
    assert.ok(rows.some((x) => x.group === 'ci'));
    const bad = tollgate(['ingest', 'parquet-dreams', dir, '--config', cfg]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /expected one of claude-transcripts/);
    const missing = tollgate(['ingest', 'cur', join(dir, 'nope.csv'), '--config', cfg]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no such file or directory/);
  });

  it('keeps the final snapshot of a response, prices transcripts as the gateway does, and updates on a later import', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tollgate-snap-'));
    const c = join(d, 'c.yaml');
    writeFileSync(c, await storeConfig(d));
    const line = (out: number, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        type: 'assistant',
        sessionId: 's',
        requestId: 'req_9',
        timestamp: '2026-11-24T10:00:00.000Z',
        message: { id: 'msg_9', model: 'claude-opus-4-6', usage: { input_tokens: 1000, output_tokens: out, ...extra } },
      });
    // Older Claude Code versions: one line per content block, output growing to the final 159.
    writeFileSync(join(d, 'a.jsonl'), [line(3), line(80), line(159)].join('\n') + '\n');
    const run = (args: string[]) =>
      JSON.parse(tollgate(['ingest', 'claude-transcripts', ...args, '--json', '--config', c]).stdout) as {
        imported: number;
        updated: number;
        duplicates: number;
      };
    const first = run([join(d, 'a.jsonl')]);
    assert.deepEqual([first.imported, first.updated, first.duplicates], [1, 0, 2]);
    const again = run([join(d, 'a.jsonl')]);
    assert.deepEqual([again.imported, again.updated, again.duplicates], [0, 0, 3], 're-import changes nothing');
    const row = async () => (await imported(d)).find((x) => x.id === 'transcript:msg_9:req_9')!;
    assert.equal((await row()).output_tokens, 159);
    assert.equal((await row()).cost_nanousd, 1000 * 5000 + 159 * 25000);
    // A later file with the response in fast mode (the same ids): the record is updated.
    writeFileSync(join(d, 'b.jsonl'), line(159, { speed: 'fast' }) + '\n');
    assert.equal(run([join(d, 'b.jsonl')]).updated, 1);
    assert.equal((await row()).cost_nanousd, 1000 * 30000 + 159 * 150000);
    rmSync(d, { recursive: true, force: true });
  });

  it('resolves ARN model ids in invocation logs; an application profile the config does not map is flagged, never $0', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tollgate-arn-'));
    const c = join(d, 'c.yaml');
    writeFileSync(
      c,
      `${await storeConfig(d)}upstreams:
  - { name: br, type: bedrock, region: us-east-1, team_inference_profiles: { web: { claude-sonnet-4-5: "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/webprof" } } }
`,
    );
    const rec = (id: string, modelId: string) =>
      JSON.stringify({
        timestamp: '2026-11-24T11:00:00Z',
        requestId: id,
        region: 'us-east-1',
        modelId,
        identity: { arn: 'arn:aws:iam::1:user/x' },
        input: { inputTokenCount: 1_000_000 },
        output: { outputTokenCount: 0 },
      });
    writeFileSync(
      join(d, 'log.json'),
      [
        rec('a1', 'arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0'),
        rec('a2', 'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0'),
        rec('a3', 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/webprof'),
        rec('a4', 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/unknownprof'),
      ].join('\n') + '\n',
    );
    const r = tollgate(['ingest', 'bedrock-invocation-logs', join(d, 'log.json'), '--json', '--config', c]);
    assert.equal(r.status, 0, r.stderr);
    const rows = await imported(d);
    // Haiku 4.5 $1/M: global list; in-region (foundation model) 1.1×; Sonnet 4.5 $3/M behind the team profile, 1.1×.
    assert.deepEqual(
      rows.map((x) => [x.id, x.cost_nanousd, x.priced]),
      [
        ['bedrock:a1', 1_000_000_000, true],
        ['bedrock:a2', 1_100_000_000, true],
        ['bedrock:a3', 3_300_000_000, true],
        ['bedrock:a4', 30_000_000_000, false],
      ],
    );
    assert.equal(rows[2]!.model, 'claude-sonnet-4-5');
    rmSync(d, { recursive: true, force: true });
  });

  it('skips only a malformed CSV row, at its true line, and refuses a file of the wrong kind', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tollgate-csv-'));
    const c = join(d, 'c.yaml');
    writeFileSync(c, await storeConfig(d));
    writeFileSync(
      join(d, 'cur.csv'),
      [
        'identity_line_item_id,line_item_usage_start_date,line_item_product_code,line_item_usage_type,line_item_iam_principal,line_item_unblended_cost',
        'x-1,2026-11-24T00:00:00Z,AmazonBedrock,USE1-Claude-input,arn:a,1.00',
        'x-2,2026-11-24T00:00:00Z,AmazonBedrock,"USE1-Claude-"broken",arn:a,2.00',
        'x-3,2026-11-24T00:00:00Z,AmazonBedrock,USE1-Claude-output,arn:a,3.00',
      ].join('\n') + '\n',
    );
    const r = JSON.parse(tollgate(['ingest', 'cur', join(d, 'cur.csv'), '--json', '--config', c]).stdout) as {
      imported: number;
      malformed: number;
      problems: string[];
    };
    assert.deepEqual([r.imported, r.malformed], [2, 1]);
    assert.match(r.problems[0]!, /cur\.csv:3: CSV: /);
    const wrong = tollgate(['ingest', 'claude-transcripts', join(d, 'cur.csv'), '--config', c]);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /cur\.csv: no claude-transcripts records; it looks like an AWS CUR 2\.0 CSV \(tollgate ingest cur\)/);
    rmSync(d, { recursive: true, force: true });
  });
});
