// The dashboard in chromium: views, health charts, the graph view (browse, draw, expand, edit, delete, live), kept state, 420 px.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Browser, Page } from 'playwright-core';
import type { PlexusServer } from '../../src/server/http.js';
import { ARTIFACTS } from './helpers.js';
import { clickNode, drawn, gunPut, openDashboard } from './dashboard-helpers.js';

describe('dashboard in a real browser (chromium): views, health, graph', () => {
  let server: PlexusServer;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let close: () => Promise<void>;

  before(async () => {
    ({ server, browser, page, errors: pageErrors, close } = await openDashboard());
    await gunPut(server.url, {
      'people/ann': { name: 'Ann', friend: { '#': 'people/bob' }, city: { '#': 'places/lisbon' } },
      'people/bob': { name: 'Bob', employer: { '#': 'orgs/acme' } },
      'orgs/acme': { name: 'Acme' },
      'places/lisbon': { name: 'Lisbon' },
      'places/porto': { name: 'Porto' },
    });
  });
  after(async () => { await close?.(); });

  const has = (name: string) => server.mounts.some((m) => m.name === name);

  it('every view loads, with the favicon; /gun and /evt say connected (no status race)', async () => {
    for (const v of ['health', 'graph', 'ledger', 'blobs', 'bus']) {
      await page.goto(`${server.url}/#/${v}`);
      await page.locator(`main[data-view=${v}]:not([hidden])`).waitFor();
    }
    await page.getByTestId('nav-graph').click();
    await page.getByTestId('status-gun').filter({ hasText: 'connected' }).waitFor();
    await page.getByTestId('nav-ledger').click();
    await page.getByTestId('status-evt').filter({ hasText: 'connected' }).waitFor();
    const icon = await page.evaluate(() => (document.querySelector('link[rel=icon]') as HTMLLinkElement).href);
    const res = await fetch(icon);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /svg/);
    // a fresh page, many times: the status must never stay at "connecting" once the socket is open
    for (let i = 0; i < 3; i++) {
      const p = await browser.newPage();
      await p.goto(`${server.url}/#/graph`);
      try {
        await p.getByTestId('status-gun').filter({ hasText: 'connected' }).waitFor({ timeout: 30_000 });
      } catch (e) {
        throw new Error(`fresh page ${i}: ${await p.locator('body').innerText()}`, { cause: e });
      } finally {
        await p.close();
      }
    }
  });

  it('health: status, figures and live charts that fill up', async () => {
    await page.getByTestId('nav-health').click();
    assert.equal(await page.getByTestId('health-Status').textContent(), 'ok');
    await page.getByTestId('module-blob').waitFor();
    assert.match(await page.getByTestId('health-Auth').textContent() ?? '', /token/);
    for (const c of ['rates', 'acks', 'latency', 'connections', 'stores']) await page.getByTestId(`chart-${c}`).locator('canvas').waitFor();
    // the latency chart gets a measured /gun round trip; "max" is the real maximum (0 when all are 0, never a made-up 1)
    await page.getByTestId('chart-latency-/gun get').filter({ hasText: /\d+(\.\d)? ms max/ }).waitFor({ timeout: 30_000 });
    assert.match(await page.getByTestId('chart-acks-bus calls').textContent() ?? '', /max (0|—)$/);
  });

  it('graph: browses souls by prefix (lexical soul query), draws the graph, expands a node on click', async () => {
    assert.ok(has('graph'), 'graph module is mounted');
    await page.getByTestId('nav-graph').click();
    await page.getByTestId('soul-item').filter({ hasText: 'places/porto' }).waitFor();
    await page.getByTestId('soul-prefix').fill('people/');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=soul-item]')].map((e) => e.textContent).join(',') === 'people/ann,people/bob');
    await page.getByTestId('soul-item').filter({ hasText: 'people/ann' }).click();
    await page.getByTestId('value-name').filter({ hasText: 'Ann' }).waitFor();
    await page.waitForFunction(() => (window as any).plexusGraph?.edges().length === 2);
    assert.deepEqual(await drawn(page), { nodes: ['people/ann', 'people/bob', 'places/lisbon'], edges: ['people/ann -city-> places/lisbon', 'people/ann -friend-> people/bob'] });
    await clickNode(page, 'people/bob');
    await page.getByTestId('soul-name').filter({ hasText: 'people/bob' }).waitFor();
    await page.waitForFunction(() => (window as any).plexusGraph.edges().length === 3);
    assert.ok((await drawn(page)).edges.includes('people/bob -employer-> orgs/acme'));
    await page.getByTestId('value-employer').getByTestId('relation').click();
    await page.getByTestId('soul-name').filter({ hasText: 'orgs/acme' }).waitFor();
  });

  it('graph: edits a value and a relation, deletes a field after a confirm, and shows others\' changes live', async () => {
    await page.getByTestId('soul-item').filter({ hasText: 'people/ann' }).click();
    await page.getByTestId('soul-name').filter({ hasText: 'people/ann' }).waitFor();
    await page.getByTestId('edit-name').click();
    await page.getByTestId('edit-input').fill('Ann Lee');
    await page.getByTestId('edit-save').click();
    await page.getByTestId('value-name').filter({ hasText: 'Ann Lee' }).waitFor();
    // the relation city → places/lisbon becomes city → places/porto, in the table and the drawing
    await page.getByTestId('edit-city').click();
    assert.equal(await page.getByTestId('edit-input').inputValue(), 'places/lisbon');
    await page.getByTestId('edit-input').fill('places/porto');
    await page.getByTestId('edit-save').click();
    await page.getByTestId('value-city').filter({ hasText: 'places/porto' }).waitFor();
    await page.waitForFunction(() => (window as any).plexusGraph.edges().map((e: any) => e.target().id()).includes('places/porto'));
    // delete asks first: cancel keeps the field, delete puts null
    await page.getByTestId('delete-friend').click();
    await page.getByTestId('value-friend').filter({ hasText: 'Delete' }).getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('value-friend').getByTestId('relation').waitFor();
    await page.getByTestId('delete-friend').click();
    await page.getByTestId('confirm-delete').click();
    await page.getByTestId('value-friend').filter({ hasText: 'null (deleted)' }).waitFor();
    // the drawing follows the table asynchronously: give it time to drop the edge, then check it did
    await page.waitForFunction(() => !(window as any).plexusGraph.edges().map((e: any) => e.data('label')).includes('friend')).catch(() => {});
    const probe = await page.evaluate(() => (window as any).plexusGraph.edges().map((e: any) => e.data('label')) as string[]);
    assert.ok(!probe.includes('friend'), `friend edge removed: ${probe}`);
    // another app writes: the field table and the drawing update live, the new node fades in
    await gunPut(server.url, { 'people/ann': { city: { '#': 'places/lisbon' }, mentor: { '#': 'people/zed' }, age: 34 } });
    await page.getByTestId('value-age').filter({ hasText: '34' }).waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => (window as any).plexusGraph?.getElementById('people/zed').nonempty(), undefined, { timeout: 30_000 });
    assert.ok((await drawn(page)).edges.includes('people/ann -mentor-> people/zed'));
    const stored = await new Promise<Record<string, unknown>>((resolve) => {
      const ws = new WebSocket(server.url.replace(/^http/, 'ws') + '/gun');
      ws.on('open', () => ws.send(JSON.stringify({ '#': 'chk', get: { '#': 'people/ann' } })));
      ws.on('message', (dd) => { const v = JSON.parse(dd.toString()); for (const m of Array.isArray(v) ? v : [v]) if (m['@'] === 'chk') { ws.close(); resolve(m.put['people/ann']); } });
    });
    assert.equal(stored.name, 'Ann Lee');
    assert.equal(stored.friend, null);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-graph.png') });
  });

  it('state is kept when switching views (graph selection, typed inputs)', async () => {
    await page.getByTestId('nav-ledger').click();
    await page.getByTestId('topics-input').fill('typed but not sent');
    await page.getByTestId('nav-blobs').click();
    await page.getByTestId('nav-graph').click();
    assert.equal(await page.getByTestId('soul-name').textContent(), 'people/ann');
    assert.equal(await page.getByTestId('soul-prefix').inputValue(), 'people/');
    await page.getByTestId('nav-ledger').click();
    assert.equal(await page.getByTestId('topics-input').inputValue(), 'typed but not sent');
    await page.getByTestId('topics-input').fill('');
  });

  it('works at 420 px wide: no horizontal scrolling in any view', async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    try {
      for (const v of ['health', 'graph', 'ledger', 'blobs', 'bus']) {
        await page.getByTestId(`nav-${v}`).click();
        await page.waitForTimeout(150);
        const w = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(w <= 420, `${v}: page is ${w} px wide at a 420 px viewport`);
      }
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-narrow.png') });
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it('no uncaught errors and no console errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
