import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { openStore } from '../../src/blob/open.js';
import { HttpStore } from '../../src/blob/store/http.js';
import { tmpDir } from '../helpers/tmp.js';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { BsStore } from '../../src/blob/bs/bs-store.js';

// plexus serve keeps its anchors in bs's anchor map; opening its blob.db directly (the CLI's --store
// ./data/blob.db) must read and write those same anchors, not the rows an older version left.
describe('openStore on a store plexus serve has used', () => {
  it('reads and writes the anchors the server sees', async () => {
    const d = tmpDir();
    try {
      let server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
      let http = new HttpStore(server.url);
      const { ref: a } = await http.put(new TextEncoder().encode('from the server'));
      await http.putAnchor('doc', a);
      await http.close();
      await server.close();

      const local = await openStore(join(d.path, 'blob.db'));
      assert.equal((await local.getAnchor('doc')).ref, a, 'the CLI reads the anchor the server wrote');
      const { ref: b } = await local.put(new TextEncoder().encode('from the CLI'));
      await local.putAnchor('doc', b, Date.now() + 1);
      await local.close();

      server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
      http = new HttpStore(server.url);
      assert.equal((await http.getAnchor('doc', Date.now() + 10)).ref, b, 'the server reads the anchor the CLI wrote');
      await http.close();
      await server.close();
    } finally {
      d.rm();
    }
  });

  it('anchor names keep a leading U+FEFF through the anchor map (listed as written)', async () => {
    const s = await BsStore.open(new MemoryStore());
    const { ref } = await s.put(new TextEncoder().encode('x'));
    const names = ['\ufeff', '\ufeffb', 'a'];
    for (const n of names) await s.putAnchor(n, ref, 1000);
    const listed: string[] = [];
    for await (const n of s.anchorNames()) listed.push(n);
    assert.deepEqual(listed.sort(), [...names].sort());
    await s.close();
  });
});
