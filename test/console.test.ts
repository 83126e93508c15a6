// The web console end to end in Debian's Chromium (playwright-core): sign in through the
// identity provider and with the admin token, read a team's spend over a date range and check
// it against `tollgate report`, create and revoke a key and watch Claude-Code-style requests
// with it succeed and then fail, set a budget and see it enforced, open a request's detail, a
// read-only role, a narrow window, and no request leaving for another origin.
//
// With TOLLGATE_SCREENSHOTS=<dir>, the main pages are saved there (the README's pictures).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { FakeOidc } from './helpers/fake-oidc.js';
import { claudeBody, startGateway, upstreamYaml, type TestGateway } from './helpers/gateway.js';
import { ledgerLine } from './helpers/store-conformance.js';
import { tollgateAsync } from './helpers/cli.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'console-admin-token-0123456789';
const SHOTS = process.env.TOLLGATE_SCREENSHOTS;
const DAY = 86_400_000;
// Each request through the fake upstream: 1000 in + 100 out on Sonnet 4.5 = $0.0045.
const USAGE = { usageStart: { input_tokens: 1000, output_tokens: 1 }, usageEnd: { output_tokens: 100 } };

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe(
  'web console in headless Chromium',
  { skip: existsSync(CHROMIUM) || process.env.CI ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` },
  () => {
    let fake: FakeAnthropic;
    let idp: FakeOidc;
    let t: TestGateway;
    let browser: Browser;
    /** Every URL any page asked for. */
    const requested: string[] = [];
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());

    const post = async (key: string) => {
      const res = await request(t.url + '/v1/messages', {
        method: 'POST',
        body: claudeBody(300, { model: 'claude-sonnet-4-5' }),
        headers: { authorization: `Bearer ${key}` },
      });
      await res.body.text();
      return res.statusCode;
    };

    const context = async (width = 1366, height = 900): Promise<{ ctx: BrowserContext; page: Page }> => {
      const ctx = await browser.newContext({ viewport: { width, height } });
      const page = await ctx.newPage();
      page.on('request', (r) => requested.push(r.url()));
      page.on('dialog', (d) => void d.accept());
      return { ctx, page };
    };

    const shot = async (page: Page, name: string) => {
      if (!SHOTS) return;
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: false });
    };

    const signInWithIdp = async (page: Page, who: string) => {
      idp.current = who;
      await page.goto(`${t.url}/console/`);
      await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
      await page.getByRole('navigation', { name: 'pages' }).waitFor();
    };

    before(async () => {
      fake = await new FakeAnthropic().start();
      fake.fallback = { kind: 'stream', ...USAGE };
      idp = await new FakeOidc().start();
      idp.addUser({ sub: 'u-pat', email: 'pat@example.com', name: 'Pat', groups: ['platform-admins'] });
      idp.addUser({ sub: 'u-fin', email: 'fin@example.com', name: 'Fin', groups: ['finance'] });
      idp.addUser({ sub: 'u-dev', email: 'dev@example.com', name: 'Dev', groups: ['eng'] });
      t = await startGateway(
        upstreamYaml(fake.url) +
          `admin: { token: ${TOKEN} }\n` +
          `auth:\n  oidc: { issuer: "${idp.url}", client_id: tollgate, client_secret: idp-client-secret }\n` +
          `console: { admin_groups: [platform-admins], read_groups: [finance] }\n` +
          `routes: { teams: { core: [anthropic] } }\n` +
          `policy: { teams: { data: { allow: [sonnet, haiku] } } }\n`,
      );
      // Twenty days of history for two teams (and one engineer without a team), at known costs.
      const lines = [];
      for (let d = 0; d < 20; d++) {
        for (const [user, team, cost] of [
          ['ann', 'core', 1_250_000_000 + d * 10_000_000],
          ['bo', 'data', 730_000_000 + d * 3_000_000],
          ['cy', 'data', 90_000_000],
          ['solo', null, 5_000_001],
        ] as const)
          lines.push(
            ledgerLine({
              id: `seed-${d}-${user}`,
              ts: today - d * DAY + 10 * 3_600_000,
              user,
              team,
              model_requested: d % 3 ? 'claude-sonnet-4-5' : 'claude-opus-4-5',
              model_served: d % 3 ? 'claude-sonnet-4-5-20250929' : 'claude-opus-4-5-20251101',
              input_tokens: 10_000 + d,
              output_tokens: 2_000,
              cache_read_input_tokens: 50_000,
              cost_nanousd: cost,
              attempts: [{ upstream: 'anthropic', status: 200, error: null, duration_ms: 900 }],
            }),
          );
      }
      t.gw.ctx.store.writeBatch(lines, new Map());
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    });
    after(async () => {
      await browser?.close();
      await t.stop();
      await idp.stop();
      await fake.stop();
    });

    it("signs in through the identity provider and shows a team's spend over a date range as `tollgate report` has it", async () => {
      const { ctx, page } = await context();
      await signInWithIdp(page, 'u-pat');
      assert.match(await page.locator('header .who').innerText(), /pat@example\.com\s+admin/);
      // Days 3 to 12 ago (inclusive), by team.
      const from = isoDay(today - 12 * DAY);
      const to = isoDay(today - 3 * DAY);
      await page.locator('input[name=from]').fill(from);
      await page.locator('input[name=to]').fill(to);
      await page.locator('select[name=by]').selectOption('team');
      await page.waitForFunction(([f, tt]) => document.querySelector('.total')?.textContent?.includes(`${f} to ${tt}`) === true, [from, to] as const);
      await page.locator('table[aria-label="spend by team"]').waitFor();
      const shown = await page.$$eval('table[aria-label="spend by team"] tbody tr', (rows) =>
        rows.map((r) => [r.querySelector('[data-group]')?.textContent ?? '', Number(r.querySelector('[data-cost]')?.getAttribute('data-cost'))] as const),
      );
      const cli = await tollgateAsync(['report', '--by', 'team', '--since', from, '--until', isoDay(Date.parse(to) + DAY), '--json', '--config', t.configFile]);
      assert.equal(cli.status, 0, cli.stderr);
      const expected = (JSON.parse(cli.stdout) as { team: string | null; cost_nanousd: number }[]).map((r) => [r.team ?? '(none)', r.cost_nanousd] as const);
      assert.deepEqual(
        [...shown].sort((a, b) => a[0].localeCompare(b[0])),
        [...expected].sort((a, b) => a[0].localeCompare(b[0])),
      );
      // The core team's figure by hand: days 3..12 of 1.25 + d × 0.01 dollars.
      let core = 0;
      for (let d = 3; d <= 12; d++) core += 1_250_000_000 + d * 10_000_000;
      assert.deepEqual(
        shown.find((r) => r[0] === 'core'),
        ['core', core],
      );
      const total = await page.getByTestId('spend-total').innerText();
      assert.equal(total, `$${(expected.reduce((a, r) => a + r[1], 0) / 1e9).toLocaleString('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 })}`);
      // The chart is drawn (uPlot's canvas) with a line per team.
      await page.locator('.chart canvas').waitFor();
      assert.ok((await page.locator('.chart .u-legend .u-series').count()) >= 3);
      await page.locator('input[name=from]').fill(isoDay(today - 19 * DAY));
      await page.locator('input[name=to]').fill(isoDay(today));
      await page.waitForTimeout(300);
      await shot(page, 'spend');
      await ctx.close();
    });

    it('creates a key (secret shown once), which works until it is revoked from the console', async () => {
      const { ctx, page } = await context();
      await signInWithIdp(page, 'u-pat');
      await page.getByRole('link', { name: 'Keys' }).click();
      const form = page.getByRole('form', { name: 'create a key' });
      await form.locator('input[name=user]').fill('dora');
      await form.locator('input[name=team]').fill('core');
      await form.locator('input[name=name]').fill('laptop');
      const expires = isoDay(today + 30 * DAY);
      await form.locator('input[name=expires]').fill(expires);
      await form.getByRole('button', { name: 'Create key' }).click();
      const secret = (await page.getByTestId('new-key').innerText()).trim();
      assert.match(secret, /^tg_[A-Za-z0-9_-]{43}$/);
      await shot(page, 'keys');
      assert.equal(await post(secret), 200);
      const rec = t.gw.ctx.store.listKeys().find((k) => k.user === 'dora')!;
      // Only the hash is stored.
      assert.ok(!JSON.stringify(rec).includes(secret));
      assert.equal(rec.expires_at, Date.parse(`${expires}T00:00:00Z`));
      assert.match(await page.locator('tr', { hasText: rec.id }).innerText(), new RegExp(expires));
      await page.getByRole('button', { name: 'Done' }).click();
      await page.getByRole('button', { name: `revoke ${rec.id}` }).click();
      await page.locator('tr', { hasText: rec.id }).waitFor({ state: 'detached' });
      assert.equal(await post(secret), 401);
      const audit = t.gw.ctx.store.listAudit(10);
      assert.ok(audit.some((e) => e.action === 'key.create' && e.actor === 'console:pat@example.com'));
      assert.ok(audit.some((e) => e.action === 'key.revoke' && e.target === rec.id && e.actor === 'console:pat@example.com'));
      await ctx.close();
    });

    it('sets a budget that the gateway then enforces, and shows it spent', async () => {
      const { ctx, page } = await context();
      await signInWithIdp(page, 'u-pat');
      const key = t.key('erin', 'core').secret;
      await page.getByRole('link', { name: 'Budgets' }).click();
      const form = page.getByRole('form', { name: 'set a budget' });
      await form.locator('select[name=scope]').selectOption('user');
      await form.locator('input[name=value]').fill('erin');
      await form.locator('select[name=period]').selectOption('day');
      await form.locator('input[name=limit]').fill('0.01');
      await form.getByRole('button', { name: 'Set budget' }).click();
      await page.getByText('Budget set: user erin, $0.01 a day (hard).').waitFor();
      // $0.0045 a request against $0.01: two pass, the third is over the limit.
      const statuses = [await post(key), await post(key), await post(key), await post(key)];
      assert.deepEqual(statuses.slice(0, 2), [200, 200]);
      assert.ok(statuses.includes(429), String(statuses));
      await page.reload();
      const row = page.locator('table[aria-label="budgets"] tr', { hasText: 'user erin' });
      await row.waitFor();
      assert.match(await row.innerText(), /exhausted/);
      assert.match(await row.innerText(), /\$0\.01/);
      await shot(page, 'budgets');
      await ctx.close();
    });

    it("opens a request's detail: tokens, cost, attempts, timing", async () => {
      const { ctx, page } = await context();
      await signInWithIdp(page, 'u-pat');
      await page.getByRole('link', { name: 'Ledger' }).click();
      await page.locator('input[name=user]').fill('erin');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText(/^\d+ lines$/).waitFor();
      // A served request (the latest of erin's is the budget's refusal).
      const first = page
        .locator('table[aria-label="ledger lines"] tbody tr')
        .filter({ has: page.locator('td:nth-child(6)', { hasText: /^200$/ }) })
        .first();
      await first.click();
      const detail = page.getByRole('region', { name: 'request detail' });
      await detail.waitFor();
      // The region opens at once; its figures follow when the line is fetched.
      await page.getByTestId('line-cost').waitFor();
      const id = (await detail.locator('h2 code').innerText()).trim();
      const line = t.gw.ctx.store.queryLedger({ id })[0]!;
      assert.equal(line.user, 'erin');
      assert.equal(line.http_status, 200);
      const text = await detail.innerText();
      assert.match(text, new RegExp(`Input\\s+${line.input_tokens.toLocaleString('en-US')}`));
      assert.match(text, new RegExp(`Output\\s+${line.output_tokens.toLocaleString('en-US')}`));
      const cost = await page.getByTestId('line-cost').innerText();
      if (line.priced) assert.ok(cost.startsWith(`$${(line.cost_nanousd / 1e9).toFixed(9)}`), `${cost} vs ${line.cost_nanousd}`);
      assert.match(await page.getByTestId('timing').innerText(), /first byte .* ms · total \d+ ms/);
      assert.equal(await detail.locator('table[aria-label="attempts"] tbody tr').count(), line.attempts.length);
      // The page holds no prompt text (the ledger has none to show).
      assert.ok(!(await page.content()).includes('function add(a, b)'));
      assert.match(page.url(), new RegExp(`#/ledger/${id}$`));
      await shot(page, 'request');
      await ctx.close();
    });

    it('gives the read-only role no way to change things, and refuses people outside the console groups', async () => {
      const { ctx, page } = await context();
      await signInWithIdp(page, 'u-fin');
      assert.match(await page.locator('header .who').innerText(), /fin@example\.com\s+read-only/);
      await page.getByRole('link', { name: 'Keys' }).click();
      await page.locator('table[aria-label="keys"]').waitFor();
      assert.equal(await page.getByRole('form', { name: 'create a key' }).count(), 0);
      await page.getByRole('link', { name: 'Teams & users' }).click();
      const teams = page.locator('table[aria-label="teams"]');
      await teams.waitFor();
      assert.match(await teams.innerText(), /data\s+anthropic\s+allow sonnet, haiku/);
      await shot(page, 'teams');
      // The route advisor answers as the questions change.
      await page.getByRole('link', { name: 'Advice' }).click();
      const advice = page.getByTestId('route-advice');
      await advice.waitFor();
      const before = await advice.innerText();
      await page.getByRole('region', { name: 'route advice' }).locator('select[name=cloud]').selectOption('aws');
      await page.waitForFunction((b) => document.querySelector('[data-testid=route-advice]')?.textContent !== b, before);
      assert.match(await advice.innerText(), /^bedrock/);
      await page.getByRole('link', { name: 'Alerts & audit' }).click();
      await page.locator('table[aria-label="audit log"]').waitFor();
      assert.match(await page.locator('table[aria-label="audit log"]').innerText(), /console\.sign_in/);
      await ctx.close();
      const other = await context();
      idp.current = 'u-dev';
      await other.page.goto(`${t.url}/console/`);
      await other.page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
      await other.page.getByText(/not in a console group/).waitFor();
      await other.ctx.close();
    });

    it('signs in with the admin token, works in a narrow window, signs out; no request leaves for another origin', async () => {
      const { ctx, page } = await context(390, 800);
      await page.goto(`${t.url}/console/`);
      await page.locator('input[name=token]').fill('wrong-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('wrong admin token').waitFor();
      await page.locator('input[name=token]').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('navigation', { name: 'pages' }).waitFor();
      await page.locator('table[aria-label="spend by team"]').waitFor();
      // The page itself does not scroll sideways; wide tables scroll in their own box.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 390px window`);
      await shot(page, 'narrow');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('input[name=token]').waitFor();
      await ctx.close();
      const origin = new URL(t.url).origin;
      const idpOrigin = new URL(idp.url).origin;
      const foreign = requested.filter((u) => !u.startsWith(origin) && !u.startsWith(idpOrigin) && !u.startsWith('data:'));
      assert.deepEqual(foreign, []);
      // The identity provider is reached only by the sign-in redirect, never by the app.
      assert.ok(requested.filter((u) => u.startsWith(idpOrigin)).every((u) => new URL(u).pathname === '/authorize'));
    });
  },
);
