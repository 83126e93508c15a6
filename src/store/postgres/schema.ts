// The PostgreSQL schema, as versioned migrations (one transaction each, under an advisory lock
// so replicas starting together migrate once). The tables and columns are the SQLite store's,
// in PostgreSQL's types: times are ms since the epoch (BIGINT), money nano-USD (BIGINT), and
// "user" is quoted (a reserved word). Never edit a shipped migration: add the next one.

export const pgMigrations: string[] = [
  // 1: everything the SQLite store has at its migration 10.
  `
  CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT,
    "user" TEXT NOT NULL,
    team TEXT,
    project TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
  );
  -- seq: the commit sequence budgets follow (ledgerTail), as SQLite's rowid.
  CREATE TABLE ledger (
    seq BIGSERIAL NOT NULL,
    id TEXT PRIMARY KEY,
    ts BIGINT NOT NULL,
    key_id TEXT,
    "user" TEXT,
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
    streamed BOOLEAN NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_input_tokens BIGINT NOT NULL,
    cache_creation_5m_input_tokens BIGINT NOT NULL,
    cache_creation_1h_input_tokens BIGINT NOT NULL,
    web_search_requests BIGINT NOT NULL,
    web_fetch_requests BIGINT NOT NULL,
    cost_nanousd BIGINT NOT NULL,
    priced BOOLEAN NOT NULL,
    ttfb_ms DOUBLE PRECISION,
    duration_ms DOUBLE PRECISION NOT NULL,
    client_aborted BOOLEAN NOT NULL,
    upstream_request_id TEXT,
    message_id TEXT,
    upstream_model TEXT,
    endpoint_type TEXT,
    attempts JSONB,
    speed TEXT,
    inference_geo TEXT,
    price_tier TEXT
  );
  CREATE UNIQUE INDEX ledger_seq ON ledger(seq);
  -- Listings go in (ts, id) order, ids compared byte by byte as SQLite does (COLLATE "C").
  CREATE INDEX ledger_ts ON ledger(ts, id COLLATE "C");
  CREATE INDEX ledger_user_ts ON ledger("user", ts);
  CREATE INDEX ledger_upstream_request_id ON ledger(upstream_request_id) WHERE upstream_request_id IS NOT NULL;

  CREATE TABLE rollup_hour (
    hour BIGINT NOT NULL,
    key_id TEXT NOT NULL, "user" TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL,
    route TEXT NOT NULL, upstream TEXT NOT NULL, region TEXT NOT NULL, endpoint TEXT NOT NULL,
    requests BIGINT NOT NULL, errors BIGINT NOT NULL, unpriced BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cache_read_input_tokens BIGINT NOT NULL,
    cache_creation_5m_input_tokens BIGINT NOT NULL, cache_creation_1h_input_tokens BIGINT NOT NULL,
    web_search_requests BIGINT NOT NULL, web_fetch_requests BIGINT NOT NULL, cost_nanousd BIGINT NOT NULL,
    PRIMARY KEY (hour, key_id, "user", team, project, model, route, upstream, region, endpoint)
  );
  CREATE TABLE rollup_day (
    day BIGINT NOT NULL,
    key_id TEXT NOT NULL, "user" TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL,
    route TEXT NOT NULL, upstream TEXT NOT NULL, region TEXT NOT NULL, endpoint TEXT NOT NULL,
    requests BIGINT NOT NULL, errors BIGINT NOT NULL, unpriced BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cache_read_input_tokens BIGINT NOT NULL,
    cache_creation_5m_input_tokens BIGINT NOT NULL, cache_creation_1h_input_tokens BIGINT NOT NULL,
    web_search_requests BIGINT NOT NULL, web_fetch_requests BIGINT NOT NULL, cost_nanousd BIGINT NOT NULL,
    PRIMARY KEY (day, key_id, "user", team, project, model, route, upstream, region, endpoint)
  );
  CREATE TABLE meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
  INSERT INTO meta (name, value) VALUES ('keys_version', 0), ('budgets_version', 0), ('sessions_version', 0), ('pruned_before', 0);

  CREATE TABLE budgets (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    scope_value TEXT,
    period TEXT NOT NULL,
    limit_nanousd BIGINT NOT NULL,
    mode TEXT NOT NULL,
    alert_at TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE UNIQUE INDEX budgets_scope ON budgets(scope, COALESCE(scope_value, ''), period);
  CREATE TABLE alerts_sent (
    budget_id TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (budget_id, period_start, threshold)
  );
  CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    ts BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    details TEXT
  );

  CREATE TABLE telemetry_events (
    id TEXT PRIMARY KEY,
    ts BIGINT NOT NULL,
    key_id TEXT,
    "user" TEXT,
    team TEXT,
    session_id TEXT,
    otel_user_id TEXT,
    model TEXT,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_input_tokens BIGINT NOT NULL,
    cache_creation_input_tokens BIGINT NOT NULL,
    cost_nanousd BIGINT NOT NULL,
    duration_ms DOUBLE PRECISION
  );
  CREATE INDEX telemetry_events_ts ON telemetry_events(ts);
  CREATE TABLE telemetry_metrics (
    series TEXT NOT NULL,
    ts BIGINT NOT NULL,
    key_id TEXT,
    "user" TEXT,
    team TEXT,
    session_id TEXT,
    model TEXT,
    metric TEXT NOT NULL,
    kind TEXT,
    delta DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series, ts)
  );
  CREATE TABLE telemetry_cumulative (
    series TEXT PRIMARY KEY,
    start_ts BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL
  );
  CREATE TABLE external_usage (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    ts BIGINT NOT NULL,
    principal TEXT,
    session_id TEXT,
    model TEXT,
    region TEXT,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_input_tokens BIGINT NOT NULL DEFAULT 0,
    cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
    calls BIGINT NOT NULL DEFAULT 1,
    usage_type TEXT,
    cost_nanousd BIGINT NOT NULL DEFAULT 0,
    priced BOOLEAN NOT NULL DEFAULT TRUE
  );
  CREATE INDEX external_usage_ts ON external_usage(source, ts);
  CREATE TABLE identities (
    external_id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    team TEXT,
    created_at BIGINT NOT NULL
  );

  CREATE TABLE device_grants (
    device_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_s INTEGER NOT NULL,
    last_poll_at BIGINT,
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
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL,
    revoked_at BIGINT
  );
  CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
  );
  CREATE INDEX tokens_session ON tokens(session_id);
  CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE fleet_reports (
    identity TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    team TEXT,
    groups TEXT NOT NULL,
    checksum TEXT NOT NULL,
    seen_at BIGINT NOT NULL
  );
  CREATE TABLE served_settings (checksum TEXT PRIMARY KEY, first_served_at BIGINT NOT NULL);
  `,
  // 2: budget claims — each replica's share of a budget's remaining headroom (policy/budgets.ts)
  `
  CREATE TABLE budget_claims (
    budget_id TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    replica TEXT NOT NULL,
    amount BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Holds the budget's last scraps (less than a request): one replica at a time.
    final BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (budget_id, period_start, replica)
  );
  -- Rate-limit figures each replica publishes on its poll (policy/ratelimits.ts).
  CREATE TABLE rate_shares (
    counter TEXT NOT NULL,
    replica TEXT NOT NULL,
    requests DOUBLE PRECISION NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    in_flight INTEGER NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (counter, replica)
  );
  `,
  // 3: the ledger partitioned by month of ts (UTC), so a year of a large fleet stays fast: a
  // month's lines, and its indexes, are one table of their own; prune drops whole months. The
  // key becomes (id, ts) — PostgreSQL requires the partition key in it; a line's ts never
  // changes, so a line shipped again still meets itself. Lines already written move over.
  `
  ALTER TABLE ledger RENAME TO ledger_unpartitioned;
  ALTER SEQUENCE ledger_seq_seq OWNED BY NONE;
  CREATE TABLE ledger (LIKE ledger_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (ts);
  ALTER SEQUENCE ledger_seq_seq OWNED BY ledger.seq;
  -- The month's partition of a time (ms since the epoch), created when missing. Two
  -- connections may ask at once: the one that loses the race finds it made.
  CREATE FUNCTION tollgate_ledger_partition(at BIGINT) RETURNS TEXT LANGUAGE plpgsql AS $fn$
  DECLARE
    m TIMESTAMP := date_trunc('month', to_timestamp(at / 1000.0) AT TIME ZONE 'UTC');
    name TEXT := 'ledger_' || to_char(m, 'YYYYMM');
  BEGIN
    IF to_regclass(name) IS NULL THEN
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF ledger FOR VALUES FROM (%s) TO (%s)', name,
          (extract(epoch FROM m) * 1000)::BIGINT, (extract(epoch FROM m + INTERVAL '1 month') * 1000)::BIGINT);
      EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;
      END;
    END IF;
    RETURN name;
  END $fn$;
  SELECT tollgate_ledger_partition(m) FROM (SELECT DISTINCT (ts / 86400000) * 86400000 AS m FROM ledger_unpartitioned) d;
  SELECT tollgate_ledger_partition((extract(epoch FROM now()) * 1000)::BIGINT);
  INSERT INTO ledger SELECT * FROM ledger_unpartitioned;
  DROP TABLE ledger_unpartitioned;
  ALTER TABLE ledger ADD PRIMARY KEY (id, ts);
  CREATE INDEX ledger_seq ON ledger(seq);
  CREATE INDEX ledger_ts ON ledger(ts, id COLLATE "C");
  CREATE INDEX ledger_user_ts ON ledger("user", ts);
  CREATE INDEX ledger_upstream_request_id ON ledger(upstream_request_id) WHERE upstream_request_id IS NOT NULL;
  `,
  // 4: keys may expire; the ledger records Bedrock's service tier
  `
  ALTER TABLE keys ADD COLUMN expires_at BIGINT;
  ALTER TABLE ledger ADD COLUMN service_tier TEXT;
  `,
];
