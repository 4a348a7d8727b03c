import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../e2e/helpers.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { Graph } from '../../src/graph/node.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually } from './helpers/gun.js';
import { assertSuitePassed, bundleForPage as bundle, runSuiteInPage, servePages as pages } from '../helpers/browser/page.js';

// IndexedDbGraphStore runs only in a browser: the graph store conformance suite runs in Chromium (its
// node:test and node:assert imports mapped to small page shims), and the browser client keeps its data
// and unacked writes across a reload.
describe('IndexedDbGraphStore in Chromium', () => {
  let browser: Browser;
  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  it('passes the graph store conformance suite', async () => {
    const app = await bundle(`
      import { graphStoreConformance } from './test/conformance/graph-store.ts';
      import { runCollected } from './test/helpers/browser/node-test-shim.ts';
      import { IndexedDbGraphStore } from './src/graph/store/indexeddb.ts';
      let n = 0;
      graphStoreConformance('IndexedDbGraphStore', async () => {
        const name = 'conformance-' + (n++);
        const store = new IndexedDbGraphStore(name);
        return {
          store,
          open: async () => new IndexedDbGraphStore(name),
          cleanup: async () => { await store.close(); await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = () => r(undefined); }); },
        };
      });
      window.results = runCollected();
    `);
    assertSuitePassed(await runSuiteInPage(browser, app), 8, (m) => assert.fail(m));
  });

  it('the browser client keeps data and unacked writes across a reload; they reach the relay when it is back', async () => {
    const d = tmpDir();
    let relay: PlexusServer = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [graphMount] });
    const port = Number(new URL(relay.url).port);
    const app = await bundle(`
      import { Graph } from './src/graph/index.ts';
      window.graph = new Graph({ peers: ['ws://127.0.0.1:${port}/gun'], peerRetryMs: 50 });
    `);
    const site = await pages({ '/app.js': app });
    const context = await browser.newContext();
    const page = await context.newPage();
    const reader = new Graph({ peers: [`ws://127.0.0.1:${port}/gun`] });
    try {
      type W = { graph: { get(s: string): { put(v: unknown, o?: unknown): Promise<unknown>; once(): Promise<unknown> }; pendingWrites: number; restored: Promise<void>; peers: { connected: boolean }[] } };
      await page.goto(site.url);
      await page.waitForFunction(() => (window as unknown as W).graph?.peers[0]?.connected === true);
      await page.evaluate(() => (window as unknown as W).graph.get('notes').put({ first: 'online' }));
      await relay.close();
      await page.waitForFunction(() => (window as unknown as W).graph.peers[0]?.connected === false);
      // written with the relay down: stored locally, queued, not acked
      await page.evaluate(() => { void (window as unknown as W).graph.get('notes').put({ second: 'offline' }, { timeoutMs: 60_000 }).catch(() => {}); });
      await page.waitForFunction(() => (window as unknown as W).graph.pendingWrites === 1);
      await page.reload();
      await page.waitForFunction(() => (window as unknown as W).graph !== undefined);
      const kept = await page.evaluate(async () => { const g = (window as unknown as W).graph; await g.restored; return { pending: g.pendingWrites, notes: await g.get('notes').once() }; });
      assert.equal(kept.pending, 1, 'the unacked write survived the reload');
      assert.deepEqual(kept.notes, { first: 'online', second: 'offline' }, 'local data survived the reload');
      relay = await startServer({ port, dataDir: d.path, logLevel: 'silent', mounts: [graphMount] });
      await page.waitForFunction(() => (window as unknown as W).graph.pendingWrites === 0, undefined, { timeout: 20_000 });
      await eventually(async () => ((await reader.get('notes').get('second').once()) === 'offline'), 20_000, 'another client reads the offline write from the relay');
    } finally {
      await reader.close();
      await context.close();
      await site.close();
      await relay.close();
      d.rm();
    }
  });
});
