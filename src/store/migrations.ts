// Schema migrations, applied in order inside one transaction each; the version is SQLite's
// user_version. Never edit a shipped migration: add the next one.

export const migrations: string[] = [
  // 1: keys and ledger
  `
  CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT,
    user TEXT NOT NULL,
    team TEXT,
    project TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );
  CREATE TABLE ledger (
    id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    key_id TEXT,
    user TEXT,
    team TEXT,
    project TEXT,
    session_id TEXT,
    endpoint TEXT NOT NULL,
    model_requested TEXT,
    model_served TEXT,
    upstream TEXT,
    route TEXT,
    region TEXT,
    http_status INTEGER NOT NULL,
    error_type TEXT,
    error_code TEXT,
    stop_reason TEXT,
    streamed INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_input_tokens INTEGER NOT NULL,
    cache_creation_5m_input_tokens INTEGER NOT NULL,
    cache_creation_1h_input_tokens INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL,
    web_fetch_requests INTEGER NOT NULL,
    cost_nanousd INTEGER NOT NULL,
    priced INTEGER NOT NULL,
    ttfb_ms REAL,
    duration_ms REAL NOT NULL,
    client_aborted INTEGER NOT NULL,
    upstream_request_id TEXT,
    message_id TEXT
  );
  CREATE INDEX ledger_ts ON ledger(ts);
  CREATE INDEX ledger_user_ts ON ledger(user, ts);
  CREATE INDEX ledger_team_ts ON ledger(team, ts);
  `,
  // 2: routes — the id sent upstream, endpoint type, and each failover attempt
  `
  ALTER TABLE ledger ADD COLUMN upstream_model TEXT;
  ALTER TABLE ledger ADD COLUMN endpoint_type TEXT;
  ALTER TABLE ledger ADD COLUMN attempts TEXT;
  CREATE INDEX ledger_session ON ledger(session_id);
  `,
  // 3: spend control — budgets set from the CLI/admin API, alerts sent, audit log
  `
  CREATE TABLE budgets (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    scope_value TEXT,
    period TEXT NOT NULL,
    limit_nanousd INTEGER NOT NULL,
    mode TEXT NOT NULL,
    alert_at TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX budgets_scope ON budgets(scope, COALESCE(scope_value, ''), period);
  CREATE TABLE alerts_sent (
    budget_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (budget_id, period_start, threshold)
  );
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    details TEXT
  );
  CREATE INDEX ledger_project_ts ON ledger(project, ts);
  CREATE INDEX ledger_key_ts ON ledger(key_id, ts);
  `,
  // 4: usage reported by Claude Code's own telemetry (OTLP), attributed by virtual key
  `
  CREATE TABLE telemetry_events (
    id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    key_id TEXT,
    user TEXT,
    team TEXT,
    session_id TEXT,
    otel_user_id TEXT,
    model TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_input_tokens INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cost_nanousd INTEGER NOT NULL,
    duration_ms REAL
  );
  CREATE INDEX telemetry_events_ts ON telemetry_events(ts);
  CREATE TABLE telemetry_metrics (
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,
    key_id TEXT,
    user TEXT,
    team TEXT,
    session_id TEXT,
    model TEXT,
    metric TEXT NOT NULL,
    kind TEXT,
    delta REAL NOT NULL,
    PRIMARY KEY (series, ts)
  );
  CREATE TABLE telemetry_cumulative (
    series TEXT PRIMARY KEY,
    start_ts INTEGER NOT NULL,
    value REAL NOT NULL
  );
  `,
  // 5: usage imported from records kept outside the gateway, and who is who across systems
  `
  CREATE TABLE external_usage (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    ts INTEGER NOT NULL,
    principal TEXT,
    session_id TEXT,
    model TEXT,
    region TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 1,
    usage_type TEXT,
    cost_nanousd INTEGER NOT NULL DEFAULT 0,
    priced INTEGER NOT NULL DEFAULT 1
  );
  CREATE INDEX external_usage_ts ON external_usage(source, ts);
  CREATE TABLE identities (
    external_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    team TEXT,
    created_at INTEGER NOT NULL
  );
  `,
  // 6: what priced a line beyond its token counts (fast mode, US-only inference, the tier)
  `
  ALTER TABLE ledger ADD COLUMN speed TEXT;
  ALTER TABLE ledger ADD COLUMN inference_geo TEXT;
  ALTER TABLE ledger ADD COLUMN price_tier TEXT;
  `,
  // 7: reconcile matches invocation logs to the gateway's own calls by request id
  `
  CREATE INDEX ledger_upstream_request_id ON ledger(upstream_request_id) WHERE upstream_request_id IS NOT NULL;
  `,
  // 8: rollups (per hour and per UTC day: every token class, cost, requests, errors) kept as lines
  // are written, for reports and budgets at fleet scale; NULL dimensions are stored as '' so they
  // group in the primary key. meta holds change counters and the prune horizon.
  `
  CREATE TABLE rollup_hour (
    hour INTEGER NOT NULL,
    key_id TEXT NOT NULL, user TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL,
    route TEXT NOT NULL, upstream TEXT NOT NULL, region TEXT NOT NULL, endpoint TEXT NOT NULL,
    requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_input_tokens INTEGER NOT NULL,
    cache_creation_5m_input_tokens INTEGER NOT NULL, cache_creation_1h_input_tokens INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL, web_fetch_requests INTEGER NOT NULL, cost_nanousd INTEGER NOT NULL,
    PRIMARY KEY (hour, key_id, user, team, project, model, route, upstream, region, endpoint)
  ) WITHOUT ROWID;
  CREATE TABLE rollup_day (
    day INTEGER NOT NULL,
    key_id TEXT NOT NULL, user TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL,
    route TEXT NOT NULL, upstream TEXT NOT NULL, region TEXT NOT NULL, endpoint TEXT NOT NULL,
    requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_input_tokens INTEGER NOT NULL,
    cache_creation_5m_input_tokens INTEGER NOT NULL, cache_creation_1h_input_tokens INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL, web_fetch_requests INTEGER NOT NULL, cost_nanousd INTEGER NOT NULL,
    PRIMARY KEY (day, key_id, user, team, project, model, route, upstream, region, endpoint)
  ) WITHOUT ROWID;
  CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  INSERT INTO meta (name, value) VALUES ('keys_version', 0), ('budgets_version', 0), ('pruned_before', 0);
  `,
  // 9: aggregates come from the rollups now, so the per-team, per-project, per-key and
  // per-session indexes only slowed every insert (about 25 µs a line); listings filtered by them
  // read the time index. ledger_user_ts stays: one engineer's lines is the listing asked most.
  `
  DROP INDEX IF EXISTS ledger_team_ts;
  DROP INDEX IF EXISTS ledger_project_ts;
  DROP INDEX IF EXISTS ledger_key_ts;
  DROP INDEX IF EXISTS ledger_session;
  `,
  // 10: sign-in (Claude Code's /login): device grants (RFC 8628), sessions of signed-in users,
  // and their tokens, stored as SHA-256 hashes only.
  `
  CREATE TABLE device_grants (
    device_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    interval_s INTEGER NOT NULL,
    last_poll_at INTEGER,
    status TEXT NOT NULL,
    state TEXT UNIQUE,
    pkce_verifier TEXT,
    nonce TEXT,
    session_id TEXT,
    denied_reason TEXT
  );
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    email TEXT,
    name TEXT,
    groups TEXT NOT NULL,
    team TEXT,
    idp_refresh_token TEXT,
    created_at INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
  );
  CREATE INDEX tokens_session ON tokens(session_id);
  CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE fleet_reports (
    identity TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    team TEXT,
    groups TEXT NOT NULL,
    checksum TEXT NOT NULL,
    seen_at INTEGER NOT NULL
  );
  CREATE TABLE served_settings (checksum TEXT PRIMARY KEY, first_served_at INTEGER NOT NULL);
  INSERT INTO meta (name, value) VALUES ('sessions_version', 0);
  `,
  // 6: keys may expire; the ledger records Bedrock's service tier
  `
  ALTER TABLE keys ADD COLUMN expires_at INTEGER;
  ALTER TABLE ledger ADD COLUMN service_tier TEXT;
  `,
];
