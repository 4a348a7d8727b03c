import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { PgGraphStore } from '../../src/graph/store/postgres.js';
import { graphStoreConformance } from '../conformance/graph-store.js';
import { freshPgSchema } from '../helpers/pg.js';

const schemas: { drop(): Promise<void> }[] = [];
after(async () => { for (const s of schemas) await s.drop(); });

graphStoreConformance('postgres', async () => {
  const pgs = await freshPgSchema('graph');
  schemas.push(pgs);
  const store = new PgGraphStore(pgs.url);
  return { store, cleanup: async () => store.close(), open: async () => new PgGraphStore(pgs.url) };
});

describe('postgres graph store: NOTIFY', () => {
  it('a second handle hears the fields the first one changed; concurrent writers converge', async () => {
    const pgs = await freshPgSchema('graphn');
    schemas.push(pgs);
    const a = new PgGraphStore(pgs.url), b = new PgGraphStore(pgs.url);
    try {
      const heard: string[] = [];
      b.onExternalChange((c) => heard.push(...c.map((x) => `${x.soul}.${x.field}`)));
      await b.listening();
      await a.put([{ soul: 's', field: 'f', value: 1, state: 1 }, { soul: 's', field: 'g', value: 1, state: 1 }], 1e13);
      await b.put([{ soul: 's', field: 'h', value: 1, state: 1 }], 1e13); // own change: not heard
      for (let i = 0; i < 500 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heard.sort(), ['s.f', 's.g']);
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).put([{ soul: 'c', field: 'x', value: i, state: 100 + (i % 5) }], 1e13)));
      const v = await a.getField('c', 'x');
      assert.equal(v!.state, 104);
      assert.equal(v!.value, 9); // tie at 104 among 4, 9, 14, 19: lexically greatest JSON text "9"
    } finally {
      await a.close(); await b.close();
    }
  });
});
