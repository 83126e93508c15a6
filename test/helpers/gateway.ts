// Starts a real gateway (the same assembly `tollgate serve` uses) on loopback with a scratch
// store, for end-to-end tests.
import { after } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { mintKey } from '../../src/identity/keys.js';
import type { Gateway } from '../../src/server/app.js';
import { createGateway } from '../../src/server/start.js';
import { PostgresStore } from '../../src/store/postgres/index.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import { sharedPostgres } from './postgres.js';

export interface TestGateway {
  gw: Gateway;
  url: string;
  dir: string;
  configFile: string;
  key(user?: string, team?: string | null, project?: string | null): { secret: string; id: string };
  stop(): Promise<void>;
  /** Stops without removing the directory (to restart on the same store). */
  halt(): Promise<void>;
}

/** The SQLite file beside the config, or with TOLLGATE_TEST_STORE=postgres a fresh PostgreSQL
 * database: the whole suite runs on either store. */
export async function storeLocation(dir: string, sqliteFile = 'tollgate.db'): Promise<string> {
  if (process.env.TOLLGATE_TEST_STORE !== 'postgres') return `sqlite: ./${sqliteFile}`;
  // A gateway restarted in the same directory finds the same database.
  const remembered = join(dir, 'postgres-url');
  if (!existsSync(remembered)) writeFileSync(remembered, await (await sharedPostgres()).database());
  return `postgres: "${readFileSync(remembered, 'utf8')}"`;
}

/** The store a gateway started in `dir` uses (SQLite or PostgreSQL, as the suite runs), opened
 * from outside it, as the CLI or another replica would. */
export async function storeFor(dir: string, sqliteFile = 'tollgate.db'): Promise<Store> {
  const where = await storeLocation(dir, sqliteFile);
  if (where.startsWith('postgres:')) return new PostgresStore(readFileSync(join(dir, 'postgres-url'), 'utf8'));
  return new SqliteStore(join(dir, sqliteFile));
}

/** Gateways a test started and did not stop (it failed before its stop()): stopped when the
 * file's tests end, so a failure is reported instead of the file hanging until its timeout. */
const running = new Set<Gateway>();
// Only under the test runner (the benchmarks import this file too).
if (process.env.NODE_TEST_CONTEXT)
  after(async () => {
    for (const gw of running) {
      await gw.close(100).catch(() => {});
      gw.ctx.store.close();
    }
    running.clear();
  });

export async function startGateway(
  yaml: string,
  opts: {
    logger?: Logger;
    env?: NodeJS.ProcessEnv;
    server?: string;
    storeExtra?: string;
    wallNow?: () => number;
    dir?: string;
    /** The store line itself (e.g. `postgres: "…"`), instead of the suite's choice. */
    store?: string;
  } = {},
): Promise<TestGateway> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const configFile = join(dir, 'tollgate.yaml');
  writeFileSync(
    configFile,
    `store: { ${opts.store ?? (await storeLocation(dir))}${opts.storeExtra ? `, ${opts.storeExtra}` : ''} }\nserver: { host: 127.0.0.1, port: 0${opts.server ? `, ${opts.server}` : ''} }\n${yaml}`,
  );
  const loaded = loadConfig(configFile, opts.env ?? process.env);
  const gw = createGateway(loaded, { logger: opts.logger ?? silentLogger, pollMs: 50, wallNow: opts.wallNow });
  const addr = await gw.listen();
  running.add(gw);
  return {
    gw,
    dir,
    configFile,
    url: `http://127.0.0.1:${addr.port}`,
    key(user = 'alice', team = 'core', project = null) {
      const k = mintKey({ user, team, project }, Date.now());
      gw.ctx.store.insertKey(k.record);
      return { secret: k.secret, id: k.record.id };
    },
    async stop() {
      running.delete(gw);
      await gw.close(100);
      gw.ctx.store.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    },
    async halt() {
      running.delete(gw);
      await gw.close(100);
      gw.ctx.store.close();
    },
  };
}

export function upstreamYaml(url: string, extra = ''): string {
  return `upstreams:\n  - { name: anthropic, type: anthropic, base_url: "${url}", api_key: sk-upstream-secret${extra} }\n`;
}

/** A Claude Code-like request body of roughly `size` bytes. */
export function claudeBody(size = 50_000, opts: { model?: string; stream?: boolean; sessionId?: string } = {}): Buffer {
  const filler = 'function add(a, b) {\n  return a + b; // "sum"\n}\n\t'.repeat(Math.ceil(size / 50)).slice(0, size);
  return Buffer.from(
    JSON.stringify({
      model: opts.model ?? 'claude-opus-5-5',
      max_tokens: 32000,
      stream: opts.stream ?? true,
      system: [{ type: 'text', text: 'You are Claude Code.' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: filler }] }],
      metadata: {
        user_id: JSON.stringify({ device_id: 'ab'.repeat(32), account_uuid: '', session_id: opts.sessionId ?? '11111111-2222-3333-4444-555555555555' }),
      },
    }),
  );
}

export function writeFile(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
