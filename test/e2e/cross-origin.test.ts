import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Browser, Page } from 'playwright-core';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { buildWeb, launchChromium } from './helpers.js';

/**
 * What a hostile page tries against a plexus server (`target`), every write and read path: no-cors and
 * CORS fetches, an HTML form, and WebSockets to /gun and /evt that write and read. Plain JS, served as
 * the page's own script (so nothing depends on how the test runner compiles functions).
 */
const ATTACK_JS = String.raw`
window.attack = async (target, tag) => {
  const out = {};
  const wsBase = target.replace(/^http/, 'ws');
  const tryFetch = async (name, url, init) => {
    try { const r = await fetch(url, init); out[name] = r.type === 'opaque' ? 'opaque' : r.status + ' ' + (await r.text()).slice(0, 300); }
    catch (e) { out[name] = 'error ' + e.name; }
  };
  const call = (p) => JSON.stringify({ namespace: 'plexus.server', command: 'echo', payload: p });
  await tryFetch('blobNoCors', target + '/blob', { method: 'POST', mode: 'no-cors', body: 'text ' + tag });
  await tryFetch('blobNoCorsBytes', target + '/blob', { method: 'POST', mode: 'no-cors', body: new Blob(['bytes ' + tag]) });
  await tryFetch('busNoCors', target + '/api/bus/call', { method: 'POST', mode: 'no-cors', body: call('nocors ' + tag) });
  await tryFetch('blobCors', target + '/blob', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'cors ' + tag });
  await tryFetch('busCors', target + '/api/bus/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: call('cors ' + tag) });
  await tryFetch('anchorCors', target + '/anchor/' + tag, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ref: '${'0'.repeat(63)}1' }) });
  await tryFetch('readBlobs', target + '/blob');
  await tryFetch('readHealth', target + '/healthz');
  out.form = await new Promise((resolve) => {
    const sink = document.createElement('iframe');
    sink.name = 'sink-' + tag;
    document.body.appendChild(sink);
    const form = document.createElement('form');
    form.method = 'POST'; form.action = target + '/blob'; form.enctype = 'text/plain'; form.target = sink.name;
    const input = document.createElement('input');
    input.name = 'form ' + tag; input.value = 'x';
    form.appendChild(input);
    document.body.appendChild(form);
    sink.onload = () => resolve('submitted');
    form.submit();
    setTimeout(() => resolve('timeout'), 4000);
  });
  const ws = (path, first, match) => new Promise((resolve) => {
    let s;
    try { s = new WebSocket(wsBase + path); } catch (e) { resolve('throw ' + e.name); return; }
    const t = setTimeout(() => { resolve('timeout'); s.close(); }, 5000);
    s.onopen = () => s.send(first);
    s.onmessage = (m) => { const d = String(m.data); if (match(d)) { clearTimeout(t); resolve('reply ' + d.slice(0, 400)); s.close(); } };
    s.onclose = (e) => { clearTimeout(t); resolve('closed ' + e.code); };
  });
  out.gunPut = await ws('/gun', JSON.stringify({ '#': 'put-' + tag, put: { ['soul-' + tag]: { _: { '#': 'soul-' + tag, '>': { f: Date.now() } }, f: tag } } }), (d) => d.includes('"@":"put-' + tag + '"'));
  out.gunGet = await ws('/gun', JSON.stringify({ '#': 'get-' + tag, get: { '#': 'seed' } }), (d) => d.includes('"@":"get-' + tag + '"'));
  out.evtPub = await ws('/evt', 'evt.pub#1\n' + JSON.stringify({ acts: [{ top: 'web.doc', key: tag, cmd: 'new', arg: { by: tag } }] }), (d) => d.startsWith('evt.pub#1\n'));
  out.evtRead = await ws('/evt', 'evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["seed.doc"]}', (d) => d.startsWith('evt.sub#1\n'));
  return out;
};`;
const PAGE = `<!doctype html><meta charset="utf-8"><title>a page of another site</title><body><script>${ATTACK_JS}</script></body>`;

type Outcome = Record<'blobNoCors' | 'blobNoCorsBytes' | 'busNoCors' | 'blobCors' | 'busCors' | 'anchorCors' | 'readBlobs' | 'readHealth' | 'form' | 'gunPut' | 'gunGet' | 'evtPub' | 'evtRead', string>;

/** The attacker's machine: evil.test resolves to it (a loopback address other than the server's). */
const ATTACKER_IP = '127.0.0.3';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A Node WebSocket client: send one frame, wait for the reply that matches. */
async function wsAsk(url: string, frame: string, match: (f: string) => boolean): Promise<string> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((r, j) => { ws.once('open', () => r()); ws.once('error', j); });
    return await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${frame}`)), 5000);
      ws.on('message', (m) => { const f = m.toString(); if (match(f)) { clearTimeout(t); resolve(f); } });
      ws.send(frame);
    });
  } finally { ws.close(); }
}

describe('cross-origin defence in a real browser (chromium): foreign pages are refused, allowed ones work', () => {
  let server: PlexusServer;
  let pages: Server;
  let localPages: Server;
  let localPagePort: number;
  let rebinder: TcpServer | undefined;
  /** The rebinding proxy's sockets (both sides), destroyed at the end. */
  const proxied = new Set<Socket>();
  let pagePort: number;
  let browser: Browser;
  let page: Page;
  const logs: Record<string, unknown>[] = [];
  const d = tmpDir();

  /** Plexus's own view (from Node, no Origin): what is stored. */
  const stored = async () => {
    const refs = ((await (await fetch(`${server.url}/blob`)).json()) as { refs: string[] }).refs;
    const bus = (await (await fetch(`${server.url}/api/bus`)).json()) as { calls: number };
    return { refs, calls: bus.calls };
  };
  const gunField = async (soul: string) => {
    const f = await wsAsk(server.url.replace('http', 'ws') + '/gun', JSON.stringify({ '#': `chk-${soul}-${Date.now()}`, get: { '#': soul } }), (x) => x.includes('"@":"chk-'));
    const m = JSON.parse(f);
    return (Array.isArray(m) ? m : [m]).find((x: { '@'?: string }) => x['@']?.startsWith('chk-'))?.put?.[soul]?.f as string | undefined;
  };
  const evtKeys = async (top: string) => {
    const f = await wsAsk(server.url.replace('http', 'ws') + '/evt', `evt.sub#9\n{"rev":"0001-01-01T00:00:00Z","tops":["${top}"]}`, (x) => x.startsWith('evt.sub#9\n'));
    const body = JSON.parse(f.slice(f.indexOf('\n') + 1)) as { res?: { evs?: { key: string }[] } };
    return (body.res?.evs ?? []).map((e) => e.key);
  };
  /** Load the attack page from `origin` and run it against `target`. */
  const attack = async (origin: string, target: string, tag: string): Promise<Outcome> => {
    await page.goto(`${origin}/attack.html`);
    return (await page.evaluate(`attack(${JSON.stringify(target)}, ${JSON.stringify(tag)})`)) as Outcome;
  };

  before(async () => {
    // the other site: any path answers the attack page
    const answer = (_req: unknown, res: import('node:http').ServerResponse) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(PAGE); };
    pages = createServer(answer);
    await new Promise<void>((r) => pages.listen(0, ATTACKER_IP, () => r()));
    pagePort = (pages.address() as { port: number }).port;
    // a local dev server on this machine (http://localhost:OTHERPORT) serving the same page
    localPages = createServer(answer);
    await new Promise<void>((r) => localPages.listen(0, '127.0.0.1', () => r()));
    localPagePort = (localPages.address() as { port: number }).port;
    const web = join(d.path, 'web');
    buildWeb(web);
    server = await startServer({
      port: 0, dataDir: join(d.path, 'data'), webDir: web, logLevel: 'info', logger: (l) => logs.push(l), mounts: defaultMounts,
      allowOrigin: [`http://allowed.test:${pagePort}`], env: {},
    });
    // something worth stealing
    await wsAsk(server.url.replace('http', 'ws') + '/gun', JSON.stringify({ '#': 'seed-put', put: { seed: { _: { '#': 'seed', '>': { f: Date.now() } }, f: 'secret-seed' } } }), (x) => x.includes('"@":"seed-put"'));
    await wsAsk(server.url.replace('http', 'ws') + '/evt', 'evt.pub#1\n{"acts":[{"top":"seed.doc","key":"s","cmd":"new","arg":{"secret":"seed"}}]}', (x) => x.startsWith('evt.pub#1\n'));
    browser = await launchChromium([`--host-resolver-rules=MAP evil.test ${ATTACKER_IP}, MAP allowed.test ${ATTACKER_IP}`]);
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await new Promise<void>((r) => pages ? pages.close(() => r()) : r());
    await new Promise<void>((r) => localPages ? localPages.close(() => r()) : r());
    // the proxy's own sockets: a piped pair can sit paused after both ends went away, and a paused socket
    // keeps neither the server's close nor the event loop going
    for (const s of proxied) s.destroy();
    await new Promise<void>((r) => rebinder ? rebinder.close(() => r()) : r());
    d.rm();
  });

  it('a page on http://evil.test:PORT is refused on every write and read path, and nothing is stored or run', async () => {
    const before = await stored();
    const o = await attack(`http://evil.test:${pagePort}`, server.url, 'evil');
    assert.equal(o.blobNoCors, 'opaque');
    assert.equal(o.form, 'submitted', 'the browser did submit the form (the server refused it)');
    for (const k of ['blobCors', 'busCors', 'anchorCors', 'readBlobs', 'readHealth'] as const) assert.equal(o[k], 'error TypeError', `${k}: ${o[k]}`);
    for (const k of ['gunPut', 'gunGet', 'evtPub', 'evtRead'] as const) assert.match(o[k], /^closed 1006$/, `${k}: ${o[k]}`);
    const after = await stored();
    assert.deepEqual(after, before, 'no blob stored, no bus call ran');
    assert.equal((await fetch(`${server.url}/anchor/evil`)).status, 404);
    assert.equal(await gunField('soul-evil'), undefined);
    assert.deepEqual(await evtKeys('web.doc'), []);
    // the server refused it (not only the browser): logged once, with the flag that would allow it
    const refusals = logs.filter((l) => l.msg === `origin refused: http://evil.test:${pagePort}` && l.origin === `http://evil.test:${pagePort}`);
    assert.equal(refusals.length, 1, JSON.stringify(refusals));
    assert.equal(refusals[0]!.allowWith, `--allow-origin http://evil.test:${pagePort}`);
  });

  for (const [name, host] of [['an --allow-origin origin', 'allowed.test'], ['http://localhost:OTHERPORT (loopback, no flag)', 'localhost']] as const) {
    it(`the same page on ${name} works: writes stored, reads answered, only the HTML form is refused`, async () => {
      const tag = host.replace('.', '-');
      const before = await stored();
      const o = await attack(`http://${host}:${host === 'localhost' ? localPagePort : pagePort}`, server.url, tag);
      assert.match(o.blobCors, /^201 /, o.blobCors);
      assert.match(o.busCors, /^200 \{"ok":true,"result":"cors /, o.busCors);
      assert.match(o.anchorCors, /^200 /, o.anchorCors);
      assert.match(o.readBlobs, /^200 \{"refs"/, o.readBlobs);
      assert.match(o.readHealth, /^200 \{"ok":true/, o.readHealth);
      assert.match(o.gunPut, /^reply .*"ok"/, o.gunPut);
      assert.match(o.gunGet, /secret-seed/, o.gunGet);
      assert.match(o.evtPub, /"rev"/, o.evtPub);
      assert.match(o.evtRead, /seed/, o.evtRead);
      const after = await stored();
      const added = after.refs.filter((r) => !before.refs.includes(r)).sort();
      // no-cors bytes (no content type) and the CORS upload are stored; the text/plain body and the form are not.
      // The other new blobs are the anchor map's nodes, written by the CORS anchor write (anchors live in blobs, as in bs).
      for (const r of [sha(`bytes ${tag}`), sha(`cors ${tag}`)]) assert.ok(added.includes(r), `blob ${r} stored`);
      for (const r of added) {
        const text = await (await fetch(`${server.url}/blob/${r}`)).text();
        assert.ok(!text.startsWith('text ') && !text.startsWith('form '), `a refused body was stored: ${text.slice(0, 40)}`);
      }
      assert.equal(after.calls, before.calls + 1, 'the CORS bus call ran; the no-cors text/plain one did not');
      assert.equal(await gunField(`soul-${tag}`), tag);
      assert.deepEqual(await evtKeys('web.doc'), host === 'allowed.test' ? ['allowed-test'] : ['allowed-test', 'localhost']);
    });
  }

  it('a page reaching the server under a rebinding name (Host evil.test) is refused, same-origin requests and WebSockets included', async () => {
    // DNS rebinding, as the browser sees it: evil.test:PORT (PORT = the plexus port) first answers the
    // attacker's page, then the same name reaches plexus. The attacker's machine serves /attack.html and
    // hands every other connection, bytes unchanged (Host: evil.test:PORT), to plexus on 127.0.0.1:PORT.
    rebinder = createTcpServer((sock) => {
      proxied.add(sock);
      sock.once('close', () => proxied.delete(sock));
      sock.once('data', (first: Buffer) => {
        if (first.toString('latin1').startsWith('GET /attack.html ')) {
          sock.end(`HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(PAGE)}\r\nConnection: close\r\n\r\n${PAGE}`);
          return;
        }
        const up = connect(server.port, '127.0.0.1', () => { up.write(first); sock.pipe(up).pipe(sock); });
        proxied.add(up);
        up.once('close', () => proxied.delete(up));
        up.on('error', () => sock.destroy());
        sock.on('error', () => up.destroy());
      });
    });
    await new Promise<void>((r) => rebinder!.listen(server.port, ATTACKER_IP, () => r()));
    const rebound = `http://evil.test:${server.port}`;
    const direct = await page.goto(`${rebound}/`);
    assert.equal(direct?.status(), 421, 'the dashboard is not served under a foreign name');
    await page.goto(`${rebound}/attack.html`);
    const before = await stored();
    const o = (await page.evaluate(`attack(location.origin, 'rebind')`)) as Outcome;
    for (const k of ['blobCors', 'busCors', 'anchorCors', 'readBlobs', 'readHealth'] as const) assert.match(o[k], /^421 .*MISDIRECTED/, `${k}: ${o[k]}`);
    for (const k of ['gunPut', 'gunGet', 'evtPub', 'evtRead'] as const) assert.match(o[k], /^closed 1006$/, `${k}: ${o[k]}`);
    assert.deepEqual(await stored(), before);
    assert.equal(await gunField('soul-rebind'), undefined);
    assert.ok(!(await evtKeys('web.doc')).includes('rebind'));
  });

  it('the dashboard keeps working on its own origin, also as http://localhost:PORT: health and an upload', async () => {
    for (const base of [server.url, `http://localhost:${server.port}`]) {
      await page.goto(`${base}/#/health`);
      await page.getByTestId('health-Status').waitFor();
      assert.equal(await page.getByTestId('health-Status').textContent(), 'ok');
      await page.goto(`${base}/#/blobs`);
      await page.getByTestId('file-input').waitFor({ state: 'attached' });
      const text = `dashboard upload via ${base}`;
      await page.getByTestId('file-input').setInputFiles({ name: 'note.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
      await page.getByTestId('uploaded-ref').filter({ hasText: sha(text).slice(0, 12) }).first().waitFor({ timeout: 15_000 });
      assert.equal(await (await fetch(`${server.url}/blob/${sha(text)}`)).text(), text);
    }
  });
});
