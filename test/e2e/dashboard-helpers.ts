// Shared by the dashboard's browser tests: a demo server, raw writes to its relay, the drawn graph.
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Browser, Page } from 'playwright-core';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { buildWeb, launchChromium } from './helpers.js';

export const TOKEN = 'dashboard-e2e-token';

/** Write nodes straight to the relay (as another app would), acked. */
export async function gunPut(url: string, nodes: Record<string, Record<string, unknown>>): Promise<void> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + `/gun?token=${TOKEN}`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const t = Date.now();
  const ids = Object.entries(nodes).map(([soul, fields], i) => {
    const id = `e2e${i}${Math.random().toString(36).slice(2, 8)}`;
    ws.send(JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, t])) }, ...fields } } }));
    return id;
  });
  const acked = new Set<string>();
  await new Promise<void>((resolve) => ws.on('message', (d) => {
    const v = JSON.parse(d.toString());
    for (const m of Array.isArray(v) ? v : [v]) if (m['@']) acked.add(m['@']);
    if (ids.every((id) => acked.has(id))) resolve();
  }));
  ws.close();
}

/** Click a node of the drawn graph where cytoscape rendered it. */
/**
 * Click the drawn node of `soul` once the layout has settled, until the view opens it (its name in the
 * soul panel): a click during a last layout step can land beside the node, so it is measured and tried again.
 */
export async function clickNode(page: Page, soul: string): Promise<void> {
  await page.waitForFunction((s) => (window as any).plexusGraph?.getElementById(s).nonempty(), soul);
  for (let attempt = 0; ; attempt++) {
    let pos = { x: NaN, y: NaN };
    for (let i = 0; i < 40; i++) {
      const p = await page.evaluate((s) => (window as any).plexusGraph.getElementById(s).renderedPosition() as { x: number; y: number }, soul);
      if (Math.abs(p.x - pos.x) < 0.5 && Math.abs(p.y - pos.y) < 0.5) break;
      pos = p;
      await page.waitForTimeout(150);
    }
    const box = (await page.getByTestId('graph-canvas').boundingBox())!;
    await page.mouse.click(box.x + pos.x, box.y + pos.y);
    try {
      await page.getByTestId('soul-name').filter({ hasText: soul }).waitFor({ timeout: 3000 });
      return;
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
}

export const drawn = (page: Page) => page.evaluate(() => {
  const cy = (window as any).plexusGraph;
  return { nodes: cy.nodes().map((n: any) => n.id()).sort() as string[], edges: cy.edges().map((e: any) => `${e.source().id()} -${e.data('label')}-> ${e.target().id()}`).sort() as string[] };
});


/**
 * A server with every module and a token, the built dashboard, chromium, and one page that entered the
 * token through the header form; page errors and console errors are collected in `errors`.
 */
export async function openDashboard(opts: { authReads?: boolean } = {}): Promise<{ server: PlexusServer; browser: Browser; page: Page; errors: string[]; close(): Promise<void> }> {
  const d = tmpDir();
  buildWeb(join(d.path, 'web'));
  const server = await startServer({ port: 0, dataDir: join(d.path, 'data'), webDir: join(d.path, 'web'), logLevel: 'silent', mounts: defaultMounts, token: TOKEN, ...(opts.authReads ? { authReads: true } : {}), env: {} });
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // generous: these tests share two cores with everything else a CI box runs
  browser.contexts().forEach((c) => c.setDefaultTimeout(45_000));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  if (!opts.authReads) {
    await page.goto(server.url + '/');
    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByTestId('token-input').press('Enter');
    await page.waitForLoadState('load');
    await page.waitForFunction((t) => localStorage.getItem('plexus.token') === t, TOKEN);
  }
  return { server, browser, page, errors, async close() { await browser.close(); await server.close(); d.rm(); } };
}
