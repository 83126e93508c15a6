/// <reference lib="dom" />
// The HTML report renders in a real headless Chromium without network access, and every chart
// is drawn (its canvas has painted pixels). Writes a screenshot next to the report.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tollgate } from './helpers/cli.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-html-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// CI installs Debian's chromium (.ci/run); elsewhere the test needs it too, or is skipped.
describe('HTML report in headless Chromium', { skip: existsSync(CHROMIUM) || process.env.CI ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, () => {
  it('renders every chart offline', async () => {
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'store: { sqlite: ./t.db }\n');
    assert.equal(tollgate(['dev', 'seed-ledger', '--days', '30', '--config', cfg]).status, 0);
    const html = join(dir, 'report.html');
    const r = tollgate(['report', '--html', html, '--config', cfg]);
    assert.equal(r.status, 0, r.stderr);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 1500 } });
      const requests: string[] = [];
      page.on('request', (req) => { if (!req.url().startsWith('file:')) requests.push(req.url()); });
      await page.goto(`file://${html}`);
      await page.waitForSelector('body[data-rendered="yes"]', { timeout: 15_000 });
      const painted = await page.evaluate(() => Array.from(document.querySelectorAll('.chart')).map((el) => {
        const c = el.querySelector('canvas');
        if (!c) return { id: el.id, painted: 0 };
        const ctx = c.getContext('2d')!;
        const img = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < img.length; i += 4) if (img[i]! > 0) n++;
        return { id: el.id, painted: n };
      }));
      assert.deepEqual(painted.map((p) => p.id), ['c-time', 'c-model', 'c-users', 'c-cache', 'c-seats']);
      for (const p of painted) assert.ok(p.painted > 500, `${p.id} drew ${p.painted} pixels`);
      assert.deepEqual(requests, [], 'no network requests');
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 20_000);
      if (process.env.TOLLGATE_SCREENSHOT) await page.screenshot({ path: process.env.TOLLGATE_SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
