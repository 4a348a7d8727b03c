import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { buildWeb, launchChromium } from './helpers.js';

const TOKEN = 'browser-clients-token';
/** URL of the ledger bundle, as a page imports it (a variable, so TypeScript does not resolve it). */
const LEDGER: string = '/browser/ledger.js';
const GRAPH: string = '/browser/graph.js';

/**
 * The browser ES module bundles (dist/browser/*.js, built by scripts/build-web.mjs) run in a real
 * browser: two pages, a write in one shows live in the other.
 */
describe('browser clients in chromium: two pages, a write in one shows live in the other', () => {
  let server: PlexusServer;
  let browser: Browser;
  let a: Page, b: Page;
  const d = tmpDir();
  const web = join(d.path, 'web');
  const errors: string[] = [];

  before(async () => {
    buildWeb(web);
    server = await startServer({ port: 0, dataDir: join(d.path, 'data'), webDir: web, logLevel: 'silent', mounts: defaultMounts, token: TOKEN, env: {} });
    browser = await launchChromium();
    a = await browser.newPage();
    b = await browser.newPage();
    for (const p of [a, b]) {
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(`${server.url}/`); // same origin as the bundles and the WebSockets
    }
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    d.rm();
  });

  it('the bundles are ES modules without node:* imports', () => {
    for (const f of ['graph.js', 'ledger.js']) assert.doesNotMatch(readFileSync(join(web, 'browser', f), 'utf8'), /from\s*["']node:|require\(["']node:/, f);
  });

  it('ledger: connectHub in page A subscribes, page B publishes, A receives it live', async () => {
    const hubUrl = server.url.replace('http', 'ws') + '/evt';
    await a.evaluate(async ({ hubUrl, token, bundle }) => {
      const m = await import(bundle);
      const hub = await m.connectHub(hubUrl, { token });
      const w = window as unknown as { got: unknown[] };
      w.got = [];
      const sub = hub.subscribe(['chat.msg']);
      void (async () => { for await (const u of sub) for (const e of (u as { evs?: unknown[] }).evs ?? []) w.got.push(e); })();
      await new Promise((r) => setTimeout(r, 300));
    }, { hubUrl, token: TOKEN, bundle: LEDGER });
    await b.evaluate(async ({ hubUrl, token, bundle }) => {
      const m = await import(bundle);
      const hub = await m.connectHub(hubUrl, { token });
      await hub.publish({ acts: [{ top: 'chat.msg', key: '1', cmd: 'new', arg: { text: 'hello from page B' } }] });
    }, { hubUrl, token: TOKEN, bundle: LEDGER });
    await a.waitForFunction(() => ((window as unknown as { got: { arg?: { text?: string } }[] }).got ?? []).some((e) => e.arg?.text === 'hello from page B'), null, { timeout: 15_000 });
  });

  it('ledger: a page without the token cannot publish, and its refused write changes nothing', async () => {
    const hubUrl = server.url.replace('http', 'ws') + '/evt';
    const outcome = await b.evaluate(async ({ hubUrl, bundle }) => {
      const m = await import(bundle);
      const hub = await m.connectHub(hubUrl, { reconnect: false });
      try {
        await hub.publish({ acts: [{ top: 'chat.msg', key: 'x', cmd: 'new', arg: { text: 'sneaky' } }] });
        return 'published';
      } catch (e) {
        return String((e as { code?: string }).code ?? e);
      } finally {
        hub.close();
      }
    }, { hubUrl, bundle: LEDGER });
    assert.match(outcome, /UNAUTHORIZED|FORBIDDEN/);
    await new Promise((r) => setTimeout(r, 400));
    const texts = await a.evaluate(() => (window as unknown as { got: { arg?: { text?: string } }[] }).got.map((e) => e.arg?.text));
    assert.deepEqual(texts, ['hello from page B']);
  });

  it('graph: page A follows a field, page B puts it, A sees it live; a tokenless put is refused', async () => {
    const peer = `${server.url}/gun`;
    const exported = await a.evaluate(async ({ bundle }) => Object.keys(await import(bundle)), { bundle: GRAPH });
    assert.ok(exported.includes('Graph'), `graph bundle exports a Graph client (${exported.join(', ')})`);
    await a.evaluate(async ({ peer, token, bundle }) => {
      const { Graph } = await import(bundle);
      const g = new Graph({ peers: [`${peer}?token=${token}`] });
      const w = window as unknown as { seen: unknown[] };
      w.seen = [];
      g.get('room/1').get('msg').on((v: unknown) => { w.seen.push(v); });
    }, { peer, token: TOKEN, bundle: GRAPH });
    await new Promise((r) => setTimeout(r, 300));
    await b.evaluate(async ({ peer, token, bundle }) => {
      const { Graph } = await import(bundle);
      const g = new Graph({ peers: [`${peer}?token=${token}`] });
      await g.get('room/1').get('msg').put('hello from page B');
      await g.close();
    }, { peer, token: TOKEN, bundle: GRAPH });
    await a.waitForFunction(() => ((window as unknown as { seen: unknown[] }).seen ?? []).includes('hello from page B'), null, { timeout: 15_000 });
    const refused = await b.evaluate(async ({ peer, bundle }) => {
      const { Graph } = await import(bundle);
      const g = new Graph({ peers: [peer] });
      try {
        await g.get('room/1').get('msg').put('sneaky', { timeoutMs: 2000 });
        return 'acked';
      } catch (e) {
        return String((e as { code?: string }).code ?? e);
      } finally {
        await g.close();
      }
    }, { peer, bundle: GRAPH });
    assert.notEqual(refused, 'acked');
    await new Promise((r) => setTimeout(r, 300));
    const seen = await a.evaluate(() => (window as unknown as { seen: unknown[] }).seen);
    assert.ok(!seen.includes('sneaky'), `page A saw a refused write: ${JSON.stringify(seen)}`);
  });

  it('no uncaught errors in the pages', () => {
    assert.deepEqual(errors, []);
  });
});
