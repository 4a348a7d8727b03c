// The dashboard in chromium: ledger (tail *, rate chart, history), blobs (upload, previews, timeline), bus (calls, spinner, timeout).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import protobuf from 'protobufjs';
import type { PlexusServer } from '../../src/server/http.js';
import type { BlobMount } from '../../src/server/blob.js';
import { putProto } from '../../src/blob/bs/proto-types.js';
import { ARTIFACTS } from './helpers.js';
import { TOKEN, openDashboard } from './dashboard-helpers.js';

describe('dashboard in a real browser (chromium): ledger, blobs, bus', () => {
  let server: PlexusServer;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let close: () => Promise<void>;

  before(async () => {
    ({ server, browser, page, errors: pageErrors, close } = await openDashboard());
  });
  after(async () => { await close?.(); });

  const has = (name: string) => server.mounts.some((m) => m.name === name);

  it('ledger: tail * shows every topic live, a per-topic rate chart, a record\'s history with the revision slider', async () => {
    assert.ok(has('ledger'), 'ledger module is mounted');
    await page.getByTestId('nav-ledger').click();
    await page.getByTestId('topics-input').fill('*');
    await page.getByTestId('subscribe').click();
    await page.locator('text=Tailing: *').waitFor();
    const pub = async (top: string, key: string, cmd: string, arg: string) => {
      await page.getByTestId('pub-top').fill(top);
      await page.getByTestId('pub-key').fill(key);
      await page.getByTestId('pub-cmd').selectOption(cmd);
      await page.getByTestId('pub-arg').fill(arg);
      await page.getByTestId('publish').click();
    };
    await pub('prod.cat', '1', 'new', '{"name":"a","price":1}');
    await page.getByTestId('event-row').first().waitFor();
    await pub('prod.cat', '1', 'mod', '{"price":2}');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=event-row]').length >= 2);
    // a publish by another client on a topic this page never named arrives live through `*`
    const other = await browser.newPage();
    try {
      await other.goto(server.url + '/');
      await other.evaluate((t) => localStorage.setItem('plexus.token', t), TOKEN);
      await other.reload();
      await other.getByTestId('nav-ledger').click();
      await other.getByTestId('pub-top').fill('orders.eu');
      await other.getByTestId('pub-key').fill('o1');
      await other.getByTestId('pub-arg').fill('{"total":9}');
      await other.getByTestId('publish').click();
      await page.getByTestId('event-row').filter({ hasText: 'orders.eu' }).waitFor({ timeout: 30_000 });
    } finally {
      await other.close();
    }
    await page.getByTestId('chart-topics').locator('canvas').waitFor();
    await page.getByTestId('chart-topics-orders.eu').waitFor();
    await page.getByTestId('chart-topics-prod.cat').filter({ hasText: /max [12]$/ }).waitFor();
    await page.getByTestId('event-row').filter({ hasText: 'prod.cat' }).first().click();
    await page.getByTestId('record-state').filter({ hasText: '"price": 2' }).waitFor();
    await page.getByTestId('rev-slider').fill('0');
    await page.getByTestId('record-state').filter({ hasText: '"price": 1' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-ledger.png') });
  });

  it('blobs: drag and drop and the file picker upload; text, JSON and image previews; anchor timeline drawn', async () => {
    await page.getByTestId('nav-blobs').click();
    await page.getByTestId('drop-zone').waitFor();
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['hello from a drop'], 'drop.txt', { type: 'text/plain' }));
      const zone = document.querySelector('[data-testid=drop-zone]')!;
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    const text = createHash('sha256').update('hello from a drop').digest('hex');
    await page.getByTestId('uploaded-ref').filter({ hasText: text }).waitFor();
    assert.equal(await (await fetch(`${server.url}/blob/${text}`)).text(), 'hello from a drop');
    const json = '{"replicas":3,"regions":["eu","us"]}';
    const png = await page.screenshot({ clip: { x: 0, y: 0, width: 64, height: 48 } });
    await page.getByTestId('file-input').setInputFiles([{ name: 'c.json', mimeType: 'application/json', buffer: Buffer.from(json) }, { name: 'p.png', mimeType: 'image/png', buffer: png }]);
    const jsonRef = createHash('sha256').update(json).digest('hex'), pngRef = createHash('sha256').update(png).digest('hex');
    await page.getByTestId('uploaded-ref').filter({ hasText: pngRef }).waitFor();
    await page.getByTestId('blob-item').filter({ hasText: text }).click();
    await page.getByTestId('preview-text').filter({ hasText: 'hello from a drop' }).waitFor();
    await page.getByTestId('blob-item').filter({ hasText: jsonRef }).click();
    await page.getByTestId('preview-json').filter({ hasText: '"replicas": 3' }).waitFor();
    await page.getByTestId('blob-item').filter({ hasText: pngRef }).click();
    await page.getByTestId('preview-image').waitFor();
    assert.equal(await page.getByTestId('preview-image').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), 64);
    // the anchor form is prefilled with the last uploaded ref
    await page.getByTestId('anchor-name').fill('site');
    await page.getByTestId('anchor-set').click();
    await page.locator('[data-testid=anchor-timeline] .tick').first().waitFor();
    for (const ref of [text, jsonRef]) {
      await page.getByTestId('anchor-ref').fill(ref);
      await page.getByTestId('anchor-set').click();
    }
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=anchor-timeline] .tick').length === 3);
    assert.equal((await (await fetch(`${server.url}/anchor/site`)).json() as { ref: string }).ref, jsonRef);
    // a dot of the timeline previews that version
    await page.locator('[data-testid=anchor-timeline] .tick').first().click();
    await page.getByTestId('preview-image').waitFor();
    // a typed blob (bs PutProto) is shown decoded with its stored type
    const Point = protobuf.parse('syntax = "proto3"; package demo; message Point { int32 x = 1; string label = 2; }').root.lookupType('demo.Point');
    const typed = await putProto((server.mounts.find((m) => m.name === 'blob') as BlobMount).store, Point, { x: 42, label: 'typed here' });
    await page.getByTestId('nav-ledger').click();
    await page.getByTestId('nav-blobs').click();
    await page.getByTestId('blob-item').filter({ hasText: typed.ref }).click();
    await page.getByTestId('preview-proto').filter({ hasText: '"label": "typed here"' }).waitFor();
    await page.locator('text=protobuf Point').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-blobs.png'), fullPage: true });
  });

  it('a write without the token is refused with the server\'s error and changes nothing', async () => {
    const p2 = await browser.newPage();
    try {
      await p2.goto(server.url + '/#/blobs');
      await p2.getByTestId('file-input').setInputFiles({ name: 'nope.txt', mimeType: 'text/plain', buffer: Buffer.from('not allowed') });
      await p2.getByRole('alert').filter({ hasText: 'UNAUTHORIZED' }).waitFor();
      const ref = createHash('sha256').update('not allowed').digest('hex');
      assert.equal((await fetch(`${server.url}/blob/${ref}`, { method: 'HEAD' })).status, 404);
    } finally {
      await p2.close();
    }
  });

  it('bus: namespaces, a call with its latency, and a spinner with the timeout while a call waits', async () => {
    await page.getByTestId('nav-bus').click();
    await page.getByTestId('namespace').filter({ hasText: 'plexus.server' }).waitFor();
    await page.getByTestId('bus-cmd').fill('echo');
    await page.getByTestId('bus-payload').fill('{"hello":"bus"}');
    await page.getByTestId('bus-call').click();
    await page.getByTestId('bus-row').filter({ hasText: '"hello":"bus"' }).filter({ hasText: /\d+ ms/ }).filter({ hasText: 'ok' }).waitFor();
    // nobody serves this namespace: the call waits (spinner, elapsed of the timeout) and then times out
    await page.getByTestId('bus-ns').fill('nobody.home');
    await page.getByTestId('bus-cmd').fill('hello');
    await page.getByTestId('bus-timeout').selectOption('2000');
    await page.getByTestId('bus-call').click();
    await page.getByTestId('bus-waiting').filter({ hasText: 'of 2 s timeout' }).locator('.spinner').waitFor();
    assert.equal(await page.getByTestId('bus-call').isDisabled(), true);
    await page.getByTestId('bus-row').filter({ hasText: 'nobody.home::hello' }).filter({ hasText: 'error' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('bus-waiting').count(), 0);
  });

  it('no uncaught errors and no console errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
