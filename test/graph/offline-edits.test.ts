import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { GunPeer, eventually } from './helpers/gun.js';

// A real gun client (gun 0.2020.1241, own process) edits while the relay is down; gun clients never
// resend such puts. The restarted relay asks its reconnecting clients for what they hold (get
// forwarding), so the edit reaches the relay and the other clients.
const start = (dataDir: string, port = 0) => startServer({ port, dataDir, logLevel: 'silent', mounts: [graphMount] });

describe('graph relay: edits made while the relay was down', () => {
  it('reach the restarted relay and another gun client, 20 of 20 times', async () => {
    const d = tmpDir();
    let server: PlexusServer = await start(d.path);
    const port = Number(new URL(server.url).port);
    const url = `${server.url}/gun`;
    const writer = new GunPeer(url), reader = new GunPeer(url);
    try {
      await Promise.all([writer.ready(), reader.ready()]);
      const seen = new Map<string, unknown>();
      const delivered: number[] = [];
      for (let i = 0; i < 20; i++) {
        const soul = `offline-${i}`;
        // both clients read the node (a live `on` for the reader, as an app's view would)
        assert.ok((await writer.put([soul, 'v'], 'before')).ok !== undefined);
        await reader.on([soul], (ev) => { if (ev.data && typeof ev.data === 'object') seen.set(soul, (ev.data as Record<string, unknown>).v); });
        await eventually(() => seen.get(soul) === 'before', 10_000, `reader sees ${soul} before`);
        await server.close();
        // the writer edits with no relay; gun acks nothing, keeps the edit in memory
        void writer.put([soul, 'v'], 'made offline').catch(() => {});
        await new Promise((r) => setTimeout(r, 100));
        server = await start(d.path, port);
        try {
          await eventually(() => seen.get(soul) === 'made offline', 20_000, `offline edit of ${soul}`);
          delivered.push(i);
        } catch { /* counted below */ }
      }
      assert.equal(delivered.length, 20, `delivered ${delivered.length} of 20`);
      // and it is stored: a fresh client reads it from the relay
      const late = new GunPeer(url);
      try {
        await late.ready();
        assert.deepEqual(await late.once(['offline-19']), { v: 'made offline' });
      } finally { await late.close(); }
    } finally {
      await Promise.all([writer.close(), reader.close()]);
      await server.close();
      d.rm();
    }
  });
});
