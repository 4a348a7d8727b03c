import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/graph/node.js';
import { eventually } from './gun.js';

/**
 * The interop scenarios, run by plexus Graph clients against a relay (plexus's or gun's own).
 * `url()` is read lazily (the relay starts in a before hook).
 */
export function clientScenarios(url: () => string, opts: { prefix: string; ackTimeoutMs?: number }): void {
  const graphs: Graph[] = [];
  const client = () => { const g = new Graph({ peers: [url()] }); graphs.push(g); return g; };
  const p = opts.prefix;
  const putOpts = { timeoutMs: opts.ackTimeoutMs ?? 10_000 };
  const settle = async (g: Graph) => { await eventually(() => g.peers.every((x) => x.connected), 5000, 'connected'); };
  const cleanup = async () => { await Promise.all(graphs.splice(0).map((g) => g.close())); };

  it('put (acked) then once from another client', async () => {
    const [a, b] = [client(), client()];
    await settle(a); await settle(b);
    const r = await a.get(`${p}h1`).put({ greeting: 'hello', n: 1 }, putOpts);
    assert.equal(r.acks.length, 1);
    assert.deepEqual(await b.get(`${p}h1`).once(), { greeting: 'hello', n: 1 });
    assert.equal(await b.get(`${p}h1`).get('n').once(), 1);
    await cleanup();
  });

  it('on gets live updates from another client', async () => {
    const [a, b] = [client(), client()];
    await settle(a); await settle(b);
    const seen: unknown[] = [];
    const off = b.get(`${p}live`).get('c').on((v) => seen.push(v));
    await new Promise((r) => setTimeout(r, 150));
    await a.get(`${p}live`).get('c').put(1, putOpts);
    await eventually(() => seen.includes(1), 10_000, 'update 1');
    await a.get(`${p}live`).get('c').put(2, putOpts);
    await eventually(() => seen.includes(2), 10_000, 'update 2');
    off();
    await cleanup();
  });

  it('nested objects become linked nodes, readable through the path', async () => {
    const [a, b] = [client(), client()];
    await settle(a); await settle(b);
    await a.get(`${p}users`).get('alice').put({ name: 'Alice', profile: { age: 30 } }, putOpts);
    assert.equal(await b.get(`${p}users`).get('alice').get('name').once(), 'Alice');
    assert.deepEqual(await b.get(`${p}users`).get('alice').get('profile').once(), { age: 30 });
    assert.equal(await b.get(`${p}users`).get('alice').soul(), `${p}users/alice`);
    await cleanup();
  });

  it('set and map', async () => {
    const [a, b] = [client(), client()];
    await settle(a); await settle(b);
    await a.get(`${p}list`).set({ title: 'one' }, putOpts);
    await a.get(`${p}list`).set({ title: 'two' }, putOpts);
    const items = await b.get(`${p}list`).map().once();
    assert.deepEqual(Object.values(items).map((i) => (i as { title: string }).title).sort(), ['one', 'two']);
    await cleanup();
  });

  it('delete (put null) reaches the other client and stays deleted', async () => {
    const [a, b] = [client(), client()];
    await settle(a); await settle(b);
    await a.get(`${p}del`).put({ x: 'alive' }, putOpts);
    const seen: unknown[] = [];
    b.get(`${p}del`).get('x').on((v) => seen.push(v));
    await eventually(() => seen.includes('alive'), 10_000, 'alive');
    await a.get(`${p}del`).get('x').put(null, putOpts);
    await eventually(() => seen.includes(null), 10_000, 'null');
    const c = client(); await settle(c);
    assert.equal(await c.get(`${p}del`).get('x').once(), null);
    await cleanup();
  });

  it('concurrent writes from several clients converge', async () => {
    const cs = [client(), client(), client()];
    for (const c of cs) await settle(c);
    for (const c of cs) c.get(`${p}race`).get('v').on(() => {});
    await new Promise((r) => setTimeout(r, 150));
    await Promise.all(cs.map((c, i) => c.get(`${p}race`).put({ v: `w${i}` }, putOpts).catch(() => undefined)));
    await eventually(async () => {
      const vs = await Promise.all(cs.map((c) => c.get(`${p}race`).get('v').once({ source: 'local' })));
      return new Set(vs).size === 1;
    }, 10_000, 'convergence');
    await cleanup();
  });

  it('a late joiner reads everything written before', async () => {
    const a = client(); await settle(a);
    for (let i = 0; i < 10; i++) await a.get(`${p}late`).get(`k${i}`).put(i, putOpts);
    const z = client(); await settle(z);
    const n = (await z.get(`${p}late`).once()) as Record<string, number>;
    assert.equal(Object.keys(n).length, 10);
    await cleanup();
  });
}
