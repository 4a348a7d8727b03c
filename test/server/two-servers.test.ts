import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { HttpStore } from '../../src/blob/store/http.js';
import { refOf } from '../../src/blob/ref.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

describe('two plexus serve on one PostgreSQL', () => {
  let a: PlexusServer, b: PlexusServer, pg: Awaited<ReturnType<typeof freshPgSchema>>;
  const d = tmpDir();
  before(async () => {
    pg = await freshPgSchema('two');
    [a, b] = await Promise.all([1, 2].map(() => startServer({ port: 0, dataDir: d.path, postgres: pg.url, logLevel: 'silent', mounts: [blobMount] })));
  });
  after(async () => { await a.close(); await b.close(); await pg.drop(); d.rm(); });

  it('see each other\'s blobs and anchors, and concurrent anchor writers on both lose nothing', async () => {
    const sa = new HttpStore(a.url), sb = new HttpStore(b.url);
    const { ref } = await sa.put(new TextEncoder().encode('shared'));
    assert.equal(Buffer.from(await sb.get(ref)).toString(), 'shared');
    await sb.putAnchor('release', ref, 1000);
    assert.equal((await sa.getAnchor('release')).ref, ref);
    const refs = Array.from({ length: 40 }, (_, i) => refOf(new TextEncoder().encode(`r${i}`)));
    await Promise.all(refs.map((r, i) => (i % 2 ? sa : sb).putAnchor('busy', r, 5000 + i, { retries: 1000 })));
    assert.deepEqual((await sa.history('busy')).map((e) => e.ref), refs);
    assert.deepEqual(await sb.history('busy'), await sa.history('busy'));
  });
});
