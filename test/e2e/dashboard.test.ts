import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { ARTIFACTS, buildWeb, launchChromium } from './helpers.js';

const TOKEN = 'dashboard-e2e-token';

describe('dashboard in a real browser (chromium)', () => {
  let server: PlexusServer;
  let browser: Browser;
  let page: Page;
  const d = tmpDir();
  const pageErrors: string[] = [];

  before(async () => {
    buildWeb(join(d.path, 'web'));
    server = await startServer({ port: 0, dataDir: join(d.path, 'data'), webDir: join(d.path, 'web'), logLevel: 'silent', mounts: defaultMounts, token: TOKEN, env: {} });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // The token is entered once (as a user would) and kept in localStorage.
    await page.goto(server.url + '/');
    await page.evaluate((t) => localStorage.setItem('plexus.token', t), TOKEN);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    d.rm();
  });

  const has = (name: string) => server.mounts.some((m) => m.name === name);

  it('loads at / and shows health: status, uptime, connections, module stats', async () => {
    await page.goto(server.url + '/#/health');
    await page.getByTestId('health-Status').waitFor();
    assert.equal(await page.getByTestId('health-Status').textContent(), 'ok');
    await page.getByTestId('module-blob').waitFor();
    assert.match(await page.getByTestId('health-Auth').textContent() ?? '', /token/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-health.png'), fullPage: true });
  });

  it('uploads a blob by drag and drop (and by the file picker), lists it, downloads it, sets an anchor and shows its timeline', async () => {
    await page.goto(server.url + '/#/blobs');
    await page.getByTestId('drop-zone').waitFor();
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['hello from a drop'], 'drop.txt', { type: 'text/plain' }));
      const zone = document.querySelector('[data-testid=drop-zone]')!;
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    const want = createHash('sha256').update('hello from a drop').digest('hex');
    await page.getByTestId('uploaded-ref').filter({ hasText: want }).waitFor();
    assert.equal(await (await fetch(`${server.url}/blob/${want}`)).text(), 'hello from a drop');
    await page.getByTestId('file-input').setInputFiles({ name: 'picked.txt', mimeType: 'text/plain', buffer: Buffer.from('picked file') });
    const picked = createHash('sha256').update('picked file').digest('hex');
    await page.getByTestId('uploaded-ref').filter({ hasText: picked }).waitFor();
    await page.locator(`[data-testid=blob-list] a[href="/blob/${want}"]`).waitFor();
    // The anchor form is prefilled with the last uploaded ref.
    await page.getByTestId('anchor-name').fill('site');
    await page.getByTestId('anchor-set').click();
    await page.locator('[data-testid=anchor-timeline] .tick').first().waitFor();
    await page.getByTestId('anchor-ref').fill(want);
    await page.getByTestId('anchor-set').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=anchor-timeline] .tick').length === 2);
    const a = await (await fetch(`${server.url}/anchor/site`)).json() as { ref: string };
    assert.equal(a.ref, want);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-blobs.png'), fullPage: true });
  });

  it('a write without the token is refused with the server\'s error and changes nothing', async () => {
    const p2 = await browser.newPage();
    try {
      await p2.goto(server.url + '/');
      await p2.evaluate(() => localStorage.removeItem('plexus.token'));
      await p2.goto(server.url + '/#/blobs');
      await p2.getByTestId('file-input').setInputFiles({ name: 'nope.txt', mimeType: 'text/plain', buffer: Buffer.from('not allowed') });
      await p2.getByRole('alert').filter({ hasText: 'UNAUTHORIZED' }).waitFor();
      const ref = createHash('sha256').update('not allowed').digest('hex');
      assert.equal((await fetch(`${server.url}/blob/${ref}`, { method: 'HEAD' })).status, 404);
    } finally {
      await p2.close();
    }
  });

  it('bus: lists the server peer\'s namespaces and makes a call', async () => {
    await page.goto(server.url + '/#/bus');
    await page.getByTestId('namespace').filter({ hasText: 'plexus.server' }).waitFor();
    await page.getByTestId('bus-cmd').fill('echo');
    await page.getByTestId('bus-payload').fill('{"hello":"bus"}');
    await page.getByTestId('bus-call').click();
    await page.getByTestId('bus-results').filter({ hasText: '"hello":"bus"' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-bus.png'), fullPage: true });
  });

  it('graph explorer: opens a soul, edits a field, follows a relation, sees a change made elsewhere live', async () => {
    assert.ok(has('graph'), 'graph module is mounted');
    await page.goto(server.url + '/#/graph');
    await page.getByTestId('soul-input').fill('people/ann');
    await page.getByTestId('soul-open').click();
    await page.getByTestId('new-field').fill('name');
    await page.getByTestId('new-value').fill('Ann');
    await page.getByTestId('put-field').click();
    await page.getByTestId('value-name').filter({ hasText: 'Ann' }).waitFor();
    await page.getByTestId('new-field').fill('friend');
    await page.getByTestId('new-value').fill('{"#":"people/bob"}');
    await page.getByTestId('put-field').click();
    await page.getByTestId('value-friend').filter({ hasText: 'people/bob' }).waitFor();
    // A second page writes to the soul the first has open: the first shows it live.
    const p2 = await browser.newPage();
    try {
      await p2.goto(server.url + '/#/graph');
      await p2.evaluate((t2) => localStorage.setItem('plexus.token', t2), TOKEN);
      await p2.reload();
      await p2.getByTestId('soul-input').fill('people/ann');
      await p2.getByTestId('soul-open').click();
      await p2.getByTestId('value-name').filter({ hasText: 'Ann' }).waitFor();
      await p2.getByTestId('new-field').fill('city');
      await p2.getByTestId('new-value').fill('Lisbon');
      await p2.getByTestId('put-field').click();
      await page.getByTestId('value-city').filter({ hasText: 'Lisbon' }).waitFor({ timeout: 15_000 });
    } finally {
      await p2.close();
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-graph.png'), fullPage: true });
    await page.getByTestId('value-friend').locator('a').click();
    await page.getByTestId('soul-name').filter({ hasText: 'people/bob' }).waitFor();
  });

  it('ledger: publishes, tails live, shows a record\'s history and its state at a chosen revision', async () => {
    assert.ok(has('ledger'), 'ledger module is mounted');
    await page.goto(server.url + '/#/ledger');
    await page.getByTestId('topics-input').fill('prod.cat');
    await page.getByTestId('subscribe').click();
    const pub = async (key: string, cmd: string, arg: string) => {
      await page.getByTestId('pub-top').fill('prod.cat');
      await page.getByTestId('pub-key').fill(key);
      await page.getByTestId('pub-cmd').selectOption(cmd);
      await page.getByTestId('pub-arg').fill(arg);
      await page.getByTestId('publish').click();
    };
    await pub('1', 'new', '{"name":"a","price":1}');
    await page.getByTestId('event-row').first().waitFor();
    await pub('1', 'mod', '{"price":2}');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=event-row]').length >= 2);
    await page.getByTestId('event-row').first().click();
    await page.getByTestId('record-state').filter({ hasText: '"price": 2' }).waitFor();
    await page.getByTestId('rev-slider').fill('0');
    await page.getByTestId('record-state').filter({ hasText: '"price": 1' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-ledger.png'), fullPage: true });
  });

  it('health after the activity above: module figures and WebSocket counts are shown', async () => {
    await page.goto(server.url + '/#/health');
    await page.reload();
    await page.getByTestId('module-blob').filter({ hasText: /blobs\s*[1-9]/ }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-health-after.png'), fullPage: true });
  });

  it('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
