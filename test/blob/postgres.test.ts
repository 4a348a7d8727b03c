import { after } from 'node:test';
import { PgStore } from '../../src/blob/store/postgres.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { freshPgSchema } from '../helpers/pg.js';

// Each store gets its own schema, so the conformance suite's "fresh store" is really empty.
const schemas: { drop(): Promise<void> }[] = [];
after(async () => { await Promise.all(schemas.map((s) => s.drop())); });

blobStoreConformance('postgres', async () => {
  const s = await freshPgSchema('blob');
  schemas.push(s);
  const store = await PgStore.open(s.url, { max: 4 });
  return { store, cleanup: async () => { await store.close(); }, open: () => PgStore.open(s.url, { max: 4 }) };
});
