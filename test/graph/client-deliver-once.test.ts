import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/graph/node.js';
import { startServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually } from './helpers/gun.js';

const settle = () => new Promise((r) => setTimeout(r, 400));

describe('graph client: on() and subscribe() deliver each change once (through a relay)', () => {
  it('a put of several fields, a later put, and set() items each arrive once', async () => {
    const dir = tmpDir();
    const server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [graphMount], env: {} });
    const a = new Graph({ peers: [`${server.url}/gun`] });
    const b = new Graph({ peers: [`${server.url}/gun`] });
    const ac = new AbortController();
    try {
      const node: string[] = [], field: unknown[] = [], sub: string[] = [], items: string[] = [], itemSub: string[] = [];
      b.get('u1').on((v) => node.push(JSON.stringify(v)));
      b.get('u1').get('name').on((v) => field.push(v));
      b.get('list').map().on((v) => items.push(JSON.stringify(v)));
      void (async () => { for await (const c of b.get('u1').subscribe({ signal: ac.signal })) sub.push(JSON.stringify(c.value)); })();
      void (async () => { for await (const c of b.get('list').map().subscribe({ signal: ac.signal })) itemSub.push(JSON.stringify(c.value)); })();
      await eventually(() => b.peers.every((p) => p.connected) && a.peers.every((p) => p.connected));
      await settle();

      await a.get('u1').put({ name: 'ann', age: 3 });
      await a.get('list').set({ t: 1, u: 2 });
      await eventually(() => node.length >= 1 && items.length >= 1);
      await settle();
      await a.get('u1').put({ age: 4 });
      await eventually(() => node.length >= 2);
      await settle();

      const first = '{"name":"ann","age":3}', second = '{"name":"ann","age":4}';
      assert.deepEqual(node, [first, second]);
      assert.deepEqual(sub, [first, second]);
      assert.deepEqual(field, ['ann']);
      assert.deepEqual(items, ['{"t":1,"u":2}']);
      assert.deepEqual(itemSub, ['{"t":1,"u":2}']);
    } finally {
      ac.abort();
      await a.close();
      await b.close();
      await server.close();
      dir.rm();
    }
  });
});
