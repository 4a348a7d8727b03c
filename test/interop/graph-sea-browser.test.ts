import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { launchChromium } from '../e2e/helpers.js';

// gun's web-page build (gun/gun.js + gun/sea.js from npm, as an app's <script> tags load them) in Chromium:
// each "device" is its own browser context (no shared storage), all talking to the plexus relay.
const PAGE = '<!doctype html><meta charset="utf-8"><script src="/gun.js"></script><script src="/sea.js"></script><title>gun sea</title>';

type W = Window & { gun: any; user: any; SEA: any; Gun: any };

describe('interop: gun SEA web-page build in chromium through the plexus relay', () => {
  let server: PlexusServer;
  let app: Server;
  let appUrl: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  const dir = tmpDir();

  const device = async (relay: string): Promise<Page> => {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(appUrl);
    await page.evaluate((relay) => {
      const w = window as unknown as W;
      w.gun = w.Gun({ peers: [relay], localStorage: false });
      w.user = w.gun.user();
    }, relay);
    return page;
  };

  before(async () => {
    server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [graphMount] });
    const files: Record<string, string> = { '/gun.js': readFileSync('node_modules/gun/gun.js', 'utf8'), '/sea.js': readFileSync('node_modules/gun/sea.js', 'utf8') };
    app = createServer((req, res) => {
      const f = files[req.url ?? ''];
      res.writeHead(200, { 'content-type': f ? 'text/javascript' : 'text/html' });
      res.end(f ?? PAGE);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}/`; // 127.0.0.1 is a secure context: WebCrypto works
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await new Promise((r) => app?.close(r));
    await server?.close();
    dir.rm();
  });

  it('create + auth in page A, login and edits from a second browser B, reads by C (not logged in), a certified write by bob', async () => {
    const relay = `${server.url}/gun`;
    const alias = `alice${Date.now().toString(36)}`;
    const a = await device(relay);
    const created = await a.evaluate((alias) => new Promise<any>((r) => (window as unknown as W).user.create(alias, 'browser pass phrase', (ack: any) => r({ err: ack.err, pub: ack.pub }))), alias);
    assert.equal(created.err, undefined);
    const alicePub = await a.evaluate((alias) => new Promise<any>((r) => (window as unknown as W).user.auth(alias, 'browser pass phrase', (ack: any) => r(ack.err ?? (window as unknown as W).user.is.pub))), alias);
    assert.equal(alicePub, created.pub);
    const put = await a.evaluate(() => new Promise<any>((r) => (window as unknown as W).user.get('profile').put({ name: 'Alice', city: 'Oslo' }, (ack: any) => r({ err: ack.err }))));
    assert.equal(put.err, undefined);

    const b = await device(relay);
    const bLogin = await b.evaluate((alias) => new Promise<any>((r) => (window as unknown as W).user.auth(alias, 'browser pass phrase', (ack: any) => r({ err: ack.err, pub: (window as unknown as W).user.is?.pub }))), alias);
    assert.deepEqual(bLogin, { err: undefined, pub: alicePub });
    assert.equal(await b.evaluate(() => new Promise((r) => (window as unknown as W).user.get('profile').get('name').once(r))), 'Alice');
    const bPut = await b.evaluate(() => new Promise<any>((r) => (window as unknown as W).user.get('profile').get('city').put('Bergen', (ack: any) => r({ err: ack.err }))));
    assert.equal(bPut.err, undefined);

    const c = await device(relay);
    const aliasKeys = await c.evaluate((alias) => new Promise<string[]>((r) => (window as unknown as W).gun.get(`~@${alias}`).once((d: any) => r(Object.keys(d ?? {}).filter((k) => k !== '_')))), alias);
    assert.deepEqual(aliasKeys, [`~${alicePub}`]);
    const city = await c.evaluate(async (pub) => {
      for (let i = 0; i < 100; i++) {
        const v = await new Promise((r) => (window as unknown as W).gun.user(pub).get('profile').get('city').once(r, { wait: 200 }));
        if (v === 'Bergen') return v;
        await new Promise((r) => setTimeout(r, 100));
      }
      return 'never';
    }, alicePub);
    assert.equal(city, 'Bergen');

    // bob (page D) writes into alice's inbox with a certificate alice made in page A
    const bob = await device(relay);
    const bobPub = await bob.evaluate((alias) => new Promise<any>((r) => { const w = window as unknown as W; w.user.create(alias, 'bob pass phrase', () => w.user.auth(alias, 'bob pass phrase', () => r(w.user.is.pub))); }), `bob${Date.now().toString(36)}`);
    const cert = await a.evaluate((bobPub) => (window as unknown as W).Gun.SEA.certify(bobPub, { '*': 'inbox' }, (window as unknown as W).user._.sea, null, { expiry: Date.now() + 600_000 }), bobPub);
    const certPut = await bob.evaluate(({ alicePub, bobPub, cert }) => new Promise<any>((r) => (window as unknown as W).gun.user(alicePub).get('inbox').get(bobPub).put('hi from a browser', (ack: any) => r({ err: ack.err }), { opt: { cert } })), { alicePub, bobPub, cert });
    assert.equal(certPut.err, undefined);
    const inbox = await c.evaluate(({ alicePub, bobPub }) => new Promise((r) => (window as unknown as W).gun.user(alicePub).get('inbox').get(bobPub).once(r, { wait: 500 })), { alicePub, bobPub });
    assert.equal(inbox, 'hi from a browser');
    assert.deepEqual(errors, []);
  });
});
