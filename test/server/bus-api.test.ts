import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createBusMount, SERVER_NAMESPACE } from '../../src/server/bus.js';
import { memoryNetwork } from '../../src/bus/index.js';
import { tmpDir } from '../helpers/tmp.js';

const TOKEN = 'bus-test-token';

describe('bus: the server\'s own peer, /api/bus', () => {
  let server: PlexusServer;
  const d = tmpDir();
  const net = memoryNetwork();
  const other = net.peer();
  before(async () => {
    // Another peer on the same network serves a namespace the server's peer does not.
    await other.listen('shop', (req, res) => {
      if (req.command === 'price') return res.done({ item: (req.payload as { item: string }).item, cents: 250 });
      res.fail('out-of-stock', 'no more');
    });
    server = await startServer({
      port: 0, dataDir: d.path, logLevel: 'silent', token: TOKEN, env: {},
      mounts: [createBusMount({ network: net, serve: { 'app.greeter': (req, res) => res.done(`hello ${String(req.payload)}`) } })],
    });
  });
  after(async () => { await server.close(); await other.stop(); d.rm(); });

  const call = (body: unknown, token: string | null = TOKEN) => fetch(`${server.url}/api/bus/call`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  }).then(async (r) => ({ status: r.status, json: await r.json() as Record<string, unknown> & { error?: { code: string } } }));

  it('lists the namespaces the server\'s peer serves', async () => {
    const r = await (await fetch(`${server.url}/api/bus`)).json() as { peer: string; namespaces: string[]; transport: string };
    assert.deepEqual(r.namespaces, ['app.greeter', SERVER_NAMESPACE]);
    assert.equal(r.transport, 'memory');
    assert.match(r.peer, /^[0-9A-F]+-[0-9A-F]+$/);
  });

  it('makes calls and shows results: own namespaces, other peers, failures, unknown namespaces', async () => {
    assert.deepEqual((await call({ namespace: SERVER_NAMESPACE, command: 'ping' })).json.result, 'pong');
    assert.deepEqual((await call({ namespace: SERVER_NAMESPACE, command: 'echo', payload: { a: [1, 'x'] } })).json.result, { a: [1, 'x'] });
    assert.equal((await call({ namespace: 'app.greeter', command: 'hi', payload: 'ann' })).json.result, 'hello ann');
    assert.deepEqual((await call({ namespace: 'shop', command: 'price', payload: { item: 'tea' } })).json.result, { item: 'tea', cents: 250 });
    const f = await call({ namespace: 'shop', command: 'buy' });
    assert.equal(f.json.ok, false);
    assert.deepEqual(f.json.failure, { type: 'out-of-stock', message: 'no more', payload: null });
    const t = await call({ namespace: 'nobody.here', command: 'x', timeoutMs: 200 });
    assert.equal(t.json.ok, false);
    assert.equal((t.json.error as { code: string }).code, 'TIMEOUT');
  });

  it('a call is a write: it needs the token; bad input is a clear 400', async () => {
    const r = await call({ namespace: SERVER_NAMESPACE, command: 'ping' }, null);
    assert.equal(r.status, 401);
    assert.equal(r.json.error?.code, 'UNAUTHORIZED');
    for (const body of [{ namespace: '_reserved', command: 'x' }, { namespace: 'ok', command: '' }, { namespace: 'ok', command: 'x', timeoutMs: -1 }, [1]]) {
      const b = await call(body);
      assert.equal(b.status, 400, JSON.stringify(body));
    }
    assert.equal((await fetch(`${server.url}/api/bus/call`)).status, 405);
  });
});
