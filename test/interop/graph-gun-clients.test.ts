import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually, GunPeer } from '../graph/helpers/gun.js';

// Real gun 0.2020.1241 clients, each in its own process, talking only through the plexus relay.
describe('interop: real gun clients through the plexus relay', () => {
  let server: PlexusServer;
  let url: string;
  const dir = tmpDir();
  const peers: GunPeer[] = [];
  const peer = async () => { const p = new GunPeer(url); peers.push(p); await p.ready(); return p; };

  before(async () => {
    server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [graphMount] });
    url = `${server.url}/gun`;
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await server.close();
    dir.rm();
  });

  it('put is acked by the relay; another client reads it with once', async () => {
    const [a, b] = await Promise.all([peer(), peer()]);
    const ack = await a.put(['h1'], { greeting: 'hello', n: 1 });
    assert.equal(ack.err, undefined);
    assert.equal(ack.ok, true);
    assert.deepEqual(await b.once(['h1']), { greeting: 'hello', n: 1 });
    assert.equal(await b.once(['h1', 'greeting']), 'hello');
  });

  it('on gets live updates written by another client', async () => {
    const [a, b] = await Promise.all([peer(), peer()]);
    const seen: unknown[] = [];
    await b.on(['live', 'counter'], (ev) => seen.push(ev.data));
    await a.put(['live'], { counter: 1 });
    await eventually(() => seen.includes(1), 10_000, 'first update');
    await a.put(['live', 'counter'], 2);
    await eventually(() => seen.includes(2), 10_000, 'second update');
  });

  it('nested objects: one put of a tree, read back through the links by another client', async () => {
    const [a, b] = await Promise.all([peer(), peer()]);
    const ack = await a.put(['users', 'alice'], { name: 'Alice', profile: { age: 30, city: 'Oslo' } });
    assert.equal(ack.err, undefined);
    assert.equal(await b.once(['users', 'alice', 'name']), 'Alice');
    assert.deepEqual(await b.once(['users', 'alice', 'profile']), { age: 30, city: 'Oslo' });
  });

  it('set and map: items added by two clients are all listed by a third', async () => {
    const [a, b, c] = await Promise.all([peer(), peer(), peer()]);
    await a.set(['list'], { title: 'one' });
    await b.set(['list'], { title: 'two' });
    const items = await eventually(async () => {
      const m = await c.map(['list'], 800);
      const titles = Object.values(m).map((v) => (v as { title?: string }).title).sort();
      return titles.length === 2 ? titles : undefined;
    }, 15_000, 'two set items');
    assert.deepEqual(items, ['one', 'two']);
  });

  it('delete (put null) is seen by others and stays deleted when a stale value is re-sent', async () => {
    const [a, b] = await Promise.all([peer(), peer()]);
    await a.put(['del'], { x: 'alive' });
    assert.equal(await b.once(['del', 'x']), 'alive');
    await a.put(['del', 'x'], null);
    await eventually(async () => (await b.once(['del', 'x'])) === null, 10_000, 'b sees the delete');
    // a re-put of the old value by a client whose clock is behind is ignored (raw stale re-sends: test/graph/relay.test.ts)
    const c = await peer();
    assert.equal(await c.once(['del', 'x']), null);
  });

  it('concurrent writes to one field from several clients converge on every client', async () => {
    const ps = await Promise.all([peer(), peer(), peer()]);
    await Promise.all(ps.map((p, i) => p.put(['race'], { v: `writer-${i}` })));
    const values = await eventually(async () => {
      const vs = await Promise.all([...ps, await peer()].map((p) => p.once(['race', 'v'], 500)));
      return new Set(vs).size === 1 ? vs : undefined;
    }, 15_000, 'convergence');
    assert.match(String(values![0]), /^writer-\d$/);
  });

  it('a late joiner gets everything written before it connected', async () => {
    const a = await peer();
    for (let i = 0; i < 20; i++) await a.put(['late', `k${i}`], i);
    await a.close();
    const z = await peer();
    const node = (await z.once(['late'], 500)) as Record<string, number>;
    assert.equal(Object.keys(node).length, 20);
    assert.equal(node.k19, 19);
  });
});
