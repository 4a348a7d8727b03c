import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isPlexusError } from '../../src/errors.js';
import { parseRef } from '../../src/blob/ref.js';
import type { AnchorEntry } from '../../src/blob/anchor.js';
import type { Store } from '../../src/blob/store.js';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { FileStore } from '../../src/blob/store/file.js';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { PgStore } from '../../src/blob/store/postgres.js';
import { HttpStore } from '../../src/blob/store/http.js';
import { sync } from '../../src/blob/sync.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const A = parseRef('a'.repeat(64)), B = parseRef('b'.repeat(64));
const jan = Date.parse('2026-01-15T00:00:00Z'), jun = Date.parse('2026-06-15T00:00:00Z');

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

const adapters: Record<string, () => Promise<Store>> = {
  memory: async () => new MemoryStore(),
  file: async () => { const d = tmpDir(); cleanups.push(d.rm); return new FileStore(d.path); },
  sqlite: async () => { const d = tmpDir(); cleanups.push(d.rm); const s = new SqliteStore(join(d.path, 'b.db')); cleanups.push(() => s.close()); return s; },
  postgres: async () => { const sc = await freshPgSchema('hist'); cleanups.push(() => sc.drop()); const s = await PgStore.open(sc.url, { max: 2 }); cleanups.push(() => s.close()); return s; },
  http: async () => {
    const d = tmpDir();
    const server: PlexusServer = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
    cleanups.push(d.rm, () => server.close());
    return new HttpStore(server.url);
  },
};

const refused = (code: string, re: RegExp) => (e: unknown) => isPlexusError(e, code as never) && re.test(e.message);

for (const [kind, make] of Object.entries(adapters)) {
  describe(`anchor history writes are validated identically (${kind})`, () => {
    let store: Store;
    before(async () => { store = await make(); });

    it('an unsorted history (June then January) is refused and changes nothing', async () => {
      await store.putAnchor('n', A, jan);
      const { version, history } = await store.readAnchors('n');
      await assert.rejects(store.writeAnchors('n', version, [{ at: jun, ref: B }, { at: jan, ref: A }]), refused('BAD_REQUEST', /time order/));
      assert.deepEqual(await store.readAnchors('n'), { version, history });
      assert.equal((await store.getAnchor('n', jun)).ref, A);
    });

    it('duplicate entries, bad refs and bad times are refused; a valid history reads back identical', async () => {
      const { version } = await store.readAnchors('n');
      await assert.rejects(store.writeAnchors('n', version, [{ at: jan, ref: A }, { at: jan, ref: A }]), refused('BAD_REQUEST', /repeats/));
      await assert.rejects(store.writeAnchors('n', version, [{ at: jan, ref: 'x'.repeat(64) as never }]), (e) => isPlexusError(e, 'INVALID_REF'));
      await assert.rejects(store.writeAnchors('n', version, [{ at: 1.5, ref: A }]), (e) => isPlexusError(e, 'INVALID_TIME'));
      await assert.rejects(store.writeAnchors('n', version, [{ at: Number.NaN, ref: A }]), (e) => isPlexusError(e, 'INVALID_TIME'));
      const good: AnchorEntry[] = [{ at: jan, ref: A }, { at: jun, ref: A }, { at: jun, ref: B }];
      const v2 = await store.writeAnchors('n', version, good);
      assert.equal(v2, version + 1);
      assert.deepEqual((await store.readAnchors('n')).history, good);
      assert.equal((await store.getAnchor('n', jun)).ref, B, 'equal times: the later entry wins');
    });
  });
}

describe('PUT /anchor/:name/history over raw HTTP', () => {
  it('answers 400 to June-then-January and GET /anchor/:name and a FileStore synced from it agree', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
    try {
      const put = (history: unknown) => fetch(`${server.url}/anchor/doc/history`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: 0, history }) });
      const r = await put([{ at: '2026-06-15T00:00:00Z', ref: B }, { at: '2026-01-15T00:00:00Z', ref: A }]);
      assert.equal(r.status, 400);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
      assert.equal((await fetch(`${server.url}/anchor/doc`)).status, 404, 'nothing stored');
      assert.equal((await put([{ at: '2026-01-15T00:00:00Z', ref: A }, { at: '2026-06-15T00:00:00Z', ref: B }])).status, 200);
      const latest = (await (await fetch(`${server.url}/anchor/doc`)).json()) as { ref: string };
      assert.equal(latest.ref, B);
      const f = new FileStore(join(d.path, 'mirror'));
      await sync([new HttpStore(server.url), f]);
      assert.equal((await f.getAnchor('doc')).ref, B);
    } finally { await server.close(); d.rm(); }
  });
});
