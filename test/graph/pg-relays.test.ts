import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/graph/node.js';
import { startServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually, GunPeer } from './helpers/gun.js';

describe('graph: two plexus relays on one PostgreSQL', () => {
  it('clients on either relay see the same data, live (LISTEN/NOTIFY)', async () => {
    const pgs = await freshPgSchema('graphrel');
    const d1 = tmpDir(), d2 = tmpDir();
    const s1 = await startServer({ port: 0, dataDir: d1.path, postgres: pgs.url, logLevel: 'silent', mounts: [graphMount] });
    const s2 = await startServer({ port: 0, dataDir: d2.path, postgres: pgs.url, logLevel: 'silent', mounts: [graphMount] });
    const a = new Graph({ peers: [`${s1.url}/gun`] });
    const b = new Graph({ peers: [`${s2.url}/gun`] });
    const gun = new GunPeer(`${s2.url}/gun`);
    try {
      await gun.ready();
      await eventually(() => a.peers[0]!.connected && b.peers[0]!.connected);
      await a.get('shared').put({ hello: 'from-1' });
      assert.equal(await b.get('shared').get('hello').once(), 'from-1');
      const seen: unknown[] = [];
      b.get('shared').get('n').on((v) => seen.push(v));
      const gunSeen: unknown[] = [];
      await gun.on(['shared', 'n'], (ev) => gunSeen.push(ev.data));
      await new Promise((r) => setTimeout(r, 300)); // subscriptions reach relay 2, LISTEN is up
      for (let i = 1; i <= 3; i++) await a.get('shared').get('n').put(i);
      await eventually(() => seen.includes(3), 10_000, 'plexus client on relay 2 sees live writes on relay 1');
      await eventually(() => gunSeen.includes(3), 10_000, 'gun client on relay 2 sees live writes on relay 1');
      await b.get('shared').get('back').put('from-2');
      assert.equal(await a.get('shared').get('back').once({ source: 'remote' }), 'from-2');
    } finally {
      await a.close(); await b.close(); await gun.close();
      await s1.close(); await s2.close();
      await pgs.drop(); d1.rm(); d2.rm();
    }
  });
});
