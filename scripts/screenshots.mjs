// Regenerates the dashboard screenshots in docs/ (dashboard.png, the README's, and dashboard-*.png): builds the web files, starts a
// server on a temporary data directory with a little demo data, and drives Debian's chromium
// (playwright-core, never a downloaded browser) through every view.
// Usage: node --import tsx scripts/screenshots.mjs [outDir]   (default docs)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { buildWeb } from './build-web.mjs';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const out = resolve(process.argv[2] ?? join(root, 'docs'));
const { startServer } = await import('../src/server/http.ts');
const { defaultMounts } = await import('../src/server/mounts.ts');

const dir = mkdtempSync(join(tmpdir(), 'plexus-shots-'));
const TOKEN = 'screenshot-token';
await buildWeb(join(dir, 'web'));
const server = await startServer({ port: 0, dataDir: join(dir, 'data'), webDir: join(dir, 'web'), logLevel: 'silent', mounts: defaultMounts, token: TOKEN, env: {} });
const browser = await chromium.launch({
  executablePath: process.env.PLEXUS_CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const auth = { authorization: `Bearer ${TOKEN}` };
const errors = [];

try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 860 }, deviceScaleFactor: 1 });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(server.url + '/');
  await page.evaluate((t) => localStorage.setItem('plexus.token', t), TOKEN);
  await page.reload();

  // demo data, written through the page's own wires
  await page.goto(server.url + '/#/graph');
  await page.getByTestId('status-gun').filter({ hasText: 'connected' }).waitFor();
  await page.evaluate(async () => {
    const ws = new WebSocket(location.origin.replace('http', 'ws') + '/gun?token=' + localStorage.getItem('plexus.token'));
    await new Promise((r) => (ws.onopen = r));
    const t = Date.now();
    const put = (soul, fields) => ws.send(JSON.stringify({ '#': Math.random().toString(36).slice(2), put: { [soul]: { _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, t])) }, ...fields } } }));
    put('people/ann', { name: 'Ann', age: 34, friend: { '#': 'people/bob' }, city: { '#': 'places/lisbon' }, team: { '#': 'teams/core' } });
    put('people/bob', { name: 'Bob', age: 29, friend: { '#': 'people/cy' }, employer: { '#': 'orgs/acme' } });
    put('people/cy', { name: 'Cy', age: 41, city: { '#': 'places/porto' } });
    put('orgs/acme', { name: 'Acme', hq: { '#': 'places/lisbon' }, founded: 1999 });
    put('places/lisbon', { name: 'Lisbon', country: 'PT' });
    put('places/porto', { name: 'Porto', country: 'PT' });
    put('teams/core', { name: 'Core', lead: { '#': 'people/ann' } });
    for (let i = 1; i <= 5; i++) put(`chat/2026-12-01T10:0${i}`, { text: `message ${i}`, by: { '#': 'people/ann' } });
    await new Promise((r) => setTimeout(r, 300));
    ws.close();
  });
  for (const ref of [['POST', '/blob', 'hello, plexus\n'], ['POST', '/blob', JSON.stringify({ name: 'config', replicas: 3, regions: ['eu', 'us'] })]]) {
    await fetch(server.url + ref[1], { method: ref[0], headers: auth, body: ref[2] });
  }

  // health: let a few polls fill the charts while the other wires are busy
  await page.goto(server.url + '/#/health');
  await page.getByTestId('health-Status').waitFor();
  await page.goto(server.url + '/#/ledger');
  await page.getByTestId('subscribe-all').click();
  for (let i = 0; i < 24; i++) {
    const top = ['orders', 'prod.cat', 'users'][i % 3];
    await page.getByTestId('pub-top').fill(top);
    await page.getByTestId('pub-key').fill(String(1 + (Math.floor(i / 3) % 2)));
    await page.getByTestId('pub-cmd').selectOption(i < 6 ? 'new' : 'mod');
    await page.getByTestId('pub-arg').fill(JSON.stringify(i < 6 ? { name: `item ${i}`, price: 10 + i } : { price: 10 + i }));
    await page.getByTestId('publish').click();
    await page.waitForTimeout(350);
  }
  await page.getByTestId('event-row').nth(2).click();
  await page.getByTestId('rev-slider').waitFor();
  await page.screenshot({ path: join(out, 'dashboard-ledger.png') });

  await page.goto(server.url + '/#/graph');
  await page.getByTestId('soul-item').filter({ hasText: 'people/ann' }).click();
  await page.getByTestId('value-name').waitFor();
  await page.waitForTimeout(600);
  // expand two more nodes by clicking them on the canvas
  for (const soul of ['people/bob', 'places/lisbon', 'orgs/acme']) {
    // wait until the layout animation has settled, then click where the node is drawn
    let pos = { x: NaN, y: NaN };
    for (let i = 0; i < 40; i++) {
      const p = await page.evaluate((s) => window.plexusGraph.getElementById(s).renderedPosition(), soul);
      if (Math.abs(p.x - pos.x) < 0.5 && Math.abs(p.y - pos.y) < 0.5) break;
      pos = p;
      await page.waitForTimeout(150);
    }
    const box = await page.getByTestId('graph-canvas').boundingBox();
    await page.mouse.click(box.x + pos.x, box.y + pos.y);
    await page.getByTestId('soul-name').filter({ hasText: soul }).waitFor();
    await page.waitForTimeout(700);
  }
  await page.getByTestId('soul-item').filter({ hasText: 'people/ann' }).click();
  await page.waitForTimeout(900);
  await page.screenshot({ path: join(out, 'dashboard-graph.png') });
  const picture = await page.getByTestId('graph-canvas').screenshot();
  // the README's picture
  await page.screenshot({ path: join(out, 'dashboard.png') });

  await page.goto(server.url + '/#/blobs');
  await page.getByTestId('file-input').setInputFiles({ name: 'graph.png', mimeType: 'image/png', buffer: picture });
  await page.getByTestId('uploaded-ref').first().waitFor();
  const refs = await (await fetch(server.url + '/blob?limit=10', { headers: auth })).json();
  for (const r of refs.refs) {
    await fetch(`${server.url}/anchor/site`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ ref: r }) });
    await new Promise((res) => setTimeout(res, 400));
  }
  await page.goto(server.url + '/#/bus');
  await page.goto(server.url + '/#/blobs');
  await page.getByTestId('anchor-item').filter({ hasText: 'site' }).click();
  await page.locator('[data-testid=anchor-timeline] .tick').first().waitFor();
  await page.locator('[data-testid=anchor-timeline] .tick.current').click();
  await page.getByTestId('preview-image').or(page.getByTestId('preview-text')).or(page.getByTestId('preview-json')).first().waitFor();
  await page.screenshot({ path: join(out, 'dashboard-blobs.png') });

  await page.goto(server.url + '/#/bus');
  for (const [cmd, payload] of [['ping', ''], ['echo', '{"hello":"bus"}'], ['time', ''], ['info', ''], ['nope', '']]) {
    await page.getByTestId('bus-cmd').fill(cmd);
    await page.getByTestId('bus-payload').fill(payload);
    await page.getByTestId('bus-call').click();
    await page.getByTestId('bus-call').and(page.locator(':enabled')).waitFor();
  }
  await page.getByTestId('bus-ns').fill('nobody.listens');
  await page.getByTestId('bus-cmd').fill('hello');
  await page.getByTestId('bus-timeout').selectOption('5000');
  await page.getByTestId('bus-call').click();
  await page.getByTestId('bus-waiting').waitFor();
  await page.waitForTimeout(1800);
  await page.screenshot({ path: join(out, 'dashboard-bus.png') });

  await page.goto(server.url + '/#/health');
  await page.waitForTimeout(9000);
  await page.screenshot({ path: join(out, 'dashboard-health.png') });

  await page.setViewportSize({ width: 420, height: 860 });
  await page.goto(server.url + '/#/graph');
  await page.getByTestId('soul-item').filter({ hasText: 'people/ann' }).click();
  await page.getByTestId('value-name').waitFor();
  await page.waitForTimeout(900);
  await page.screenshot({ path: join(out, 'dashboard-narrow.png') });
  console.log(`screenshots: dashboard.png, ${['health', 'graph', 'ledger', 'blobs', 'bus', 'narrow'].map((n) => `dashboard-${n}.png`).join(', ')} → ${out}`);
  if (errors.length) console.error('page errors:', errors);
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
