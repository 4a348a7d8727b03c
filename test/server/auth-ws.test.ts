import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { frameSocket } from '../helpers/ws-raw.js';

const ADMIN = 'ws-admin-token';
const READER = 'ws-reader-token';

const client = frameSocket;

/** Status of a refused WebSocket upgrade. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode!); ws.terminate(); });
    ws.once('open', () => { ws.close(); reject(new Error('upgrade was accepted')); });
  });
}

const gunPut = (id: string, soul: string, field: string, value: unknown) =>
  JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [field]: Date.now() } }, [field]: value } } });
const gunGet = (id: string, soul: string) => JSON.stringify({ '#': id, get: { '#': soul } });
const replyTo = (id: string) => (f: string) => { try { const m = JSON.parse(f); return (Array.isArray(m) ? m : [m]).some((x) => x['@'] === id); } catch { return false; } };
const parseReply = (f: string, id: string) => { const m = JSON.parse(f); return (Array.isArray(m) ? m : [m]).find((x) => x['@'] === id); };

describe('auth on WebSockets: /gun and /evt writes need a token (when set), refused writes change nothing', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => {
    const tokens = join(d.path, 'tokens.json');
    writeFileSync(tokens, JSON.stringify([{ name: 'admin', token: ADMIN, scopes: ['read', 'write'] }, { name: 'reader', token: READER, scopes: ['read'] }]));
    server = await startServer({ port: 0, dataDir: join(d.path, 'data'), logLevel: 'silent', mounts: defaultMounts, tokensFile: tokens, env: {} });
  });
  after(async () => { await server.close(); d.rm(); });
  const ws = (path: string, token?: string) => server.url.replace('http', 'ws') + path + (token ? `?token=${token}` : '');
  const has = (name: string) => server.mounts.some((m) => m.name === name);

  it('/gun: a put without a token, or with a read-only token, is refused and stores nothing; with the write token it is acked', async () => {
    assert.ok(has('graph'), 'graph module is mounted');
    for (const [i, token] of [undefined, READER, 'not-a-token'].entries()) {
      // Message ids must be unique: the relay de-duplicates them across connections.
      const c = await client(ws('/gun', token));
      c.ws.send(gunPut(`w1-${i}`, 'secret', 'field', `by ${token}`));
      const r = parseReply(await c.next(replyTo(`w1-${i}`)), `w1-${i}`);
      assert.ok(r.err, `token=${token}: ${JSON.stringify(r)}`);
      assert.match(String(r.err), /UNAUTHORIZED|token/i);
      c.ws.close();
    }
    const admin = await client(ws('/gun', ADMIN));
    admin.ws.send(gunGet('g1', 'secret'));
    const before = parseReply(await admin.next(replyTo('g1')), 'g1');
    assert.equal(before.put, undefined, 'nothing was stored by the refused puts');
    admin.ws.send(gunPut('w2', 'secret', 'field', 'by admin'));
    assert.equal(parseReply(await admin.next(replyTo('w2')), 'w2').ok, true);
    const reader = await client(ws('/gun'));
    reader.ws.send(gunGet('g2', 'secret'));
    assert.equal(parseReply(await reader.next(replyTo('g2')), 'g2').put.secret.field, 'by admin');
    admin.ws.close();
    reader.ws.close();
  });

  it('/evt: a publish without a write token is refused and publishes nothing; with it, it goes through', async () => {
    assert.ok(has('ledger'), 'ledger module is mounted');
    for (const token of [undefined, READER]) {
      const c = await client(ws('/evt', token));
      c.ws.send('evt.pub#1\n{"acts":[{"top":"sec.doc","key":"1","cmd":"new","arg":{"x":1}}]}');
      const f = await c.next((x) => x.startsWith('evt.pub#1\n'));
      assert.match(f, /"err"/);
      c.ws.close();
    }
    const admin = await client(ws('/evt', ADMIN));
    admin.ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["sec.doc"]}');
    const sub = await admin.next((x) => x.startsWith('evt.sub#1\n'));
    assert.doesNotMatch(sub, /"evs"/, 'no events were published by the refused writes');
    admin.ws.send('evt.pub#2\n{"acts":[{"top":"sec.doc","key":"1","cmd":"new","arg":{"x":2}}]}');
    assert.match(await admin.next((x) => x.startsWith('evt.pub#2\n')), /"res":\{"rev"/);
    admin.ws.close();
  });

  it('the token also works as Authorization: Bearer on the upgrade', async () => {
    assert.ok(has('graph'), 'graph module is mounted');
    const w = new WebSocket(ws('/gun'), { headers: { authorization: `Bearer ${ADMIN}` } });
    const frames: string[] = [];
    w.on('message', (m) => frames.push(m.toString()));
    await new Promise((r) => w.once('open', r));
    w.send(gunPut('w3', 'bearer', 'f', 1));
    for (let i = 0; i < 50 && !frames.some(replyTo('w3')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(parseReply(frames.find(replyTo('w3'))!, 'w3').ok, true);
    w.close();
  });
});

describe('auth on WebSockets with --auth-reads: upgrades without a read token are refused', () => {
  it('/gun and /evt answer 401 to an upgrade without a token and accept one with a token', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: defaultMounts, token: ADMIN, authReads: true, env: {} });
    try {
      const base = server.url.replace('http', 'ws');
      for (const name of ['graph', 'ledger'] as const) {
        if (!server.mounts.some((m) => m.name === name)) continue;
        const path = name === 'graph' ? '/gun' : '/evt';
        assert.equal(await upgradeStatus(`${base}${path}`), 401, path);
        assert.equal(await upgradeStatus(`${base}${path}?token=wrong-token-x`), 401, path);
        const ok = new WebSocket(`${base}${path}?token=${ADMIN}`);
        await new Promise((r, j) => { ok.once('open', r); ok.once('error', j); });
        ok.close();
      }
    } finally {
      await server.close();
      d.rm();
    }
  });
});
