import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { refOf } from '../../src/blob/ref.js';
import { tmpDir } from '../helpers/tmp.js';

let server: PlexusServer;
let dir: { path: string; rm(): void };

async function req(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}) {
  // the server takes bytes as application/octet-stream and every other body as application/json
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers = { ...headers, 'content-type': path.startsWith('/blob') ? 'application/octet-stream' : 'application/json' };
  const res = await fetch(server.url + path, { method, body: body as BodyInit | undefined, headers });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json: json as { error?: { code: string; message: string } } & Record<string, unknown> };
}

/** Everything observable about the store, to check that failed requests change nothing. */
async function snapshot() {
  const refs = await req('GET', '/blob?limit=10000');
  const names = await req('GET', '/anchor?limit=10000');
  const hist = await Promise.all(((names.json.names as string[]) ?? []).map((n) => req('GET', `/anchor/${encodeURIComponent(n)}/history`)));
  return JSON.stringify([refs.json, names.json, hist.map((h) => h.json)]);
}

before(async () => {
  dir = tmpDir();
  server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [blobMount] });
});
after(async () => { await server.close(); dir.rm(); });

describe('HTTP API: blobs', () => {
  it('POST /blob returns the ref; GET and HEAD fetch it; PUT /blob/:ref verifies the hash', async () => {
    const r = await req('POST', '/blob', 'hello');
    assert.equal(r.status, 201);
    assert.equal(r.json.ref, refOf(new TextEncoder().encode('hello')));
    assert.equal(r.json.added, true);
    assert.equal((await req('POST', '/blob', 'hello')).status, 200);
    const g = await req('GET', `/blob/${r.json.ref}`);
    assert.equal(g.text, 'hello');
    const head = await fetch(`${server.url}/blob/${r.json.ref}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '5', 'HEAD says how long the blob is');
    assert.equal(head.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(head.headers.get('etag'), `"${r.json.ref}"`);
    assert.equal((await fetch(`${server.url}/blob/${'0'.repeat(64)}`, { method: 'HEAD' })).status, 404);
    const good = refOf(new TextEncoder().encode('world'));
    assert.equal((await req('PUT', `/blob/${good}`, 'world')).status, 201);
    const before = await snapshot();
    const bad = await req('PUT', `/blob/${good.replace(/^./, good[0] === 'a' ? 'b' : 'a')}`, 'world');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error?.code, 'HASH_MISMATCH');
    assert.equal(await snapshot(), before);
  });

  it('bad refs, unknown routes and wrong methods answer typed JSON errors', async () => {
    const cases: [string, string, number, string][] = [
      ['GET', '/blob/xyz', 400, 'INVALID_REF'],
      ['GET', `/blob/${'A'.repeat(64)}`, 400, 'INVALID_REF'],
      ['GET', `/blob/${'f'.repeat(64)}`, 404, 'NOT_FOUND'],
      ['GET', '/nope', 404, 'NOT_FOUND'],
      ['DELETE', `/blob/${'f'.repeat(64)}`, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/blob/a/b/c/d', 404, 'NOT_FOUND'],
      ['GET', '/blob?limit=0', 400, 'BAD_REQUEST'],
      ['GET', '/blob?after=zz', 400, 'INVALID_REF'],
    ];
    for (const [m, p, status, code] of cases) {
      const r = await req(m, p);
      assert.equal(r.status, status, `${m} ${p}`);
      assert.equal(r.json.error?.code, code, `${m} ${p}`);
      assert.equal(typeof r.json.error?.message, 'string');
    }
  });

  it('an oversized body is refused with TOO_LARGE and stores nothing', async () => {
    const before = await snapshot();
    // declared too large: refused before reading
    const r = await new Promise<string>((resolve) => {
      const s = connect(server.port, '127.0.0.1', () => s.write(`POST /blob HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${200 * 1024 * 1024}\r\n\r\nabc`));
      let out = '';
      s.on('data', (c) => { out += c; if (out.includes('}}')) { s.destroy(); resolve(out); } });
    });
    assert.match(r, /^HTTP\/1.1 413/);
    assert.match(r, /TOO_LARGE/);
    // streamed (chunked) JSON body over its 1 MiB limit
    const big = await req('PUT', '/anchor/x', JSON.stringify({ ref: 'a'.repeat(64), pad: 'x'.repeat(1_100_000) }), { 'content-type': 'application/json' });
    assert.equal(big.status, 413);
    assert.equal(big.json.error?.code, 'TOO_LARGE');
    assert.equal(await snapshot(), before);
  });

  it('a truncated upload stores nothing and the server keeps serving', async () => {
    const before = await snapshot();
    await new Promise<void>((resolve) => {
      const s = connect(server.port, '127.0.0.1', () => {
        s.write('POST /blob HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(500));
        setTimeout(() => { s.destroy(); resolve(); }, 50);
      });
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await snapshot(), before);
    assert.equal((await req('GET', '/healthz')).status, 200);
  });
});

describe('HTTP API: anchors', () => {
  const A = 'a'.repeat(64), B = 'b'.repeat(64);
  it('PUT, GET (with ?at=), history, list and expire', async () => {
    assert.equal((await req('PUT', '/anchor/site%2Fmain', JSON.stringify({ ref: A, at: '2020-01-01T00:00:00Z' }))).status, 200);
    assert.equal((await req('PUT', '/anchor/site%2Fmain', JSON.stringify({ ref: B, at: '2021-01-01T00:00:00Z' }))).status, 200);
    assert.equal((await req('GET', '/anchor/site%2Fmain')).json.ref, B);
    assert.equal((await req('GET', '/anchor/site%2Fmain?at=2020-06-01T00:00:00Z')).json.ref, A);
    const nf = await req('GET', '/anchor/site%2Fmain?at=2019-01-01T00:00:00Z');
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error?.code, 'NOT_FOUND');
    const h = await req('GET', '/anchor/site%2Fmain/history');
    assert.deepEqual((h.json.history as { ref: string }[]).map((e) => e.ref), [A, B]);
    assert.ok((await req('GET', '/anchor')).json.names);
    const ex = await req('DELETE', '/anchor?older-than=2020-06-01T00:00:00Z&keep=1');
    assert.deepEqual(ex.json, { names: 1, dropped: 1 });
    assert.deepEqual(((await req('GET', '/anchor/site%2Fmain/history')).json.history as { ref: string }[]).map((e) => e.ref), [B]);
  });

  it('bad names, bad times, bad bodies answer typed errors and change nothing', async () => {
    const before = await snapshot();
    const cases: [string, string, string | undefined, number, string][] = [
      ['PUT', '/anchor/x', JSON.stringify({ ref: A, at: 'tomorrow' }), 400, 'INVALID_TIME'],
      ['PUT', '/anchor/x', JSON.stringify({ ref: 'nope' }), 400, 'INVALID_REF'],
      ['PUT', '/anchor/x', '{not json', 400, 'BAD_REQUEST'],
      ['PUT', '/anchor/x', '[1,2]', 400, 'BAD_REQUEST'],
      ['PUT', '/anchor/%E0%A4%A', JSON.stringify({ ref: A }), 400, 'INVALID_NAME'],
      ['PUT', '/anchor/a%0Ab', JSON.stringify({ ref: A }), 400, 'INVALID_NAME'],
      ['PUT', `/anchor/${'n'.repeat(2000)}`, JSON.stringify({ ref: A }), 400, 'INVALID_NAME'],
      ['GET', '/anchor/x?at=soon', undefined, 400, 'INVALID_TIME'],
      ['PUT', '/anchor/x/history', JSON.stringify({ version: 5, history: [] }), 409, 'CONFLICT'],
      ['PUT', '/anchor/x/history', JSON.stringify({ version: -1, history: [] }), 400, 'BAD_REQUEST'],
      ['DELETE', '/anchor', undefined, 400, 'BAD_REQUEST'],
      ['DELETE', '/anchor?older-than=x', undefined, 400, 'INVALID_TIME'],
    ];
    for (const [m, p, body, status, code] of cases) {
      const r = await req(m, p, body);
      assert.equal(r.status, status, `${m} ${p} ${body}`);
      assert.equal(r.json.error?.code, code, `${m} ${p} ${body}`);
    }
    assert.equal(await snapshot(), before);
  });
});

describe('HTTP API: fuzz', () => {
  it('random requests never crash the server, always answer JSON errors for failures, and failed requests change nothing (200 runs)', async () => {
    const seg = fc.oneof(fc.constantFrom('blob', 'anchor', 'history', 'a'.repeat(64), '%ZZ', '..', '', 'x'), fc.string({ maxLength: 12 }).map(encodeURIComponent));
    const path = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/'));
    const query = fc.oneof(fc.constant(''), fc.constantFrom('?at=', '?at=2020-01-01', '?limit=abc', '?after=', '?older-than=1&keep=-1'), fc.string({ maxLength: 10 }).map((s) => '?' + encodeURIComponent(s)));
    const body = fc.oneof(fc.constant(undefined), fc.json({ maxDepth: 3 }), fc.string({ maxLength: 50 }), fc.record({ ref: fc.oneof(fc.constant('a'.repeat(64)), fc.string()), at: fc.oneof(fc.integer(), fc.string(), fc.double()) }).map((o) => JSON.stringify(o)));
    const method = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD');
    await fc.assert(fc.asyncProperty(method, path, query, body, async (m, p, q, b) => {
      const before = await snapshot();
      const r = await req(m, p + q, m === 'GET' || m === 'HEAD' ? undefined : b);
      if (r.status >= 400 && m !== 'HEAD') {
        assert.equal(typeof r.json?.error?.code, 'string', `${m} ${p}${q} -> ${r.status} ${r.text}`);
        assert.equal(await snapshot(), before, `${m} ${p}${q} failed but changed the store`);
      }
      assert.ok(r.status < 500, `${m} ${p}${q} -> ${r.status} ${r.text}`);
    }), { numRuns: 200 });
    assert.equal((await req('GET', '/healthz')).status, 200);
  });
});
