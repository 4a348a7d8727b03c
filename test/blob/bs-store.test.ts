import { MemoryStore } from '../../src/blob/store/memory.js';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { BsStore } from '../../src/blob/bs/bs-store.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';
import { freshPgSchema } from '../helpers/pg.js';
import { PgStore } from '../../src/blob/store/postgres.js';

// Anchors kept in bs's anchor map pass the same suite as plexus's own anchor tables.
blobStoreConformance('bs anchor map over memory', async () => ({ store: await BsStore.open(new MemoryStore()), cleanup: async () => {} }));

blobStoreConformance('bs anchor map over sqlite', async () => {
  const d = tmpDir();
  const file = `${d.path}/blob.db`;
  const store = await BsStore.open(new SqliteStore(file));
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => BsStore.open(new SqliteStore(file)) };
});

blobStoreConformance('bs anchor map over postgres', async () => {
  const s = await freshPgSchema('bsmap');
  const stores: BsStore[] = [];
  const open = async () => { const st = await BsStore.open(await PgStore.open(s.url, { max: 4 })); stores.push(st); return st; };
  const store = await open();
  return { store, cleanup: async () => { for (const st of stores) await st.close().catch(() => {}); await s.drop(); }, open };
});
