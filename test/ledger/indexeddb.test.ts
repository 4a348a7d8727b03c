import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../e2e/helpers.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { ZERO_TIME } from '../../src/ledger/time.js';
import type { Event } from '../../src/ledger/event.js';
import { tmpDir } from '../helpers/tmp.js';
import { assertSuitePassed, bundleForPage, runSuiteInPage, servePages } from '../helpers/browser/page.js';

// IndexedDbLedger runs only in a browser: the ledger conformance suite runs in Chromium, and a satellite
// on it keeps offline publishes across a reload; they reach the hub exactly once.
describe('IndexedDbLedger in Chromium', () => {
  let browser: Browser;
  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  it('passes the ledger conformance suite', async () => {
    const app = await bundleForPage(`
      import { ledgerConformance } from './test/conformance/ledger.ts';
      import { runCollected } from './test/helpers/browser/node-test-shim.ts';
      import { IndexedDbLedger } from './src/ledger/indexeddb.ts';
      let n = 0;
      ledgerConformance('IndexedDbLedger', (opts) => IndexedDbLedger.open('conformance-' + (n++), opts));
      window.results = runCollected();
    `);
    assertSuitePassed(await runSuiteInPage(browser, app), 10, (m) => assert.fail(m));
  });

  it('a satellite keeps offline publishes across a reload; they reach the hub exactly once', async () => {
    const d = tmpDir();
    let port = 0;
    const start = () => startServer({ port, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ batchMs: 20 })] });
    let srv: PlexusServer = await start();
    port = srv.port;
    const app = await bundleForPage(`
      import { satellite, IndexedDbLedger } from './src/ledger/index.ts';
      window.start = async () => { window.sat = satellite({ hub: 'ws://127.0.0.1:${port}/evt', ledger: await IndexedDbLedger.open('sat'), tops: ['todo'] }); };
    `);
    const site = await servePages({ '/app.js': app });
    const context = await browser.newContext();
    const page = await context.newPage();
    type Sat = { online: boolean; settled(ms?: number): Promise<void>; publish(t: unknown): Promise<{ local: boolean }>; close(): Promise<void>; ledger: { locals(): Promise<unknown[]>; get(t: string, k: string): Promise<{ data: unknown } | undefined> } };
    type W = { start(): Promise<void>; sat: Sat };
    try {
      await page.goto(site.url);
      await page.waitForFunction(() => typeof (window as unknown as W).start === 'function');
      assert.equal(await page.evaluate(async () => {
        const w = window as unknown as W;
        await w.start();
        await w.sat.settled();
        return (await w.sat.publish({ acts: [{ top: 'todo', key: 'r1', cmd: 'new', arg: { from: 'browser' } }] })).local;
      }), false);
      await srv.close();
      assert.deepEqual(await page.evaluate(async () => {
        const sat = (window as unknown as W).sat;
        for (let i = 0; i < 200 && sat.online; i++) await new Promise((r) => setTimeout(r, 25));
        const r = await sat.publish({ acts: [{ top: 'todo', key: 'r1', cmd: 'mod', arg: { offline: true } }] });
        return { local: r.local, pending: (await sat.ledger.locals()).length };
      }), { local: true, pending: 1 });
      await page.reload();
      await page.waitForFunction(() => typeof (window as unknown as W).start === 'function');
      assert.deepEqual(await page.evaluate(async () => {
        const w = window as unknown as W;
        await w.start();
        return { pending: (await w.sat.ledger.locals()).length, data: (await w.sat.ledger.get('todo', 'r1'))?.data };
      }), { pending: 1, data: { from: 'browser', offline: true } }, 'the replicated record and the pending publish survived the reload');
      srv = await start();
      assert.deepEqual(await page.evaluate(async () => {
        const sat = (window as unknown as W).sat;
        await sat.settled(15_000);
        const out = { pending: (await sat.ledger.locals()).length, data: (await sat.ledger.get('todo', 'r1'))?.data };
        await sat.close();
        return out;
      }), { pending: 0, data: { from: 'browser', offline: true } });
      // and a second reload sends nothing again
      await page.reload();
      await page.waitForFunction(() => typeof (window as unknown as W).start === 'function');
      await page.evaluate(async () => { const w = window as unknown as W; await w.start(); await w.sat.settled(15_000); await w.sat.close(); });
      await srv.close();
      const l = new SqliteLedger(join(d.path, 'ledger.db'));
      const evs: Event[] = [];
      for await (const e of l.events(ZERO_TIME)) evs.push(e);
      await l.close();
      assert.deepEqual(evs.map((e) => [e.key, e.cmd]), [['r1', 'new'], ['r1', 'mod']], 'the hub has each publish exactly once');
      srv = await start();
    } finally {
      await context.close();
      await site.close();
      await srv.close();
      d.rm();
    }
  });
});
