// The Store interface: everything the gateway and the CLI persist. The embedded SQLite store
// implements it; a Postgres store for several replicas will implement the same interface.

export interface KeyRecord {
  id: string;
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  hash: string;
  /** First characters of the secret, to recognise a key in listings without revealing it. */
  prefix: string;
  name: string | null;
  user: string;
  team: string | null;
  project: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** After this (epoch ms) the key is refused (TG_KEY_EXPIRED); null: it does not expire. */
  expires_at?: number | null;
  /** A signed-in engineer's IdP groups (sign-in sessions only; never stored with keys). */
  groups?: string[];
  /** How the identity signed in: a virtual key (default), Claude Code's /login, or a CI token.
   * Signed-in clients speak Claude Code's gateway protocol (its usage headers and 429 shape). */
  kind?: 'key' | 'session' | 'ci';
}

import type { Usage } from '../metering/usage.js';

/** One line per request. The token counters are the metered Usage. */
export interface LedgerLine extends Usage {
  id: string;
  ts: number;
  key_id: string | null;
  user: string | null;
  team: string | null;
  project: string | null;
  session_id: string | null;
  endpoint: string;
  model_requested: string | null;
  model_served: string | null;
  upstream: string | null;
  route: string | null;
  region: string | null;
  http_status: number;
  error_type: string | null;
  error_code: string | null;
  stop_reason: string | null;
  streamed: boolean;
  /** Integer nano-USD (1e-9 USD). */
  cost_nanousd: number;
  priced: boolean;
  ttfb_ms: number | null;
  duration_ms: number;
  client_aborted: boolean;
  upstream_request_id: string | null;
  message_id: string | null;
  /** Model id as sent to the upstream (a Bedrock profile id or ARN, a Vertex id …). */
  upstream_model: string | null;
  /** global | geo | regional | multi-region (cloud routes), null on the Anthropic route. */
  endpoint_type: string | null;
  /** Every upstream tried, in order (JSON text in the store). */
  attempts: Attempt[];
  /** usage.speed of the response ("fast" is priced at fast-mode rates). */
  speed?: string | null;
  /** usage.inference_geo ("us": US-only inference, priced at a multiple of list). */
  inference_geo?: string | null;
  /** Which rates priced it: standard, long_prompt, per_iteration, fast, unpriced,
   * unpriced_ceiling (an unknown model settled at the highest rates: prices.unpriced). */
  price_tier?: string | null;
  /** Bedrock's service tier (default, flex, priority) the request asked for; priced by it. */
  service_tier?: string | null;
}

export interface Attempt {
  upstream: string;
  /** HTTP status, or 0 when no response came (connection error, timeout). */
  status: number;
  error: string | null;
  duration_ms: number;
  /** An attempt abandoned for failover after its stream had started: what the upstream
   * metered (and billed: its cost is in the line's totals too). */
  usage?: Usage;
  cost_nanousd?: number;
}

/** A line's fields in their one order (listings and exports print them in it). */
export const LEDGER_FIELDS = [
  'id',
  'ts',
  'key_id',
  'user',
  'team',
  'project',
  'session_id',
  'endpoint',
  'model_requested',
  'model_served',
  'upstream',
  'route',
  'region',
  'http_status',
  'error_type',
  'error_code',
  'stop_reason',
  'streamed',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_5m_input_tokens',
  'cache_creation_1h_input_tokens',
  'web_search_requests',
  'web_fetch_requests',
  'cost_nanousd',
  'priced',
  'ttfb_ms',
  'duration_ms',
  'client_aborted',
  'upstream_request_id',
  'message_id',
  'upstream_model',
  'endpoint_type',
  'attempts',
  'speed',
  'inference_geo',
  'price_tier',
  'service_tier',
] as const;

/** The fields analyses (insights) read of a line: cheaper to read than whole lines. */
export const USAGE_LINE_FIELDS = [
  'id',
  'ts',
  'user',
  'team',
  'session_id',
  'endpoint',
  'http_status',
  'model_served',
  'model_requested',
  'route',
  'endpoint_type',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_5m_input_tokens',
  'cache_creation_1h_input_tokens',
  'cost_nanousd',
] as const;
export type UsageLine = Pick<LedgerLine, (typeof USAGE_LINE_FIELDS)[number]>;

/** A budget alert that went out (once per budget, period and threshold). */
export interface AlertSent {
  budget_id: string;
  period_start: number;
  threshold: number;
  sent_at: number;
}

export interface LedgerQuery {
  since?: number;
  until?: number;
  user?: string;
  team?: string;
  project?: string;
  keyId?: string;
  /** One line by its request id (listings only; reports read rollups, which have no ids). */
  id?: string;
  /** messages or count_tokens */
  endpoint?: string;
  limit?: number;
  /** Newest first (with limit: the latest lines). */
  latest?: boolean;
}

export const SUMMARY_DIMENSIONS = ['user', 'team', 'project', 'model', 'day', 'key', 'upstream', 'route', 'region', 'session'] as const;
export type SummaryDimension = (typeof SUMMARY_DIMENSIONS)[number];

export interface SummaryRow {
  group: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_5m_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  web_search_requests: number;
  cost_nanousd: number;
  unpriced_requests: number;
}

export type BudgetScope = 'key' | 'user' | 'team' | 'project' | 'org';
export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';

export interface BudgetRecord {
  id: string;
  scope: BudgetScope;
  /** The key id, user, team or project; null for the organisation. */
  scope_value: string | null;
  period: BudgetPeriod;
  limit_nanousd: number;
  mode: 'hard' | 'soft';
  /** Alert thresholds in percent of the limit. */
  alert_at: number[];
  created_at: number;
  updated_at: number;
}

export interface AuditEntry {
  id?: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}

export const REPORT_DIMENSIONS = ['user', 'team', 'project', 'model', 'route', 'region', 'upstream', 'key', 'session', 'day', 'week', 'month'] as const;
export type ReportDimension = (typeof REPORT_DIMENSIONS)[number];

/** The totals every report row carries (after its dimension values). */
export const REPORT_TOTALS = [
  'requests',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_5m_input_tokens',
  'cache_creation_1h_input_tokens',
  'web_search_requests',
  'cost_nanousd',
  'unpriced_requests',
] as const;

/** A report row: the group's dimension values by name, then the totals. */
export type ReportRow = Record<string, string | number | null>;

/** Usage reported by Claude Code's own telemetry (an OTLP claude_code.api_request event). */
export interface TelemetryEvent {
  id: string;
  ts: number;
  key_id: string | null;
  user: string | null;
  team: string | null;
  session_id: string;
  otel_user_id: string | null;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  cost_nanousd: number;
  duration_ms: number;
}

/** One OTLP metric data point. A cumulative point is turned into a delta against the previous
 * point of the same series by the store, in the same transaction that records it. */
export interface TelemetryPoint {
  series: string;
  ts: number;
  key_id: string | null;
  user: string | null;
  team: string | null;
  session_id: string | null;
  model: string | null;
  metric: string;
  kind: string | null;
  value: number;
  cumulative: boolean;
  /** The series' start time (cumulative points): a new start resets the running total. */
  start_ts: number;
}

export const EXTERNAL_SOURCES = ['transcript', 'bedrock_log', 'cloudtrail', 'cur'] as const;
export type ExternalSource = (typeof EXTERNAL_SOURCES)[number];

/** A record of usage kept outside the gateway (imported). */
export interface ExternalUsage {
  id: string;
  source: ExternalSource;
  ts: number;
  principal: string | null;
  session_id: string | null;
  model: string | null;
  region: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  calls: number;
  usage_type: string | null;
  cost_nanousd: number;
  priced: boolean;
}

export interface ExternalUsageQuery {
  sources: readonly ExternalSource[];
  since?: number;
  until?: number;
}

/** An imported record, and (invocation logs) whether a ledger line carries its request id. */
export interface ExternalUsageRow extends ExternalUsage {
  matched_ledger: boolean;
}

export interface ExternalWriteResult {
  imported: number;
  /** Transcript records replaced by a later snapshot of the same response. */
  updated: number;
  duplicates: number;
}

export interface Identity {
  external_id: string;
  user: string;
  team: string | null;
}

/** Ledger cost and tokens (messages endpoint) or telemetry, per user, team, model and UTC day. */
export interface DailyUsage {
  user: string | null;
  team: string | null;
  model: string | null;
  day: string;
  cost: number;
  tokens: number;
}

/** What a budget needs of a ledger line. `seq` orders lines by commit. */
export interface SpendLine {
  seq: number;
  id: string;
  ts: number;
  key_id: string | null;
  user: string | null;
  team: string | null;
  project: string | null;
  cost_nanousd: number;
}

/** Settled spend grouped by the four budget scopes (for rebuilding every budget in one pass). */
export interface SpendGroup {
  key_id: string | null;
  user: string | null;
  team: string | null;
  project: string | null;
  cost_nanousd: number;
}

/** Counters that move when keys, budgets or sign-in sessions change, so other processes reload
 * only what changed. */
export interface StoreVersions {
  keys: number;
  budgets: number;
  sessions: number;
}

/** The managed-settings checksum a machine last reported (Claude Code's hint header). */
export interface FleetReport {
  /** The key or sign-in session that reported it. */
  identity: string;
  user: string;
  team: string | null;
  groups: string[];
  checksum: string;
  seen_at: number;
}

/** An RFC 8628 device authorization, from Claude Code's /login to the token it collects. */
/** A device grant's columns after its key (device_hash), in the order both stores write them. */
export const DEVICE_GRANT_FIELDS = [
  'user_code',
  'created_at',
  'expires_at',
  'interval_s',
  'last_poll_at',
  'status',
  'state',
  'pkce_verifier',
  'nonce',
  'session_id',
  'denied_reason',
] as const;
/** A sign-in session's columns after its key (id). */
export const SESSION_FIELDS = ['subject', 'email', 'name', 'groups', 'team', 'idp_refresh_token', 'created_at', 'refreshed_at', 'revoked_at'] as const;

export interface DeviceGrant {
  /** SHA-256 of the device code (the code itself is only ever with the client). */
  device_hash: string;
  user_code: string;
  created_at: number;
  expires_at: number;
  interval_s: number;
  last_poll_at: number | null;
  status: 'pending' | 'approved' | 'denied' | 'used';
  /** The browser sign-in under way for it: OAuth state, PKCE verifier and nonce. */
  state: string | null;
  pkce_verifier: string | null;
  nonce: string | null;
  session_id: string | null;
  denied_reason: string | null;
}

/** A signed-in engineer (one per /login). */
export interface SignInSession {
  id: string;
  /** The IdP's subject. */
  subject: string;
  email: string | null;
  name: string | null;
  groups: string[];
  team: string | null;
  /** Kept to ask the IdP again at each refresh whether the user may still sign in. */
  idp_refresh_token: string | null;
  created_at: number;
  refreshed_at: number;
  revoked_at: number | null;
}

export interface TokenRecord {
  /** SHA-256 of the token. */
  hash: string;
  session_id: string;
  kind: 'access' | 'refresh';
  expires_at: number;
  /** A refresh token is used once (rotation); presenting it again revokes the session. */
  used_at: number | null;
  revoked_at: number | null;
}

export interface PruneResult {
  deleted: number;
  /** Lines before this instant are gone from the ledger; rollups still hold their totals. */
  prunedBefore: number;
}

/** A replica's claim on a budget's remaining headroom (stores shared by several gateway
 * replicas): see policy/budgets.ts. */
export interface BudgetClaimRequest {
  budgetId: string;
  scope: BudgetScope;
  value: string | null;
  periodStart: number;
  /** Exclusive; Number.MAX_SAFE_INTEGER for a total budget. */
  periodEnd: number;
  limit: number;
  replica: string;
  /** What this replica wants to hold (its requests in flight, its spend not yet in the ledger,
   * and headroom for the next requests). 0 gives its claim back. */
  want: number;
  now: number;
  ttlMs: number;
}

export interface BudgetClaimGrant {
  /** What this replica now holds: `want`, or what was left if less. */
  granted: number;
  /** Settled spend in the ledger, and what other replicas hold, when it was granted. */
  spent: number;
  others: number;
  /** The ledger's commit sequence `spent` is current to: this replica's lines up to it are in
   * `spent`, later ones are not. */
  asOf: number;
  /** Less was left than wanted, and this replica holds those last scraps (one replica at a
   * time): it may admit one more request on them. */
  final: boolean;
}

export interface Store {
  /** Counters that move when keys or budgets change (other processes reload what moved). */
  versions(): StoreVersions;
  /** Free bytes on the store's disk, where that means something (an embedded store). */
  freeBytes?(): number | null;

  insertKey(k: KeyRecord): void;
  listKeys(): KeyRecord[];
  findKeyByHash(hash: string): KeyRecord | undefined;
  findKey(id: string): KeyRecord | undefined;
  revokeKey(id: string, at: number): boolean;

  /** Writes lines (idempotent on id), their rollups, and key last-used times in one durable
   * transaction. */
  writeBatch(lines: LedgerLine[], keysUsed: Map<string, number>): void;
  /** Lines oldest first (newest first with latest),
   * read as they are consumed. */
  iterateLedger(q: LedgerQuery): IterableIterator<LedgerLine>;
  /** The same, with only the fields analyses need (USAGE_LINE_FIELDS). */
  iterateUsageLines(q: LedgerQuery): IterableIterator<UsageLine>;
  queryLedger(q: LedgerQuery): LedgerLine[];
  /** True when no line at all is in the ledger. */
  ledgerEmpty(): boolean;
  summarize(by: SummaryDimension, q: LedgerQuery): SummaryRow[];
  /** Totals grouped by any dimensions (UTC calendar buckets for day, week, month), from the
   * rollups wherever whole hours or days are asked for. */
  report(by: ReportDimension[], q: LedgerQuery): ReportRow[];
  /** The newest line's commit sequence (0 for an empty ledger). */
  ledgerHead(): number;
  /** Lines committed after `seq`, in commit order, at most `limit`. */
  ledgerTail(seq: number, limit: number): SpendLine[];
  /** Deletes ledger lines before `before` (floored to a UTC day) in small transactions; the
   * rollups keep their totals. With `maxLines`, stops after about that many (a step of a
   * longer prune that must not hold the store for long; a store that drops whole months at
   * once may go past it, and then counts them from its statistics). */
  prune(before: number, opts?: { maxLines?: number }): PruneResult;
  /** Recomputes the rollups from the ledger lines still there (after `prunedBefore`). */
  rebuildRollups(): { lines: number };

  listBudgets(): BudgetRecord[];
  /** Inserts or replaces the budget for (scope, scope_value, period). */
  upsertBudget(b: BudgetRecord): void;
  removeBudget(scope: BudgetScope, value: string | null, period?: BudgetPeriod): number;
  /** Settled spend in [since, until) for a scope, in nano-USD. */
  spend(scope: BudgetScope, value: string | null, since: number, until: number): number;
  /** Runs fn's reads on one consistent snapshot of the store (a read transaction). */
  readSnapshot<T>(fn: () => T): T;
  /** Settled spend in [since, until) by key, user, team and project. */
  spendGroups(since: number, until: number): SpendGroup[];
  /** Records that an alert went out; false if it already had (once per budget, period, threshold). */
  markAlertSent(budgetId: string, periodStart: number, threshold: number, at: number): boolean;
  /** Budget alerts that went out, newest first. */
  listAlertsSent(limit: number): AlertSent[];
  appendAudit(e: AuditEntry): void;
  listAudit(limit: number): AuditEntry[];

  recordTelemetryEvents(events: TelemetryEvent[]): void;
  recordTelemetryPoints(points: TelemetryPoint[]): void;
  /** Transcript records replace an earlier snapshot of the same response; others are
   * insert-once. One transaction. */
  writeExternalUsage(rows: ExternalUsage[]): ExternalWriteResult;
  iterateExternalUsage(q: ExternalUsageQuery): IterableIterator<ExternalUsageRow>;
  /** Which sources hold any record at all. */
  sourcesPresent(): Record<ExternalSource | 'telemetry', boolean>;
  ledgerDaily(since: number, until: number): DailyUsage[];
  telemetryDaily(since: number, until: number): DailyUsage[];

  upsertIdentity(i: Identity): void;
  removeIdentity(externalId: string): boolean;
  listIdentities(): Identity[];

  insertDeviceGrant(g: DeviceGrant): void;
  findDeviceGrant(by: { deviceHash?: string; userCode?: string; state?: string }): DeviceGrant | undefined;
  updateDeviceGrant(deviceHash: string, patch: Partial<Omit<DeviceGrant, 'device_hash'>>): void;
  insertSession(s: SignInSession): void;
  findSession(id: string): SignInSession | undefined;
  updateSession(id: string, patch: Partial<Omit<SignInSession, 'id'>>): void;
  insertToken(t: TokenRecord): void;
  findToken(hash: string): TokenRecord | undefined;
  /** Marks a refresh token used; false when it already was (a replay). */
  useToken(hash: string, at: number): boolean;
  /** Revokes a session and every token of it. */
  revokeSession(id: string, at: number): void;
  revokeToken(hash: string, at: number): void;
  /** Forgets sign-in state past use: tokens expired before `before`, device grants expired
   * before it. Returns how many rows went. */
  pruneSignIn(before: number): number;
  /** Records what a machine reports (one row per identity, the latest wins). */
  reportSettings(r: FleetReport): void;
  listFleet(): FleetReport[];
  /** Remembers a managed-settings checksum as served (to tell stale from edited). */
  recordServedSettings(checksum: string, at: number): void;
  servedSettings(): string[];
  /** Shared by several replicas (PostgreSQL): sets this replica's claim on a budget, within
   * limit − settled spend − other replicas' unexpired claims, atomically. Stores used by one
   * gateway process do not implement it (budgets then need no claims). */
  claimBudget?(c: BudgetClaimRequest): BudgetClaimGrant;
  /** Shared by several replicas: publishes this replica's rate-limit figures per counter and
   * returns the sums of the other replicas that published within `aliveMs`. */
  syncRates?(
    replica: string,
    now: number,
    aliveMs: number,
    mine: { counter: string; requests: number; tokens: number; inFlight: number }[],
  ): {
    counter: string;
    requests: number;
    tokens: number;
    inFlight: number;
  }[];
  /** A server secret by name, made once (by whichever process asks first) and then shared. */
  secret(name: string, make: () => string): string;

  close(): void;
}
