import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { resolveConfig, loadConfigFile } from '../../src/server/config.js';
import { OriginPolicy } from '../../src/server/origin.js';
import { tmpDir } from '../helpers/tmp.js';

interface Reply { status: number; headers: IncomingHttpHeaders; body: string; json(): any }

/** One HTTP request with full control of Host / Origin / Content-Type (fetch would fill them in). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) }, setHost: !('host' in headers) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, body: text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Status (and body) of a WebSocket upgrade: 101 when it opened. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, ...(headers.origin ? { origin: headers.origin } : {}) });
    ws.on('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => { resolve({ status: res.statusCode!, body }); ws.terminate(); });
    });
    ws.once('open', () => { ws.close(); resolve({ status: 101, body: '' }); });
    setTimeout(() => reject(new Error(`upgrade of ${url} neither opened nor failed`)), 5000).unref();
  });
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const EVIL = 'http://evil.test:9123';

describe('origin check: pages of other origins cannot write, nor read over WebSockets or CORS', () => {
  let server: PlexusServer;
  const logs: Record<string, unknown>[] = [];
  const d = tmpDir();
  before(async () => {
    server = await startServer({ port: 0, dataDir: d.path, logLevel: 'info', logger: (l) => logs.push(l), mounts: defaultMounts, allowOrigin: ['https://app.example.com'], env: {} });
  });
  after(async () => { await server.close(); d.rm(); });

  it('a foreign Origin is refused 403 FORBIDDEN on every write route, and nothing is stored or run', async () => {
    const body = 'from evil ' + Date.now();
    const writes: [string, string, string, string][] = [
      ['POST', '/blob', 'application/octet-stream', body],
      ['PUT', `/blob/${sha(body)}`, 'application/octet-stream', body],
      ['PUT', '/anchor/evil', 'application/json', JSON.stringify({ ref: sha('x') })],
      ['PUT', '/anchor/evil/history', 'application/json', JSON.stringify({ version: 0, history: [{ at: 1, ref: sha('x') }] })],
      ['DELETE', '/anchor?older-than=1', '', ''],
      ['POST', '/api/bus/call', 'application/json', JSON.stringify({ namespace: 'plexus.server', command: 'ping' })],
    ];
    for (const [method, path, type, b] of writes) {
      const r = await raw(server.url, method, path, { origin: EVIL, ...(type ? { 'content-type': type } : {}) }, b || undefined);
      assert.equal(r.status, 403, `${method} ${path}: ${r.body}`);
      assert.equal(r.json().error.code, 'FORBIDDEN');
      assert.match(r.json().error.message, /--allow-origin http:\/\/evil\.test:9123/);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    }
    assert.equal((await raw(server.url, 'GET', `/blob/${sha(body)}`)).status, 404, 'the blob was not stored');
    assert.equal((await raw(server.url, 'GET', '/anchor/evil')).status, 404, 'the anchor was not set');
    assert.equal((await raw(server.url, 'GET', '/api/bus')).json().calls, 0, 'no bus call ran');
  });

  it('a refused origin is logged once, with the flag that would allow it', async () => {
    await raw(server.url, 'POST', '/blob', { origin: 'http://once.test', 'content-type': 'application/octet-stream' }, 'a');
    await raw(server.url, 'POST', '/blob', { origin: 'http://once.test', 'content-type': 'application/octet-stream' }, 'b');
    await new Promise((r) => setTimeout(r, 1200)); // past any repeat window of the logger
    const lines = logs.filter((l) => l.msg === 'origin refused: http://once.test' && l.origin === 'http://once.test');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.allowWith, '--allow-origin http://once.test');
    assert.equal(lines[0]!.level, 'warn');
  });

  it('requests without Origin (CLI, curl, Node) keep working', async () => {
    const r = await raw(server.url, 'POST', '/blob', { 'content-type': 'application/octet-stream' }, 'no origin');
    assert.equal(r.status, 201, r.body);
    const c = await raw(server.url, 'POST', '/api/bus/call', { 'content-type': 'application/json' }, JSON.stringify({ namespace: 'plexus.server', command: 'ping' }));
    assert.equal(c.json().result, 'pong');
  });

  it('loopback origins on any port, the server\'s own origin and --allow-origin may write, with CORS headers', async () => {
    const own = new URL(server.url).origin;
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080', own, 'https://app.example.com']) {
      const r = await raw(server.url, 'POST', '/blob', { origin, 'content-type': 'application/octet-stream' }, `from ${origin}`);
      assert.equal(r.status, 201, `${origin}: ${r.body}`);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.match(String(r.headers.vary), /Origin/);
    }
  });

  it('preflight: an allowed origin gets 204 with methods and headers; a refused one 403 without CORS headers', async () => {
    const ok = await raw(server.url, 'OPTIONS', '/api/bus/call', { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(ok.headers['access-control-allow-methods']), /POST/);
    assert.match(String(ok.headers['access-control-allow-headers']), /Authorization/);
    assert.match(String(ok.headers['access-control-allow-headers']), /Content-Type/);
    assert.match(String(ok.headers.vary), /Origin/);
    const no = await raw(server.url, 'OPTIONS', '/api/bus/call', { origin: EVIL, 'access-control-request-method': 'POST' });
    assert.equal(no.status, 403);
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  });

  it('reads from a refused origin carry no Access-Control-Allow-Origin (the page cannot see them)', async () => {
    const r = await raw(server.url, 'GET', '/blob', { origin: EVIL });
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.match(String(r.headers.vary), /Origin/);
  });

  it('WebSocket upgrades on /gun and /evt from a foreign origin are refused 403; loopback and no origin open', async () => {
    const ws = server.url.replace('http', 'ws');
    for (const path of ['/gun', '/evt']) {
      const r = await upgrade(ws + path, { origin: EVIL });
      assert.equal(r.status, 403, path);
      assert.equal(JSON.parse(r.body).error.code, 'FORBIDDEN');
      assert.equal((await upgrade(ws + path, { origin: 'http://localhost:5173' })).status, 101, path);
      assert.equal((await upgrade(ws + path, { origin: 'https://app.example.com' })).status, 101, path);
      assert.equal((await upgrade(ws + path, {})).status, 101, path);
    }
  });
});

describe('Host check while bound to loopback (DNS rebinding)', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => {
    server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: defaultMounts, allowHost: ['plexus.internal'], env: {} });
  });
  after(async () => { await server.close(); d.rm(); });

  it('a foreign Host is refused 421 MISDIRECTED on reads, writes and upgrades, even with a matching Origin', async () => {
    const port = server.port;
    const g = await raw(server.url, 'GET', '/blob', { host: `evil.test:${port}` });
    assert.equal(g.status, 421, g.body);
    assert.equal(g.json().error.code, 'MISDIRECTED');
    assert.match(g.json().error.message, /--allow-host evil\.test/);
    const w = await raw(server.url, 'POST', '/blob', { host: `evil.test:${port}`, origin: `http://evil.test:${port}`, 'content-type': 'application/octet-stream' }, 'rebound');
    assert.equal(w.status, 421);
    assert.equal((await raw(server.url, 'GET', `/blob/${sha('rebound')}`)).status, 404);
    assert.equal((await raw(server.url, 'GET', '/healthz', { host: 'attacker.example' })).status, 421);
    const ws = server.url.replace('http', 'ws');
    for (const path of ['/gun', '/evt']) {
      const r = await upgrade(ws + path, { host: `evil.test:${port}` });
      assert.equal(r.status, 421, path);
    }
  });

  it('loopback names, the bound address and --allow-host names are accepted', async () => {
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `app.localhost:${server.port}`, `[::1]:${server.port}`, 'plexus.internal', `PLEXUS.internal:${server.port}`]) {
      const r = await raw(server.url, 'GET', '/blob', { host });
      assert.equal(r.status, 200, `${host}: ${r.body}`);
    }
    assert.equal((await upgrade(server.url.replace('http', 'ws') + '/gun', { host: `plexus.internal:${server.port}` })).status, 101);
  });

  it('the Host check is off when bound to a non-loopback address, and --allow-host * turns it off', () => {
    const req = (host: string) => ({ headers: { host }, url: '/', method: 'GET' }) as never;
    assert.equal(new OriginPolicy({ host: '0.0.0.0' }).hostDenial(req('evil.test')), undefined);
    assert.equal(new OriginPolicy({ host: '127.0.0.1', allowHost: ['*'] }).hostDenial(req('evil.test')), undefined);
    assert.equal(new OriginPolicy({ host: '127.0.0.1', allowHost: ['*.corp.example'] }).hostDenial(req('a.corp.example:80')), undefined);
    assert.equal(new OriginPolicy({ host: '127.0.0.1' }).hostDenial(req('evil.test'))?.code, 'MISDIRECTED');
    assert.equal(new OriginPolicy({ host: '::1' }).hostDenial(req('[::1]:8765')), undefined);
  });
});

describe('origin rules at the edges', () => {
  it('"null" (sandboxed frames, file://) and non-web schemes are refused unless listed; the own origin may be https behind a proxy', () => {
    const p = new OriginPolicy({ host: '127.0.0.1' });
    assert.equal(p.originAllowed('null', '127.0.0.1:8765'), false);
    assert.equal(p.originAllowed('chrome-extension://abcdef', '127.0.0.1:8765'), false);
    assert.equal(p.originAllowed('http://127.0.0.1.evil.test', '127.0.0.1:8765'), false);
    assert.equal(p.originAllowed('http://localhost.evil.test:80', '127.0.0.1:8765'), false);
    assert.equal(p.originAllowed('https://plexus.example.com', 'plexus.example.com'), true);
    assert.equal(p.originAllowed('https://plexus.example.com', 'plexus.example.com:8765'), false);
    assert.equal(p.originAllowed('http://app.localhost:5173', undefined), true);
    assert.equal(new OriginPolicy({ host: '127.0.0.1', allowOrigin: ['null'] }).originAllowed('null', undefined), true);
  });

  it('GET and HEAD from a refused origin are answered (without CORS headers); OPTIONS and upgrades are checked', () => {
    const p = new OriginPolicy({ host: '127.0.0.1' });
    const req = (method: string, upgrade?: string) => ({ method, url: '/blob', headers: { origin: EVIL, host: '127.0.0.1:1', ...(upgrade ? { upgrade } : {}) } }) as never;
    assert.equal(p.originDenial(req('GET')), undefined);
    assert.equal(p.originDenial(req('HEAD')), undefined);
    assert.equal(p.originDenial(req('OPTIONS'))?.code, 'FORBIDDEN');
    assert.equal(p.originDenial(req('GET', 'websocket'))?.code, 'FORBIDDEN');
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) assert.equal(p.originDenial(req(m))?.code, 'FORBIDDEN', m);
  });
});

describe('content types: JSON endpoints take application/json, blob uploads application/octet-stream', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => { server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: defaultMounts, env: {} }); });
  after(async () => { await server.close(); d.rm(); });

  it('bodies an HTML form can send (urlencoded, multipart, text/plain) are refused 415 UNSUPPORTED and change nothing', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      const b = await raw(server.url, 'POST', '/blob', { 'content-type': type }, `form ${type}`);
      assert.equal(b.status, 415, `${type}: ${b.body}`);
      assert.equal(b.json().error.code, 'UNSUPPORTED');
      assert.equal((await raw(server.url, 'GET', `/blob/${sha(`form ${type}`)}`)).status, 404);
      const c = await raw(server.url, 'POST', '/api/bus/call', { 'content-type': type }, JSON.stringify({ namespace: 'plexus.server', command: 'ping' }));
      assert.equal(c.status, 415, type);
      const a = await raw(server.url, 'PUT', '/anchor/form', { 'content-type': type }, JSON.stringify({ ref: sha('x') }));
      assert.equal(a.status, 415, type);
      const h = await raw(server.url, 'PUT', '/anchor/form/history', { 'content-type': type }, JSON.stringify({ version: 0, history: [] }));
      assert.equal(h.status, 415, type);
    }
    assert.equal((await raw(server.url, 'GET', '/anchor/form')).status, 404);
    assert.equal((await raw(server.url, 'GET', '/api/bus')).json().calls, 0);
  });

  it('the right types are accepted (JSON with a charset too), and JSON is not taken as a blob', async () => {
    assert.equal((await raw(server.url, 'POST', '/blob', { 'content-type': 'application/octet-stream' }, 'bytes')).status, 201);
    assert.equal((await raw(server.url, 'POST', '/blob', { 'content-type': 'application/json' }, '{}')).status, 415);
    const c = await raw(server.url, 'POST', '/api/bus/call', { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ namespace: 'plexus.server', command: 'ping' }));
    assert.equal(c.json().result, 'pong');
    const a = await raw(server.url, 'PUT', '/anchor/ok', { 'content-type': 'application/json' }, JSON.stringify({ ref: sha('bytes') }));
    assert.equal(a.status, 200, a.body);
  });
});

describe('allowOrigin / allowHost settings', () => {
  it('come from flags (repeatable), env (comma separated) and the config file (array), normalised', () => {
    assert.deepEqual(resolveConfig({ allowOrigin: ['https://A.example.com:443', 'http://b.example'] }, {}).allowOrigin, ['https://a.example.com', 'http://b.example']);
    assert.deepEqual(resolveConfig({}, { PLEXUS_ALLOW_ORIGIN: 'https://a.example, http://b.example:8080' }).allowOrigin, ['https://a.example', 'http://b.example:8080']);
    assert.deepEqual(resolveConfig({}, { PLEXUS_ALLOW_HOST: 'plexus.lan,*.corp.example' }).allowHost, ['plexus.lan', '*.corp.example']);
    const d = tmpDir();
    try {
      const f = join(d.path, 'plexus.config.json');
      writeFileSync(f, JSON.stringify({ allowOrigin: ['*'], allowHost: ['plexus.lan'] }));
      const file = loadConfigFile(f);
      assert.deepEqual(resolveConfig({}, {}, file).allowOrigin, ['*']);
      assert.deepEqual(resolveConfig({}, {}, file).allowHost, ['plexus.lan']);
    } finally { d.rm(); }
    assert.equal(resolveConfig({}, {}).allowOrigin, undefined);
  });

  it('plexus serve: --allow-origin / --allow-host are repeatable, PLEXUS_ALLOW_ORIGIN is comma separated, --help lists them', () => {
    const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PLEXUS_ALLOW_ORIGIN: '', PLEXUS_ALLOW_HOST: '', ...env } });
    const a = run(['--check-config', '--allow-origin', 'https://a.example', '--allow-origin', 'http://b.example:81', '--allow-host', 'plexus.lan', '--allow-host', '*.corp.example']);
    assert.equal(a.status, 0, a.stderr);
    assert.deepEqual(JSON.parse(a.stdout).allowOrigin, ['https://a.example', 'http://b.example:81']);
    assert.deepEqual(JSON.parse(a.stdout).allowHost, ['plexus.lan', '*.corp.example']);
    const b = run(['--check-config'], { PLEXUS_ALLOW_ORIGIN: 'https://c.example,https://d.example' });
    assert.deepEqual(JSON.parse(b.stdout).allowOrigin, ['https://c.example', 'https://d.example']);
    const h = run(['--help']);
    assert.match(h.stdout, /--allow-origin <origin>/);
    assert.match(h.stdout, /--allow-host <host>/);
    assert.match(h.stdout, /PLEXUS_ALLOW_ORIGIN/);
  });

  it('bad values are refused naming the key', () => {
    assert.throws(() => resolveConfig({ allowOrigin: ['https://a.example/path'] }, {}), /allowOrigin.*--allow-origin/);
    assert.throws(() => resolveConfig({}, { PLEXUS_ALLOW_ORIGIN: 'ftp://a.example' }), /allowOrigin.*PLEXUS_ALLOW_ORIGIN/);
    assert.throws(() => resolveConfig({ allowHost: ['a.example:80'] }, {}), /allowHost/);
  });

  it('--allow-origin * lets any origin in, as an explicit opt-in', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: defaultMounts, allowOrigin: ['*'], env: {} });
    try {
      const r = await raw(server.url, 'POST', '/blob', { origin: EVIL, 'content-type': 'application/octet-stream' }, 'star');
      assert.equal(r.status, 201);
      assert.equal(r.headers['access-control-allow-origin'], EVIL);
    } finally { await server.close(); d.rm(); }
  });
});
