// A real PostgreSQL for the tests: the server TOLLGATE_TEST_POSTGRES names (an admin URL), or a
// throwaway cluster started from Debian's binaries (initdb, pg_ctl) in a temporary directory,
// on a free loopback port, stopped when the test file ends. Each caller gets its own database.
// Where neither is possible the Postgres tests are skipped, saying why.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** A URL for a fresh, empty database. */
  database(): Promise<string>;
  stop(): Promise<void>;
  /** Stops and starts the server (an outage), where this helper started it; null otherwise. */
  outage: { down(): void; up(): void } | null;
}

function findBin(name: string): string | null {
  const onPath = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  for (const v of readdirSync(root).sort().reverse()) {
    const p = join(root, v, 'bin', name);
    if (existsSync(p)) return p;
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Why no PostgreSQL can be had here, or null if one can. */
export function postgresUnavailable(): string | null {
  if (process.env.TOLLGATE_TEST_POSTGRES) return null;
  if (!findBin('initdb') || !findBin('pg_ctl')) return 'PostgreSQL is not installed (.ci/run installs it from Debian: apt-get install postgresql)';
  if (process.getuid?.() === 0 && spawnSync('id', ['postgres']).status !== 0) return 'running as root and there is no postgres user to run the server as';
  return null;
}

let dbCounter = 0;

let shared: Promise<TestPostgres> | null = null;

/** One server for the whole test process (started on first use, stopped when it exits): the
 * gateway helper's databases when the suite runs on PostgreSQL (TOLLGATE_TEST_STORE=postgres). */
export function sharedPostgres(): Promise<TestPostgres> {
  shared ??= startPostgres().then((p) => {
    process.once('exit', () => void p.stop());
    return p;
  });
  return shared;
}

export async function startPostgres(): Promise<TestPostgres> {
  const admin = process.env.TOLLGATE_TEST_POSTGRES;
  if (admin) return databases(admin, async () => {}, null);
  const initdb = findBin('initdb')!;
  const pgCtl = findBin('pg_ctl')!;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pg-'));
  // PostgreSQL will not run as root: as root the cluster belongs to the postgres user.
  const asRoot = process.getuid?.() === 0;
  const run = (bin: string, args: string[]) => {
    const [cmd, full] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    execFileSync(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', LD_PRELOAD: '' } });
  };
  if (asRoot) {
    chmodSync(dir, 0o777);
  }
  const data = join(dir, 'data');
  run(initdb, ['-D', data, '-U', 'tollgate', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
  const port = await freePort();
  const start = () =>
    run(pgCtl, [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`,
      'start',
    ]);
  start();
  let running = true;
  return databases(
    `postgres://tollgate@127.0.0.1:${port}/postgres`,
    async () => {
      try {
        if (running) run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    {
      down: () => {
        run(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']);
        running = false;
      },
      up: () => {
        start();
        running = true;
      },
    },
  );
}

function databases(adminUrl: string, stopServer: () => Promise<void>, outage: TestPostgres['outage']): TestPostgres {
  return {
    outage,
    async database() {
      const name = `tollgate_test_${process.pid}_${++dbCounter}`;
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name}`);
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      const u = new URL(adminUrl);
      u.pathname = `/${name}`;
      return u.toString();
    },
    stop: stopServer,
  };
}
