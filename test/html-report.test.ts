/// <reference lib="dom" />
// The HTML report renders in a real headless Chromium without network access, for an empty
// store, a single request and the demo month: totals tables that add up to the ledger, charts
// with dollar axes from zero, a time axis that fits one day or a month, legends without
// placeholders, every chart drawn. Writes a screenshot next to the report.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { LedgerLine, Store } from '../src/store/types.js';
import { tollgate } from './helpers/cli.js';
import { storeFor, storeLocation } from './helpers/gateway.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const NOW = '2026-11-30T12:00:00Z';
let dir: string;
let browser: Browser;

interface Page {
  tables: { id: string; rows: number[]; total: number }[];
  charts: { id: string; painted: number; yMin: number; yMax: number; xMin: number; xMax: number }[];
  legends: string;
  empty: boolean;
  requests: string[];
}

/** Writes the report for a store prepared by `fill`, loads it, and reads what a person sees. */
async function render(
  name: string,
  fill: (cfg: string, open: () => Promise<Store>) => void | Promise<void>,
  screenshot?: string,
): Promise<{ page: Page; ledgerNano: number }> {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const cfg = join(d, 'c.yaml');
  // SQLite, or PostgreSQL when the suite runs on it (TOLLGATE_TEST_STORE=postgres).
  writeFileSync(cfg, `store: { ${await storeLocation(d, 't.db')} }\n`);
  await fill(cfg, () => storeFor(d, 't.db'));
  const html = join(dir, `${name}.html`);
  const r = tollgate(['report', '--html', html, '--config', cfg], { env: { TOLLGATE_NOW: NOW } });
  assert.equal(r.status, 0, r.stderr);
  const s = await storeFor(d, 't.db');
  const ledgerNano = s.queryLedger({ since: Date.parse(NOW) - 30 * 86400e3, until: Date.parse(NOW) }).reduce((a, l) => a + l.cost_nanousd, 0);
  s.close();
  const page = await browser.newPage({ viewport: { width: 1300, height: 1500 } });
  const requests: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith('file:')) requests.push(req.url());
  });
  await page.goto(`file://${html}`);
  await page.waitForSelector('body[data-rendered="yes"]', { timeout: 15_000 });
  const seen = await page.evaluate(() => {
    const charts = (window as unknown as { __charts: Record<string, { scales: Record<string, { min: number; max: number }> }> }).__charts;
    return {
      tables: Array.from(document.querySelectorAll('table.totals')).map((t) => ({
        id: t.id,
        rows: Array.from(t.querySelectorAll('tbody tr')).map((tr) => Number((tr as HTMLElement).dataset.nano)),
        total: Number((t.querySelector('tfoot tr') as HTMLElement).dataset.nano),
      })),
      charts: Array.from(document.querySelectorAll('.chart')).map((el) => {
        const c = el.querySelector('canvas');
        let painted = 0;
        if (c) {
          const img = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          for (let i = 3; i < img.length; i += 4) if (img[i]! > 0) painted++;
        }
        const sc = charts[el.id]!.scales;
        return { id: el.id, painted, yMin: sc.y!.min, yMax: sc.y!.max, xMin: sc.x!.min, xMax: sc.x!.max };
      }),
      legends: Array.from(document.querySelectorAll('.u-legend'))
        .map((l) => l.textContent ?? '')
        .join(' | '),
      empty: document.getElementById('no-data') !== null,
    };
  });
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(statSync(screenshot).size > 20_000);
  }
  await page.close();
  return { page: { ...seen, requests }, ledgerNano };
}

function checkTotals(p: Page, ledgerNano: number): void {
  assert.deepEqual(
    p.tables.map((t) => t.id),
    ['t-team', 't-model', 't-route', 't-user'],
  );
  for (const t of p.tables) {
    assert.equal(t.total, ledgerNano, `${t.id}: total equals the ledger`);
    assert.equal(
      t.rows.reduce((a, b) => a + b, 0),
      ledgerNano,
      `${t.id}: rows add up to the ledger`,
    );
  }
  assert.deepEqual(p.requests, [], 'no network requests');
}

// CI installs Debian's chromium (.ci/run); elsewhere the test needs it too, or is skipped.
describe(
  'HTML report in headless Chromium',
  { skip: existsSync(CHROMIUM) || process.env.CI ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` },
  () => {
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-html-'));
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });
    after(async () => {
      await browser?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('the demo month: totals tables first and exact, dollar axes from zero, a month on the time axis, real legends, every chart drawn', async () => {
      const { page, ledgerNano } = await render(
        'month',
        (cfg) => {
          assert.equal(tollgate(['dev', 'seed-ledger', '--days', '30', '--config', cfg], { env: { TOLLGATE_NOW: NOW } }).status, 0);
        },
        process.env.TOLLGATE_SCREENSHOT,
      );
      assert.ok(ledgerNano > 0);
      checkTotals(page, ledgerNano);
      assert.deepEqual(
        page.charts.map((c) => c.id),
        ['c-time', 'c-model', 'c-users', 'c-cache', 'c-seats'],
      );
      for (const c of page.charts) {
        assert.ok(c.painted > 500, `${c.id} drew ${c.painted} pixels`);
        assert.equal(c.yMin, 0, `${c.id}: the y axis starts at 0`);
      }
      const cache = page.charts.find((c) => c.id === 'c-cache')!;
      assert.equal(cache.yMax, 100, 'a rate axis ends at 100 %');
      const time = page.charts.find((c) => c.id === 'c-time')!;
      const days = (time.xMax - time.xMin) / 86400;
      assert.ok(days >= 28 && days <= 30, `time axis spans ${days} days`);
      assert.doesNotMatch(page.legends, /--/, 'legends name series, no "--" placeholders');
      assert.match(page.legends, /metered/);
    });

    it('a single request: one day on the time axis, not years', async () => {
      const { page, ledgerNano } = await render('one', async (_cfg, open) => {
        const s = await open();
        const l: LedgerLine = {
          id: 'one',
          ts: Date.parse('2026-11-29T10:00:00Z'),
          key_id: 'k',
          user: 'ana',
          team: 'web',
          project: null,
          session_id: 's',
          endpoint: 'messages',
          model_requested: 'claude-opus-4-6',
          model_served: 'claude-opus-4-6',
          upstream: 'anthropic',
          route: 'anthropic',
          region: null,
          http_status: 200,
          error_type: null,
          error_code: null,
          stop_reason: 'end_turn',
          streamed: true,
          input_tokens: 1000,
          output_tokens: 100,
          cache_read_input_tokens: 0,
          cache_creation_5m_input_tokens: 0,
          cache_creation_1h_input_tokens: 0,
          web_search_requests: 0,
          web_fetch_requests: 0,
          cost_nanousd: 7_500_000,
          priced: true,
          ttfb_ms: 1,
          duration_ms: 2,
          client_aborted: false,
          upstream_request_id: null,
          message_id: null,
          upstream_model: null,
          endpoint_type: null,
          attempts: [],
        };
        s.writeBatch([l], new Map());
        s.close();
      });
      assert.equal(ledgerNano, 7_500_000);
      checkTotals(page, ledgerNano);
      const time = page.charts.find((c) => c.id === 'c-time')!;
      const day = Date.parse('2026-11-29T00:00:00Z') / 1000;
      assert.ok(
        time.xMin < day && time.xMax > day && time.xMax - time.xMin <= 3 * 86400,
        `time axis ${new Date(time.xMin * 1000).toISOString()} – ${new Date(time.xMax * 1000).toISOString()}`,
      );
      for (const c of page.charts) assert.equal(c.yMin, 0, c.id);
      assert.equal(page.charts.find((c) => c.id === 'c-cache')!.yMax, 100);
    });

    it('an empty store: zero totals and a note, no broken charts', async () => {
      const { page, ledgerNano } = await render('empty', async (_cfg, open) => (await open()).close());
      assert.equal(ledgerNano, 0);
      checkTotals(page, 0);
      assert.equal(page.empty, true);
      assert.deepEqual(page.charts, []);
    });
  },
);
