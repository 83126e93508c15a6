// The real Claude Code CLI signing in to tollgate with /login, driven in a terminal (tmux) as an
// engineer would: the gateway URL comes from settings (forceLoginMethod / forceLoginGatewayUrl),
// the device code shown in the terminal is approved at a local OIDC provider, and from then on
// `claude -p` works through tollgate as that engineer, with the managed settings of their group
// applied (and their checksum reported back as tollgate computes it), a spend cap at 80 % shows
// Claude Code's own usage notice and /usage shows dollars, and access ends at the next refresh
// once the IdP no longer knows them.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { packageRoot } from '../src/util/paths.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { FakeOidc } from './helpers/fake-oidc.js';
import { startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { settingsChecksum } from '../src/clientconfig/managed-settings.js';
import { ledgerLine } from './helpers/store-conformance.js';

const CLAUDE = resolve(packageRoot(), 'node_modules', '.bin', 'claude');
const run = promisify(execFile);
const HAS_TMUX = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `tollgate-test-${process.pid}`;
/** Tokens live 90 s at the gateway, whose clock runs 80 s behind: Claude Code sees them expire
 * 10 s after they are issued and refreshes, which is when the IdP is asked again. */
const TTL_S = 90;
const SKEW_MS = 80_000;

let idp: FakeOidc;
let up: FakeAnthropic;
let g: TestGateway;
let home: string;
let project: string;

/** The environment without the suite's own auth variables (and libfaketime's handle). */
function cleanEnv(): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  // NODE_TEST_CONTEXT: node:test's marker for its child processes, which the CLI must not inherit.
  for (const [k, v] of Object.entries(process.env))
    if (!/^(ANTHROPIC_|CLAUDE_|AWS_|GOOGLE_|CLOUD_ML|VERTEX_|OTEL_|FAKETIME_SHARED|TMUX|NODE_TEST_CONTEXT)/.test(k)) clean[k] = v;
  // TZ: Claude Code shows reset times in local time; the test reads them in UTC.
  return { ...clean, HOME: home, TZ: 'UTC', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' };
}

/** tmux itself runs on the real clock (libfaketime breaks it); under a faked clock (the suite
 * run a year ahead) Claude Code in the pane gets the same fake clock as the gateway. */
function tmux(...args: string[]): string {
  const env = cleanEnv();
  for (const k of Object.keys(env)) if (k === 'LD_PRELOAD' || k.startsWith('FAKETIME')) delete env[k];
  const r = spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', env });
  return r.stdout;
}

/** The pane's command: Claude Code, on the suite's clock. */
function claudeCommand(): string {
  const fake = process.env.LD_PRELOAD?.includes('faketime') && process.env.FAKETIME;
  const q = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;
  return `${fake ? `env LD_PRELOAD=${q(process.env.LD_PRELOAD!)} FAKETIME=${q(process.env.FAKETIME!)} ` : ''}${CLAUDE}; sleep 600`;
}

const screen = () => tmux('capture-pane', '-t', 'cc', '-p');

/** Waits until the terminal shows `what` (polling the pane; a deadline, not a sleep). */
async function waitFor(what: RegExp, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (what.test(s)) return s;
    if (Date.now() > deadline) throw new Error(`the terminal never showed ${what}; it shows:\n${s}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function keys(...k: string[]): void {
  tmux('send-keys', '-t', 'cc', ...k);
}

/** Presses a key once the UI has settled, and waits until the terminal shows `then`. (A key sent
 * while a dialog is still drawing can be lost; one sent twice would move a selection twice.) */
async function press(key: string, then: RegExp): Promise<string> {
  await new Promise((r) => setTimeout(r, 700));
  keys(key);
  return waitFor(then, 15_000);
}

/** Types a line at Claude Code's prompt (shown after "❯" and a no-break space) and sends it. */
async function typeLine(text: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 700));
  keys(text);
  await waitFor(new RegExp(`❯\\s+${text.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&')}`));
  await new Promise((r) => setTimeout(r, 700));
  keys('Enter');
}

/** How Claude Code shows the start of the next month, UTC (e.g. "Jan 1, 2027, 12am (UTC)"), as a pattern. */
function nextMonthShown(ms: number): string {
  const d = new Date(ms);
  const next = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  const month = next.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${month} 1, ${next.getUTCFullYear()}, 12am \\(UTC\\)`;
}

async function claudeP(): Promise<{ is_error: boolean; result: string; session_id: string }> {
  // A failed run exits 1 and still prints its JSON result.
  const out = await run(CLAUDE, ['-p', 'say hello', '--output-format', 'json'], { env: cleanEnv(), cwd: project, timeout: 90_000 }).then(
    (r) => r.stdout,
    (err: { stdout?: string; message: string }) => err.stdout || JSON.stringify({ is_error: true, result: err.message, session_id: '' }),
  );
  return JSON.parse(out) as { is_error: boolean; result: string; session_id: string };
}

/** The browser's part of the sign-in, as the engineer would do it at the verification page. */
async function approve(userCode: string): Promise<void> {
  const submit = await request(`${g.url}/device`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `user_code=${userCode}`,
  });
  await submit.body.text();
  assert.equal(submit.statusCode, 303);
  const atIdp = await request(String(submit.headers.location));
  await atIdp.body.text();
  const done = await request(String(atIdp.headers.location));
  assert.match(await done.body.text(), /Signed in as <strong>ann@example\.com<\/strong> \(team platform\)/);
}

before(async () => {
  if (!HAS_TMUX || !existsSync(CLAUDE)) return;
  idp = await new FakeOidc().start();
  idp.addUser({ sub: 'u-ann', email: 'ann@example.com', name: 'Ann', groups: ['eng'] });
  idp.current = 'u-ann';
  up = await new FakeAnthropic().start();
  g = await startGateway(
    `${upstreamYaml(up.url)}auth:
  oidc: { issuer: "${idp.url}", client_id: tollgate, client_secret: idp-client-secret, allowed_email_domains: [example.com] }
  token_ttl: ${TTL_S}s
teams_from_groups: { eng: platform }
managed_settings:
  - groups: [eng]
    settings: { model: claude-haiku-4-5, env: { CLAUDE_CODE_GATEWAY_HINT_HEADERS: "1" } }
`,
    { wallNow: () => Date.now() - SKEW_MS },
  );
  home = mkdtempSync(join(tmpdir(), 'tollgate-login-home-'));
  project = join(home, 'project');
  mkdirSync(join(home, '.claude'), { recursive: true });
  mkdirSync(project);
  // On a machine without managed settings, Claude Code takes the gateway pin from user settings.
  writeFileSync(join(home, '.claude', 'settings.json'), JSON.stringify({ forceLoginMethod: 'gateway', forceLoginGatewayUrl: g.url }));
  // Onboarding done and the project trusted, as on an engineer's machine after the first run.
  writeFileSync(
    join(home, '.claude.json'),
    JSON.stringify({ hasCompletedOnboarding: true, theme: 'dark', projects: { [project]: { hasTrustDialogAccepted: true } } }),
  );
});

after(async () => {
  if (!HAS_TMUX || !existsSync(CLAUDE)) return;
  tmux('kill-server');
  // Claude Code may still be writing its session files as it goes.
  await new Promise((r) => setTimeout(r, 500));
  await g.stop();
  await up.stop();
  await idp.stop();
  rmSync(home, { recursive: true, force: true, maxRetries: 50, retryDelay: 200 });
});

describe(
  'real Claude Code CLI: /login through tollgate',
  { skip: !existsSync(CLAUDE) ? 'claude CLI not installed (npm ci installs it)' : !HAS_TMUX ? 'tmux not installed (.ci/run installs it)' : false },
  () => {
    it('signs in with /login, then works as the engineer: ledger, managed settings applied and reported, usage notice and /usage in dollars, and the IdP ends access at refresh', async () => {
      tmux('new-session', '-d', '-s', 'cc', '-x', '200', '-y', '50', '-c', project, claudeCommand());
      // The prompt is ready once the status line shows.
      await waitFor(/shift\+tab to cycle/);
      keys('/login');
      await waitFor(/❯ \/login/);
      await press('Enter', /Enter to connect/);
      await press('Enter', /Yes, trust this gateway/);
      await press('Up', /❯ Yes, trust this gateway/);
      keys('Enter');
      const shown = await waitFor(/Code:\s+[A-Z]{4}-[A-Z]{4}/);
      const code = /Code:\s+([A-Z]{4}-[A-Z]{4})/.exec(shown)![1]!;
      await approve(code);
      await waitFor(/Signed in to .* as ann@example\.com/);
      await press('Up', /❯ Yes, continue/);
      keys('Enter');
      await waitFor(/Connected to/);
      keys('Enter');
      // Settings that set environment variables need the engineer's approval in Claude Code.
      await waitFor(/Managed settings require approval/);
      await press('Down', /❯ Yes, I trust these settings/);
      keys('Enter');
      // The group's settings are in force: Claude Code says where its model comes from.
      await waitFor(/Using Haiku 4\.5 \(from managed settings\)/);
      const creds = JSON.parse(readFileSync(join(home, '.claude', '.credentials.json'), 'utf8')) as { enterpriseGateway?: { url: string; email: string } };
      assert.deepEqual([creds.enterpriseGateway?.url, creds.enterpriseGateway?.email], [g.url, 'ann@example.com']);

      // claude -p now goes through tollgate as ann, with her group's managed settings applied:
      // they pin the model to Haiku, which the ledger line shows.
      const r = await claudeP();
      assert.equal(r.is_error, false, r.result);
      await new Promise((res) => setTimeout(res, 0));
      const lines = g.gw.ctx.store.queryLedger({}).filter((l) => l.session_id === r.session_id && l.endpoint === 'messages');
      assert.ok(lines.length >= 1);
      assert.deepEqual([lines[0]!.user, lines[0]!.team], ['ann@example.com', 'platform']);
      assert.ok(
        lines.every((l) => l.model_requested === 'claude-haiku-4-5'),
        `managed settings pinned the model: ${lines.map((l) => l.model_requested).join(', ')}`,
      );

      // Earlier this month ann spent $400 (less what she just spent) against a $500 monthly cap:
      // the next answer in the terminal carries the usage headers, Claude Code shows its own
      // notice, and /usage shows the dollars.
      const spentSoFar = lines.reduce((sum, l) => sum + l.cost_nanousd, 0);
      const t = Date.now() - SKEW_MS;
      const earlier = { id: 'earlier', ts: t - 1000, user: 'ann@example.com', team: 'platform', cost_nanousd: 400e9 - spentSoFar };
      g.gw.ctx.store.writeBatch([ledgerLine(earlier)], new Map());
      g.gw.ctx.store.upsertBudget({
        id: 'bud_ann',
        ...{ scope: 'user', scope_value: 'ann@example.com', period: 'month', limit_nanousd: 500e9, mode: 'hard', alert_at: [] },
        ...{ created_at: t, updated_at: t },
      });
      g.gw.ctx.spend.budgets.reload();
      const resets = nextMonthShown(t);
      await typeLine('say hello');
      await waitFor(new RegExp(`You've used 80% of your usage credits · resets ${resets}`));
      await typeLine('/usage');
      await waitFor(new RegExp(`\\$400\\.00 / \\$500\\.00 spent this month · Resets ${resets}`));
      keys('Escape');

      // Claude Code reports the checksum of the managed settings it loaded: computed its way, it
      // equals tollgate's.
      const reported = g.gw.ctx.store.listFleet().find((f) => f.user === 'ann@example.com');
      assert.equal(reported?.checksum, settingsChecksum({ model: 'claude-haiku-4-5', env: { CLAUDE_CODE_GATEWAY_HINT_HEADERS: '1' } }));

      // Removed at the IdP: at the next refresh (the token has expired for Claude Code by now)
      // the gateway asks the IdP, which refuses, and access ends.
      idp.users.get('u-ann')!.disabled = true;
      await new Promise((res) => setTimeout(res, 11_000));
      const before = idp.refreshGrants;
      const refused = await claudeP();
      assert.equal(refused.is_error, true, 'no access after the IdP removed her');
      assert.ok(idp.refreshGrants > before, 'the refresh asked the IdP');
    });
  },
);
