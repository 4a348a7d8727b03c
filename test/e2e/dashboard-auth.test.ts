// The dashboard in chromium against a server with --auth-reads: it says a token is needed instead of redialing forever.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { PlexusServer } from '../../src/server/http.js';
import { TOKEN, openDashboard } from './dashboard-helpers.js';

describe('dashboard with --auth-reads', () => {
  let server: PlexusServer;
  let browser: Browser;
  let close: () => Promise<void>;
  before(async () => { ({ server, browser, close } = await openDashboard({ authReads: true })); });
  after(async () => { await close?.(); });

  it('without a token says a token is needed instead of reconnecting forever; with one it connects', async () => {
    const page = await browser.newPage();
    let upgrades = 0;
    page.on('websocket', () => upgrades++);
    await page.goto(server.url + '/#/graph');
    await page.getByTestId('token-needed').waitFor();
    await page.getByTestId('status-gun').filter({ hasText: 'token' }).waitFor();
    await page.getByTestId('nav-ledger').click();
    await page.getByTestId('status-evt').filter({ hasText: 'token' }).waitFor();
    const before = upgrades;
    await page.waitForTimeout(2500);
    assert.equal(upgrades, before, 'no more dials once the page knows a token is needed');
    assert.ok(before <= 2, `dialed ${before} times`);
    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByTestId('token-input').press('Enter');
    await page.waitForLoadState('load');
    await page.getByTestId('nav-graph').click();
    await page.getByTestId('status-gun').filter({ hasText: 'connected' }).waitFor();
    assert.equal(await page.getByTestId('token-needed').count(), 0);
    await page.close();
  });
});
