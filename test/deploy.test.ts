// Running it: the systemd unit passes `systemd-analyze verify` without a warning and its
// ExecStart starts a gateway that answers and stops cleanly on SIGTERM; the Dockerfile (which
// cannot be built on these machines: no Docker) is checked as far as reading allows: two stages,
// every file it copies exists after the build, a non-root user, and a healthcheck that works.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';

const root = packageRoot();
const unit = readFileSync(join(root, 'deploy', 'tollgate.service'), 'utf8');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** The unit as installed on this machine: ExecStart pointing at this checkout and this Node. */
function localUnit(): string {
  return unit.replace(/^ExecStart=\/usr\/bin\/node \/opt\/tollgate\//m, `ExecStart=${process.execPath} ${root}/`);
}

describe('deployment files', () => {
  it(
    'systemd unit: verified by systemd-analyze without a warning',
    { skip: analyze ? false : 'systemd-analyze not installed (apt-get install systemd)' },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-unit-'));
      try {
        const file = join(dir, 'tollgate.service');
        writeFileSync(file, localUnit());
        const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr.trim(), '', r.stderr);
        // The check can fail: a misspelt directive is reported.
        writeFileSync(file, localUnit().replace('Restart=on-failure', 'Restart=sometimes'));
        assert.match(spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' }).stderr, /restart specifier/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it("systemd unit: its ExecStart, environment and working directory run a gateway that stops cleanly on the unit's signal", async () => {
    const exec = /^ExecStart=(.+)$/m.exec(localUnit())![1]!.split(' ');
    const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    assert.equal(env.TOLLGATE_CONFIG, '/etc/tollgate/tollgate.yaml');
    assert.match(unit, /^KillSignal=SIGTERM$/m);
    assert.match(unit, /^User=tollgate$/m);
    const fake = await new FakeAnthropic().start();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-unit-'));
    writeFileSync(
      join(dir, 'tollgate.yaml'),
      `server: { port: 0 }\nupstreams:\n  - { name: anthropic, type: anthropic, base_url: "${fake.url}", api_key: sk-x }\n`,
    );
    const child = spawn(exec[0]!, [...exec.slice(1)], {
      cwd: dir,
      env: { ...process.env, ...env, TOLLGATE_CONFIG: join(dir, 'tollgate.yaml') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let err = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(err)), 15_000);
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      const live = await fetch(`${url}/health/live`);
      assert.equal(live.status, 200);
      // The store is in the working directory (StateDirectory=tollgate).
      assert.ok(existsSync(join(dir, 'data', 'tollgate.db')));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Dockerfile: two stages, the built files it copies exist, runs as a non-root user with a working healthcheck', async () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\w+))?$/gm)];
    assert.equal(froms.length, 2);
    assert.equal(froms[0]![2], 'build');
    // The same Node major as the engines field and CI.
    assert.match(froms[1]![1]!, /^node:20-/);
    for (const m of dockerfile.matchAll(/^COPY --from=build \/src\/(\S+) /gm)) assert.ok(existsSync(join(root, m[1]!)), `${m[1]} is not built`);
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(users, ['node']);
    assert.match(dockerfile, /^EXPOSE 8787$/m);
    assert.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/bin\/tollgate\.js"\]$/m);
    // The healthcheck's own command, against a gateway on a free port: 0 when live, 1 when not.
    const hc = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile);
    assert.ok(hc, 'no HEALTHCHECK CMD');
    const argv = JSON.parse(hc[1]!) as string[];
    const fake = await new FakeAnthropic().start();
    const { startGateway, upstreamYaml } = await import('./helpers/gateway.js');
    const t = await startGateway(upstreamYaml(fake.url));
    try {
      const port = new URL(t.url).port;
      const run = (p: string) =>
        new Promise<number | null>((resolve) => {
          const c = spawn(
            process.execPath,
            argv.slice(1).map((a) => a.replace('127.0.0.1:8787', `127.0.0.1:${p}`)),
            { stdio: 'ignore' },
          );
          c.on('exit', (code) => resolve(code));
        });
      assert.equal(await run(port), 0);
      await t.halt();
      assert.equal(await run(port), 1);
    } finally {
      await t.stop().catch(() => {});
      await fake.stop();
    }
  });
});
