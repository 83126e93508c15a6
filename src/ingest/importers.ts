// Importers for usage recorded outside the gateway: Claude Code transcripts, Bedrock model
// invocation logs, CloudTrail Bedrock events, and AWS CUR 2.0 (CSV). Each record gets a stable
// id, so importing the same file twice changes nothing; malformed records are counted and
// reported, never fatal. Prompts and completions in invocation logs are never stored.
import { statSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { closeSync, openSync, readSync } from 'node:fs';
import { constants, gunzipSync } from 'node:zlib';
import type { PriceBook } from '../metering/prices.js';
import type { Config } from '../config/schema.js';
import type { ModelCatalog } from '../routing/catalog.js';
import { emptyUsage, UsageAccumulator } from '../metering/usage.js';
import type { ExternalUsage, Store } from '../store/types.js';
import { expandPaths, lines, openRecords, progressReporter, type Progress } from './files.js';

export const IMPORT_KINDS = ['claude-transcripts', 'bedrock-invocation-logs', 'cloudtrail', 'cur'] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];

/** Application inference profile ARN → model, from the Bedrock upstreams' config, so logs that
 * name only the ARN are priced as the model behind it. */
export function appProfiles(config: Config, catalog: ModelCatalog): Map<string, string> {
  const m = new Map<string, string>();
  for (const u of config.upstreams) {
    if (u.type !== 'bedrock') continue;
    const maps = [u.application_inference_profiles ?? {}, ...Object.values(u.team_inference_profiles ?? {})];
    for (const map of maps) for (const [model, arn] of Object.entries(map)) m.set(arn, catalog.resolve(model)?.id ?? model);
  }
  return m;
}

export interface ImportResult {
  files: number;
  records: number;
  imported: number;
  duplicates: number;
  skipped: number;
  malformed: number;
  /** Records replaced by a later snapshot of the same response (transcripts). */
  updated: number;
  /** The first malformed records, as file:line and why. */
  problems: string[];
  /** Files holding no record of the kind asked for, with what they look like (an error). */
  wrongKind: string[];
  bytes: number;
  seconds: number;
}

/** An imported record as an importer builds it: what it does not know takes the defaults. */
type Row = Pick<ExternalUsage, 'id' | 'source' | 'ts' | 'principal'> & Partial<ExternalUsage>;

const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

function bedrockEndpointType(modelId: string): string | null {
  if (modelId.startsWith('global.')) return 'global';
  if (/^[a-z-]+\.anthropic\./.test(modelId)) return 'geo';
  if (modelId.startsWith('anthropic.')) return 'regional';
  return null;
}

/**
 * The model an invocation log's modelId names, and the endpoint type it was served on.
 * Inference-profile and foundation-model ARNs embed the id; an application inference profile
 * ARN names the model only through the gateway's config (application_inference_profiles,
 * team_inference_profiles), else it is unknown (null).
 */
export function bedrockLogModel(modelId: string, appProfiles: ReadonlyMap<string, string>): { model: string | null; endpointType: string | null } {
  const arn = /^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(inference-profile|foundation-model|application-inference-profile)\/(.+)$/.exec(modelId);
  if (!arn) return { model: modelId, endpointType: bedrockEndpointType(modelId) };
  const [, kind, rest] = arn as unknown as [string, string, string];
  if (kind !== 'application-inference-profile') return { model: rest, endpointType: bedrockEndpointType(rest) };
  // An application profile is made from a geo profile or an in-region model in practice: both
  // carry the regional surcharge.
  const model = appProfiles.get(modelId) ?? null;
  return { model, endpointType: model ? 'geo' : null };
}

/** What a file that holds no record of the expected kind looks like, from its first bytes. */
export function sniffKind(head: string): ImportKind | 'parquet' | null {
  if (head.startsWith('PAR1')) return 'parquet';
  if (/^\uFEFF?[^\n]*\b(identity_line_item_id|line_item_usage_type|line_item_unblended_cost)\b/.test(head)) return 'cur';
  if (/"Records"\s*:/.test(head) && /"eventSource"/.test(head)) return 'cloudtrail';
  if (/"schemaType"\s*:\s*"ModelInvocationLog"/.test(head) || (/"modelId"/.test(head) && /"requestId"/.test(head) && !/"sessionId"/.test(head)))
    return 'bedrock-invocation-logs';
  if (/"sessionId"/.test(head) && /"type"\s*:\s*"(assistant|user|summary|system)"/.test(head)) return 'claude-transcripts';
  if (/"eventSource"\s*:/.test(head)) return 'cloudtrail';
  return null;
}

const KIND_NAMES: Record<ImportKind | 'parquet', string> = {
  'claude-transcripts': 'Claude Code transcripts (tollgate ingest claude-transcripts)',
  'bedrock-invocation-logs': 'Bedrock model invocation logs (tollgate ingest bedrock-invocation-logs)',
  cloudtrail: 'CloudTrail events (tollgate ingest cloudtrail)',
  cur: 'an AWS CUR 2.0 CSV (tollgate ingest cur)',
  parquet: 'a Parquet file (CUR 2.0 as Parquet: tollgate ingest cur)',
};

export class Importer {
  /** Rows waiting for the next transaction, by id: a later snapshot of a response replaces an
   * earlier one before it reaches the store. */
  private readonly batch = new Map<string, Row>();
  private readonly appProfiles: ReadonlyMap<string, string>;

  constructor(
    private readonly store: Store,
    private readonly prices: PriceBook,
    private readonly opts: { principal?: string; progress?: boolean; appProfiles?: ReadonlyMap<string, string> } = {},
  ) {
    this.appProfiles = opts.appProfiles ?? new Map();
  }

  private flush(r: ImportResult): void {
    if (!this.batch.size) return;
    const rows: ExternalUsage[] = [...this.batch.values()].map((x) => ({
      session_id: null,
      model: null,
      region: null,
      input_tokens: 0,
      output_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      calls: 1,
      usage_type: null,
      cost_nanousd: 0,
      ...x,
      priced: x.priced !== false,
    }));
    this.batch.clear();
    const w = this.store.writeExternalUsage(rows);
    r.imported += w.imported;
    r.updated += w.updated;
    r.duplicates += w.duplicates;
  }

  private add(r: ImportResult, row: Row): void {
    if (this.batch.has(row.id)) r.duplicates++;
    this.batch.set(row.id, row);
    if (this.batch.size >= 5000) this.flush(r);
  }

  async run(kind: ImportKind, paths: string[]): Promise<ImportResult> {
    const files = expandPaths(paths);
    const r: ImportResult = {
      files: files.length,
      records: 0,
      imported: 0,
      duplicates: 0,
      updated: 0,
      skipped: 0,
      malformed: 0,
      problems: [],
      wrongKind: [],
      bytes: 0,
      seconds: 0,
    };
    const progress: Progress = { bytes: 0, total: files.reduce((a, f) => a + statSync(f).size, 0), started: Date.now() };
    const tick = progressReporter(progress, kind, this.opts.progress ?? false);
    const bad = (file: string, line: number, why: string) => {
      r.malformed++;
      if (r.problems.length < 20) r.problems.push(`${file}:${line}: ${why}`);
    };
    for (const file of files) {
      const before = r.records;
      await this.file(kind, file, progress, r, bad, tick);
      this.flush(r);
      // Nothing of the kind asked for: say what the file looks like rather than report success.
      if (r.records === before && statSync(file).size > 0) {
        const looks = sniffKind(readHead(file));
        if (looks !== kind) r.wrongKind.push(`${file}: no ${kind} records; it looks like ${looks ? KIND_NAMES[looks] : 'no format tollgate imports'}`);
      }
    }
    if (this.opts.progress) process.stderr.write('\n');
    r.bytes = progress.bytes;
    r.seconds = (Date.now() - progress.started) / 1000;
    return r;
  }

  private async file(
    kind: ImportKind,
    file: string,
    progress: Progress,
    r: ImportResult,
    bad: (f: string, l: number, w: string) => void,
    tick: () => void,
  ): Promise<void> {
    {
      if (kind === 'cur') await this.cur(file, progress, r, bad, tick);
      else {
        let ln = 0;
        for await (const text of lines(openRecords(file, progress))) {
          ln++;
          // Most transcript lines are prompts, tool results and attachments: only a line with a
          // "usage" key can be a response, so no other well-formed line is parsed. (A key in the
          // text is written "usage"; inside a string it would be escaped, \"usage\".)
          if (kind === 'claude-transcripts' && !text.includes('"usage"')) {
            const t = text.trim();
            if (!t) continue;
            // A line cut short (typically the last of a file still being written) is still caught.
            if (t[0] !== '{' || t[t.length - 1] !== '}') bad(file, ln, 'not JSON');
            else r.skipped++;
            tick();
            continue;
          }
          if (!text.trim()) continue;
          let j: unknown;
          try {
            j = JSON.parse(text);
          } catch {
            bad(file, ln, 'not JSON');
            continue;
          }
          if (kind === 'claude-transcripts') this.transcript(j, file, ln, r, bad);
          else if (kind === 'bedrock-invocation-logs') this.invocation(j, file, ln, r, bad);
          else this.cloudtrail(j, file, ln, r, bad);
          tick();
        }
      }
    }
  }

  /** ~/.claude/projects/**\/*.jsonl: one API response may span several lines (one per
   * content block): the same message.id + requestId is counted once. */
  private transcript(j: unknown, file: string, ln: number, r: ImportResult, bad: (f: string, l: number, w: string) => void): void {
    const o = j as {
      type?: string;
      message?: { id?: string; model?: string; usage?: Record<string, unknown> };
      requestId?: string;
      sessionId?: string;
      timestamp?: string;
    };
    if (o.type !== 'assistant' || !o.message?.usage) {
      r.skipped++;
      return;
    }
    r.records++;
    const ts = Date.parse(o.timestamp ?? '');
    if (!o.message.id || Number.isNaN(ts)) return bad(file, ln, 'assistant line without message.id or timestamp');
    // Read and priced as the gateway reads a response (fast mode, US inference, iterations).
    const acc = new UsageAccumulator();
    acc.apply(o.message.usage);
    const usage = acc.result();
    const c = this.prices.cost(o.message.model, usage, {}, acc.usageExtras(), 'ceiling');
    this.add(r, {
      id: `transcript:${o.message.id}:${o.requestId ?? ''}`,
      source: 'transcript',
      ts,
      principal: this.opts.principal ?? null,
      session_id: o.sessionId ?? null,
      model: o.message.model ?? null,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      cache_creation_input_tokens: usage.cache_creation_5m_input_tokens + usage.cache_creation_1h_input_tokens,
      cost_nanousd: c.nanoUsd,
      priced: c.priced,
    });
  }

  /** Bedrock model invocation logs (S3 objects or CloudWatch exports): tokens and identity.arn
   * are kept; the inline input/output bodies are dropped on read. */
  private invocation(j: unknown, file: string, ln: number, r: ImportResult, bad: (f: string, l: number, w: string) => void): void {
    const o = j as {
      timestamp?: string;
      requestId?: string;
      region?: string;
      modelId?: string;
      operation?: string;
      identity?: { arn?: string };
      input?: { inputTokenCount?: number; cacheReadInputTokenCount?: number; cacheWriteInputTokenCount?: number };
      output?: { outputTokenCount?: number };
    };
    if (!o || typeof o !== 'object' || !o.requestId || !o.modelId) return bad(file, ln, 'record without requestId or modelId');
    r.records++;
    const ts = Date.parse(o.timestamp ?? '');
    if (Number.isNaN(ts)) return bad(file, ln, 'record without a timestamp');
    const usage = {
      ...emptyUsage(),
      input_tokens: n(o.input?.inputTokenCount),
      output_tokens: n(o.output?.outputTokenCount),
      cache_read_input_tokens: n(o.input?.cacheReadInputTokenCount),
      cache_creation_5m_input_tokens: n(o.input?.cacheWriteInputTokenCount),
    };
    // An ARN the config does not map prices at the ceiling, flagged unpriced: never $0.
    const m = bedrockLogModel(o.modelId, this.appProfiles);
    const c = this.prices.cost(m.model ?? undefined, usage, { route: 'bedrock', endpointType: m.endpointType }, undefined, 'ceiling');
    this.add(r, {
      id: `bedrock:${o.requestId}`,
      source: 'bedrock_log',
      ts,
      principal: o.identity?.arn ?? null,
      model: m.model ?? o.modelId,
      region: o.region ?? null,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      cache_creation_input_tokens: usage.cache_creation_5m_input_tokens,
      cost_nanousd: c.nanoUsd,
      priced: c.priced,
    });
  }

  /** CloudTrail: a {"Records": [...]} file or one event per line; Bedrock invocations only. */
  private cloudtrail(j: unknown, file: string, ln: number, r: ImportResult, bad: (f: string, l: number, w: string) => void): void {
    const events = (j as { Records?: unknown[] }).Records ?? [j];
    for (const e of events) {
      const o = e as {
        eventSource?: string;
        eventName?: string;
        eventID?: string;
        eventTime?: string;
        awsRegion?: string;
        userIdentity?: { arn?: string };
        requestParameters?: { modelId?: string };
      };
      if (o?.eventSource !== 'bedrock.amazonaws.com' || !/^(InvokeModel|InvokeModelWithResponseStream|Converse|ConverseStream)$/.test(o.eventName ?? '')) {
        r.skipped++;
        continue;
      }
      r.records++;
      const ts = Date.parse(o.eventTime ?? '');
      if (!o.eventID || Number.isNaN(ts)) {
        bad(file, ln, 'Bedrock event without eventID or eventTime');
        continue;
      }
      this.add(r, {
        id: `cloudtrail:${o.eventID}`,
        source: 'cloudtrail',
        ts,
        principal: o.userIdentity?.arn ?? null,
        model: o.requestParameters?.modelId ?? null,
        region: o.awsRegion ?? null,
        calls: 1,
      });
    }
  }

  /** One CUR 2.0 line item (from CSV or Parquet): the billed cost per principal and usage type. */
  private curRow(row: Record<string, unknown>, file: string, ln: number, r: ImportResult, bad: (f: string, l: number, w: string) => void): void {
    const str = (v: unknown): string => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? '' : String(v));
    const product = str(row.line_item_product_code ?? row.product_servicecode) || 'AmazonBedrock';
    if (product !== 'AmazonBedrock' && !str(row.line_item_usage_type).includes('Claude')) {
      r.skipped++;
      return;
    }
    r.records++;
    const id = str(row.identity_line_item_id ?? row.line_item_id);
    const ts = Date.parse(str(row.line_item_usage_start_date));
    const cost = Number(str(row.line_item_unblended_cost));
    if (!id || Number.isNaN(ts) || !Number.isFinite(cost) || str(row.line_item_unblended_cost) === '') {
      bad(file, ln, 'row without identity_line_item_id, line_item_usage_start_date or a numeric line_item_unblended_cost');
      return;
    }
    // The same line item recurs in each refresh of the month's report: id + start date is stable.
    this.add(r, {
      id: `cur:${id}:${ts}`,
      source: 'cur',
      ts,
      principal: str(row.line_item_iam_principal) || null,
      usage_type: str(row.line_item_usage_type) || null,
      region: str(row.product_region_code ?? row.product_region) || null,
      cost_nanousd: Math.round(cost * 1e9),
      calls: 0,
    });
  }

  private async cur(file: string, progress: Progress, r: ImportResult, bad: (f: string, l: number, w: string) => void, tick: () => void): Promise<void> {
    if (isParquet(file)) {
      // Row group by row group, so memory follows the row group, not the file.
      const buf = await asyncBufferFromFile(file);
      const metadata = await parquetMetadataAsync(buf);
      let start = 0;
      for (const rg of metadata.row_groups) {
        const n = Number(rg.num_rows);
        const rows = (await parquetReadObjects({ file: buf, metadata, rowStart: start, rowEnd: start + n })) as Record<string, unknown>[];
        rows.forEach((row, k) => this.curRow(row, file, start + k + 1, r, bad));
        start += n;
        progress.bytes = Math.round((start / Number(metadata.num_rows)) * buf.byteLength);
        tick();
      }
      return;
    }
    // A malformed row (a stray quote, say) skips that row only, reported at its own line.
    const parser = openRecords(file, progress).pipe(
      parseCsv({
        columns: true,
        relax_column_count: true,
        skip_empty_lines: true,
        bom: true,
        info: true,
        skip_records_with_error: true,
        on_skip: (err) => {
          const e = err as (Error & { lines?: number }) | undefined;
          bad(file, e?.lines ?? 0, `CSV: ${e?.message ?? 'unreadable row'}`);
          return undefined;
        },
      }),
    );
    let ln = 0;
    try {
      for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
        ln = rec.info.lines;
        this.curRow(rec.record, file, ln, r, bad);
        tick();
      }
    } catch (err) {
      bad(file, ln + 1, `CSV: ${(err as Error).message}`);
    }
  }
}

function readHead(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(65536);
    const n = readSync(fd, b, 0, b.length, 0);
    // A gzip file is sniffed after decompressing what was read.
    if (n > 2 && b[0] === 0x1f && b[1] === 0x8b) {
      try {
        return gunzipSync(b.subarray(0, n), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8', 0, 65536);
      } catch {
        return '';
      }
    }
    return b.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function isParquet(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'PAR1';
  } finally {
    closeSync(fd);
  }
}
