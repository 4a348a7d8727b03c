import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { frameSocket } from '../helpers/ws-raw.js';

const ADMIN = 'ws-sec-admin-token';
const READER = 'ws-sec-reader-token';

const open = frameSocket;

const replyTo = (id: string) => (f: string) => { try { const m = JSON.parse(f); return (Array.isArray(m) ? m : [m]).some((x) => x['@'] === id); } catch { return false; } };
const reply = (f: string, id: string) => { const m = JSON.parse(f); return (Array.isArray(m) ? m : [m]).find((x) => x['@'] === id); };

describe('WebSocket writes with a valid read-only token answer FORBIDDEN, as HTTP does', () => {
  it('/gun puts and /evt publishes: FORBIDDEN with a read-only token, UNAUTHORIZED without one; nothing stored', async () => {
    const d = tmpDir();
    const tokens = join(d.path, 'tokens.json');
    writeFileSync(tokens, JSON.stringify([{ name: 'admin', token: ADMIN, scopes: ['read', 'write'] }, { name: 'reader', token: READER, scopes: ['read'] }]));
    const server = await startServer({ port: 0, dataDir: join(d.path, 'data'), logLevel: 'silent', mounts: defaultMounts, tokensFile: tokens, env: {} });
    try {
      const ws = server.url.replace('http', 'ws');
      for (const [token, code] of [[READER, 'FORBIDDEN'], [undefined, 'UNAUTHORIZED']] as const) {
        const g = await open(`${ws}/gun${token ? `?token=${token}` : ''}`);
        const id = `p-${code}`;
        g.ws.send(JSON.stringify({ '#': id, put: { ro: { _: { '#': 'ro', '>': { f: Date.now() } }, f: code } } }));
        const r = reply(await g.next(replyTo(id)), id);
        assert.equal(r.code, code, JSON.stringify(r));
        g.ws.close();
        const e = await open(`${ws}/evt${token ? `?token=${token}` : ''}`);
        e.ws.send('evt.pub#7\n{"acts":[{"top":"ro.doc","key":"1","cmd":"new","arg":{"x":1}}]}');
        const f = await e.next((x) => x.startsWith('evt.pub#7\n'));
        assert.equal(JSON.parse(f.slice(f.indexOf('\n') + 1)).code, code, f);
        e.ws.close();
      }
      const admin = await open(`${ws}/gun?token=${ADMIN}`);
      admin.ws.send(JSON.stringify({ '#': 'g', get: { '#': 'ro' } }));
      assert.equal(reply(await admin.next(replyTo('g')), 'g').put, undefined, 'no refused put was stored');
      admin.ws.close();
      const hub = await open(`${ws}/evt?token=${ADMIN}`);
      hub.ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["ro.doc"]}');
      assert.doesNotMatch(await hub.next((x) => x.startsWith('evt.sub#1\n')), /"evs"/, 'no refused publish was stored');
      hub.ws.close();
    } finally {
      await server.close();
      d.rm();
    }
  });
});

describe('shutdown closes WebSockets with 1001 (going away)', () => {
  it('/gun and /evt clients see close code 1001, not 1006', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: defaultMounts, env: {} });
    const ws = server.url.replace('http', 'ws');
    const gun = await open(`${ws}/gun`);
    const evt = await open(`${ws}/evt`);
    evt.ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["a.b"]}');
    await evt.next((x) => x.startsWith('evt.sub#1\n'));
    const t0 = Date.now();
    await server.close();
    assert.equal(await gun.closed, 1001);
    assert.equal(await evt.closed, 1001);
    assert.ok(Date.now() - t0 < 3000, `shutdown took ${Date.now() - t0} ms`);
    d.rm();
  });
});

describe('start-up warning when exposed without a token', () => {
  it('bound to a non-loopback address without a token, the server warns; on loopback or with a token it does not', async () => {
    const d = tmpDir();
    const runs: [string, string | undefined, boolean][] = [['0.0.0.0', undefined, true], ['0.0.0.0', ADMIN, false], ['127.0.0.1', undefined, false]];
    try {
      for (const [host, token, warns] of runs) {
        const logs: Record<string, unknown>[] = [];
        const s = await startServer({ port: 0, host, dataDir: d.path, logLevel: 'warn', logger: (l) => logs.push(l), mounts: [], ...(token ? { token } : {}), env: {} });
        await s.close();
        const warned = logs.some((l) => l.level === 'warn' && /without a token/.test(String(l.msg)));
        assert.equal(warned, warns, `${host} token=${token !== undefined}: ${JSON.stringify(logs)}`);
      }
    } finally { d.rm(); }
  });
});
