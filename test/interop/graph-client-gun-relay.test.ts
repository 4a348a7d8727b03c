import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/graph/node.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually, GunPeer, startGunRelay } from '../graph/helpers/gun.js';
import { clientScenarios } from '../graph/helpers/scenarios.js';

describe('interop: plexus Graph clients through gun\'s own relay', () => {
  let relay: { url: string; close(): Promise<void> };
  before(async () => { relay = await startGunRelay(); });
  after(async () => relay.close());
  clientScenarios(() => relay.url, { prefix: 'gr-' });
});

describe('interop: a plexus client and a gun client on one plexus relay', () => {
  let server: PlexusServer;
  const dir = tmpDir();
  before(async () => { server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [graphMount] }); });
  after(async () => { await server.close(); dir.rm(); });

  it('each sees the other\'s writes, live', async () => {
    const url = `${server.url}/gun`;
    const g = new Graph({ peers: [url] });
    const gun = new GunPeer(url);
    await gun.ready();
    try {
      await g.get('mix').put({ fromPlexus: 'p1' });
      assert.equal(await gun.once(['mix', 'fromPlexus']), 'p1');
      const seen: unknown[] = [];
      g.get('mix').get('fromGun').on((v) => seen.push(v));
      await new Promise((r) => setTimeout(r, 100));
      await gun.put(['mix', 'fromGun'], 'g1');
      await eventually(() => seen.includes('g1'), 10_000, 'plexus sees gun write');
      const gunSeen: unknown[] = [];
      await gun.on(['mix', 'fromPlexus'], (ev) => gunSeen.push(ev.data));
      await new Promise((r) => setTimeout(r, 200));
      await g.get('mix').get('fromPlexus').put('p2');
      await eventually(() => gunSeen.includes('p2'), 10_000, 'gun sees plexus write live');
      await g.get('mixlist').set({ n: 1 });
      const items = await gun.map(['mixlist'], 800);
      assert.deepEqual(Object.values(items), [{ n: 1 }]);
    } finally {
      await g.close(); await gun.close();
    }
  });
});
