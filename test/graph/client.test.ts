import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/graph/node.js';
import { isPlexusError } from '../../src/errors.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually } from './helpers/gun.js';
import { clientScenarios } from './helpers/scenarios.js';

describe('graph client (local only)', () => {
  it('put/once/on/set/map on the local store; typed errors', async () => {
    const g = new Graph();
    await g.get('a').put({ x: 1, nested: { y: 'z' } });
    assert.deepEqual(await g.get('a').once(), { x: 1, nested: { '#': 'a/nested' } });
    assert.deepEqual(await g.get('a').get('nested').once(), { y: 'z' });
    assert.equal(await g.get('a').get('nested').get('y').once(), 'z');
    await assert.rejects(g.get('a').put(5), (e) => isPlexusError(e, 'LOOKUP_ON_TOP_LEVEL'));
    await assert.rejects(g.get('a').get('x').get('deeper').put(1), (e) => isPlexusError(e, 'NOT_OBJECT'));
    await assert.rejects(g.get('a').get('q').put([1, 2]), (e) => isPlexusError(e, 'BAD_REQUEST'));
    await assert.rejects(g.get('a').set(5), (e) => isPlexusError(e, 'NOT_OBJECT'));
    await assert.rejects(g.get('none').get('f').get('g').put(1, { failWithoutParent: true }), (e) => isPlexusError(e, 'NOT_FOUND'));
    // parents are created lazily
    await g.get('p').get('q').get('r').put('deep');
    assert.equal(await g.get('p').get('q').soul(), 'p/q');
    assert.equal(await g.get('p').get('q').get('r').once(), 'deep');
    const seen: unknown[] = [];
    const off = g.get('a').get('x').on((v) => seen.push(v));
    await g.get('a').get('x').put(2);
    await eventually(() => seen.includes(2));
    off();
    const item = await g.get('list').set({ t: 1 });
    await g.get('list').set({ t: 2 });
    assert.equal(Object.keys(await g.get('list').map().once()).length, 2);
    assert.deepEqual(await item.once(), { t: 1 });
    await g.close();
  });

  it('subscribe() is an async iterator that ends on abort', async () => {
    const g = new Graph();
    const ac = new AbortController();
    const got: unknown[] = [];
    const done = (async () => { for await (const c of g.get('s').get('f').subscribe({ signal: ac.signal })) { got.push(c.value); if (got.length === 2) ac.abort(); } })();
    await new Promise((r) => setTimeout(r, 10));
    await g.get('s').get('f').put('one');
    await new Promise((r) => setTimeout(r, 10));
    await g.get('s').get('f').put('two');
    await done;
    assert.deepEqual(got, ['one', 'two']);
    await g.close();
  });
});

describe('graph client <-> plexus relay', () => {
  let server: PlexusServer;
  const dir = tmpDir();
  before(async () => { server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [graphMount] }); });
  after(async () => { await server.close(); dir.rm(); });

  clientScenarios(() => `${server.url}/gun`, { prefix: 'pl-' });

  it('offline writes are queued, sent on reconnect (with backoff), and converge', async () => {
    const d = tmpDir();
    let s = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [graphMount] });
    const port = s.port;
    const errors: unknown[] = [];
    const a = new Graph({ peers: [`${s.url}/gun`], peerRetryMs: 50, onPeerError: (_u, e) => errors.push(e) });
    await eventually(() => a.peers[0]!.connected);
    await a.get('off').put({ before: 1 });
    await s.close();
    await eventually(() => !a.peers[0]!.connected);
    const pending = a.get('off').get('during').put('offline', { timeoutMs: 30_000 });
    await eventually(() => a.pendingWrites === 1);
    await new Promise((r) => setTimeout(r, 300)); // several failed dials
    s = await startServer({ port, dataDir: d.path, logLevel: 'silent', mounts: [graphMount] });
    const r = await pending;
    assert.equal(r.acks.length, 1);
    assert.equal(a.pendingWrites, 0);
    const b = new Graph({ peers: [`${s.url}/gun`] });
    assert.deepEqual(await b.get('off').once(), { before: 1, during: 'offline' });
    await a.close(); await b.close(); await s.close(); d.rm();
  });
});
