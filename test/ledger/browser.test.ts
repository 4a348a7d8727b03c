import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { ZERO_TIME } from '../../src/ledger/time.js';
import type { Event } from '../../src/ledger/event.js';
import { tmpDir } from '../helpers/tmp.js';
import { join } from 'node:path';

const CHROMIUM = process.env.PLEXUS_CHROMIUM ?? '/usr/bin/chromium';

/** plexus/ledger bundled for the browser and run in chromium: a satellite on a memory ledger works offline and converges. */
describe('plexus/ledger in a browser (chromium)', () => {
  let browser: Browser, page: Page, web: Server, srv: PlexusServer, port = 0;
  const d = tmpDir();
  const start = () => startServer({ port, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ batchMs: 20 })] });
  before(async () => {
    const out = await build({ entryPoints: ['src/ledger/index.ts'], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const js = out.outputFiles[0]!.text;
    assert.doesNotMatch(js, /from\s*["']node:|require\(["']node:/);
    web = createServer((req, res) => {
      if (req.url === '/ledger.js') { res.writeHead(200, { 'content-type': 'text/javascript' }); res.end(js); return; }
      res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>ledger</title>');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    srv = await start();
    port = srv.port;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'] });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(web.address() as { port: number }).port}/`);
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
    await new Promise((r) => web?.close(r));
    d.rm();
  });

  it('satellite: online publish, hub down, offline publish, hub back, converged', async () => {
    const hub = `ws://127.0.0.1:${port}/evt`;
    const first = await page.evaluate(async (hub) => {
      const m = await import('/ledger.js' as string);
      const w = window as unknown as Record<string, unknown>;
      const sat = m.satellite({ hub, ledger: new m.MemoryLedger(), tops: ['todo'] });
      w.sat = sat;
      await sat.settled();
      const r = await sat.publish({ acts: [{ top: 'todo', key: 'b1', cmd: 'new', arg: { from: 'browser' } }] });
      return r.local;
    }, hub);
    assert.equal(first, false);
    await srv.close();
    const offline = await page.evaluate(async () => {
      const sat = (window as unknown as { sat: { online: boolean; publish(t: unknown): Promise<{ local: boolean }>; ledger: { locals(): Promise<unknown[]> } } }).sat;
      for (let i = 0; i < 200 && sat.online; i++) await new Promise((r) => setTimeout(r, 25));
      const r = await sat.publish({ acts: [{ top: 'todo', key: 'b1', cmd: 'mod', arg: { offline: true } }] });
      return { local: r.local, pending: (await sat.ledger.locals()).length };
    });
    assert.deepEqual(offline, { local: true, pending: 1 });
    srv = await start();
    const state = await page.evaluate(async () => {
      const sat = (window as unknown as { sat: { settled(ms?: number): Promise<void>; ledger: { get(t: string, k: string): Promise<{ data: unknown }> } } }).sat;
      await sat.settled(15000);
      return (await sat.ledger.get('todo', 'b1')).data;
    });
    assert.deepEqual(state, { from: 'browser', offline: true });
    await page.evaluate(async () => { await (window as unknown as { sat: { close(): Promise<void> } }).sat.close(); });
    await srv.close();
    const l = new SqliteLedger(join(d.path, 'ledger.db'));
    const evs: Event[] = [];
    for await (const e of l.events(ZERO_TIME)) evs.push(e);
    assert.deepEqual(evs.map((e) => [e.key, e.cmd]), [['b1', 'new'], ['b1', 'mod']]);
    assert.deepEqual((await l.get('todo', 'b1'))!.data, { from: 'browser', offline: true });
    await l.close();
    srv = await start();
  });
});
