import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { Auth, loadTokensFile } from '../../src/server/auth.js';
import { refOf } from '../../src/blob/ref.js';
import { tmpDir } from '../helpers/tmp.js';

const ADMIN = 'admin-token-123';
const READER = 'reader-token-456';
const HASHED = 'hashed-token-789';

async function call(server: PlexusServer, method: string, path: string, body?: string, token?: string, viaQuery = false) {
  const headers: Record<string, string> = {};
  if (token && !viaQuery) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = path.startsWith('/blob') ? 'application/octet-stream' : 'application/json';
  const p = token && viaQuery ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;
  const res = await fetch(server.url + p, { method, body, headers });
  const text = await res.text();
  let json: Record<string, unknown> & { error?: { code: string; message: string } } = {};
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

/** Everything observable about blobs and anchors (read with the admin token). */
async function snapshot(server: PlexusServer) {
  const refs = await call(server, 'GET', '/blob?limit=10000', undefined, ADMIN);
  const names = await call(server, 'GET', '/anchor?limit=10000', undefined, ADMIN);
  const hist = await Promise.all(((names.json.names as string[]) ?? []).map((n) => call(server, 'GET', `/anchor/${encodeURIComponent(n)}/history`, undefined, ADMIN)));
  return JSON.stringify([refs.json, names.json, hist.map((h) => h.json)]);
}

const REF_A = refOf(new TextEncoder().encode('a'));

/** Every kind of HTTP write the server has. */
const WRITES: [string, string, string | undefined][] = [
  ['POST', '/blob', 'new blob'],
  ['PUT', `/blob/${refOf(new TextEncoder().encode('put blob'))}`, 'put blob'],
  ['PUT', '/anchor/app', JSON.stringify({ ref: REF_A })],
  ['PUT', '/anchor/app/history', JSON.stringify({ version: 0, history: [] })],
  ['DELETE', '/anchor?older-than=2100-01-01T00:00:00Z&keep=0', undefined],
];

describe('auth: --token protects every HTTP write', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => {
    server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], token: ADMIN, env: {} });
    assert.equal((await call(server, 'POST', '/blob', 'a', ADMIN)).status, 201);
    assert.equal((await call(server, 'PUT', '/anchor/app', JSON.stringify({ ref: REF_A, at: 1000 }), ADMIN)).status, 200);
  });
  after(async () => { await server.close(); d.rm(); });

  it('a write without a token, or with a wrong one, is refused and changes nothing', async () => {
    const before = await snapshot(server);
    for (const [method, path, body] of WRITES) {
      for (const token of [undefined, 'wrong-token-000', ADMIN + 'x']) {
        const r = await call(server, method, path, body, token);
        assert.equal(r.status, 401, `${method} ${path} token=${token}`);
        assert.equal(r.json.error?.code, 'UNAUTHORIZED');
        assert.doesNotMatch(r.text, new RegExp(ADMIN));
      }
    }
    assert.equal(await snapshot(server), before);
  });

  it('the token works as Authorization: Bearer and as ?token=', async () => {
    assert.equal((await call(server, 'POST', '/blob', 'via header', ADMIN)).status, 201);
    assert.equal((await call(server, 'POST', '/blob', 'via query', ADMIN, true)).status, 201);
    assert.equal((await call(server, 'PUT', '/anchor/app', JSON.stringify({ ref: REF_A }), ADMIN, true)).status, 200);
  });

  it('reads stay open unless --auth-reads', async () => {
    assert.equal((await call(server, 'GET', `/blob/${REF_A}`)).text, 'a');
    assert.equal((await call(server, 'GET', '/anchor/app/history')).status, 200);
    assert.equal((await call(server, 'GET', '/metrics')).status, 200);
  });
});

describe('auth: tokens file with scopes, --auth-reads', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => {
    const file = join(d.path, 'tokens.json');
    writeFileSync(file, JSON.stringify([
      { name: 'admin', token: ADMIN, scopes: ['read', 'write'] },
      { name: 'reader', token: READER, scopes: ['read'] },
      { name: 'hashed-writer', sha256: createHash('sha256').update(HASHED).digest('hex'), scopes: ['write'] },
    ]));
    server = await startServer({ port: 0, dataDir: join(d.path, 'data'), logLevel: 'silent', mounts: [blobMount], tokensFile: file, authReads: true, env: {} });
    assert.equal((await call(server, 'POST', '/blob', 'a', ADMIN)).status, 201);
  });
  after(async () => { await server.close(); d.rm(); });

  it('a read-only token may read but its writes get FORBIDDEN and change nothing', async () => {
    const before = await snapshot(server);
    for (const [method, path, body] of WRITES) {
      const r = await call(server, method, path, body, READER);
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.equal(r.json.error?.code, 'FORBIDDEN');
      assert.match(r.json.error!.message, /reader.*write scope/);
    }
    assert.equal(await snapshot(server), before);
    assert.equal((await call(server, 'GET', `/blob/${REF_A}`, undefined, READER)).text, 'a');
  });

  it('reads need a token: no token is UNAUTHORIZED on /blob, /anchor and /metrics; /healthz only says ok', async () => {
    for (const p of [`/blob/${REF_A}`, '/blob', '/anchor', '/anchor/app/history', '/metrics']) {
      const r = await call(server, 'GET', p);
      assert.equal(r.status, 401, p);
      assert.equal(r.json.error?.code, 'UNAUTHORIZED');
    }
    const h = await call(server, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(Object.keys(h.json).sort(), ['ok', 'uptimeMs']);
    const full = await call(server, 'GET', '/healthz', undefined, READER);
    assert.ok(full.json.stats);
  });

  it('a token stored as sha256 works; write scope implies read', async () => {
    assert.equal((await call(server, 'POST', '/blob', 'hashed', HASHED)).status, 201);
    assert.equal((await call(server, 'GET', `/blob/${REF_A}`, undefined, HASHED)).status, 200);
  });

  it('auth denials are counted in /metrics', async () => {
    const m = await call(server, 'GET', '/metrics', undefined, ADMIN);
    assert.match(m.text, /plexus_auth_denied_total\{scope="write"\} [1-9]/);
    assert.match(m.text, /plexus_auth_denied_total\{scope="read"\} [1-9]/);
  });
});

describe('auth: tokens files and the Auth checker', () => {
  it('rejects malformed tokens files with an error naming the entry', () => {
    const d = tmpDir();
    try {
      const cases: [unknown, RegExp][] = [
        [{ nope: 1 }, /must hold an array/],
        [[{ name: 'x', token: 'short', scopes: ['write'] }], /entry 0: token must be at least 8/],
        [[{ name: 'x', token: 'longenough', scopes: ['admin'] }], /entry 0: scopes/],
        [[{ name: 'ok', token: 'longenough' }, { name: 'y' }], /entry 1: needs "token"/],
      ];
      for (const [content, re] of cases) {
        const f = join(d.path, 't.json');
        writeFileSync(f, JSON.stringify(content));
        assert.throws(() => loadTokensFile(f), re);
      }
      writeFileSync(join(d.path, 'bad.json'), '{');
      assert.throws(() => loadTokensFile(join(d.path, 'bad.json')), /cannot read tokens file/);
    } finally {
      d.rm();
    }
  });

  it('authorize() answers at upgrade time from the header or ?token=', () => {
    const auth = new Auth([{ name: 'w', token: ADMIN, scopes: ['write'] }, { name: 'r', token: READER, scopes: ['read'] }], false);
    const req = (url: string, authorization?: string) => ({ url, headers: authorization ? { authorization } : {} }) as never;
    assert.equal(auth.allows(req('/gun'), 'read'), true);
    assert.equal(auth.allows(req('/gun'), 'write'), false);
    assert.equal(auth.allows(req(`/gun?token=${ADMIN}`), 'write'), true);
    assert.equal(auth.allows(req('/gun', `Bearer ${ADMIN}`), 'write'), true);
    assert.equal(auth.allows(req('/gun', `Bearer ${READER}`), 'write'), false);
    assert.equal(auth.denial(req('/gun', `Bearer ${READER}`), 'write')?.code, 'FORBIDDEN');
    assert.equal(new Auth([], false).allows(req('/gun'), 'write'), true);
  });
});
