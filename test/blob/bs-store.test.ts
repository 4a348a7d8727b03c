import { MemoryStore } from '../../src/blob/store/memory.js';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { BsStore } from '../../src/blob/bs/bs-store.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

// Anchors kept in bs's anchor map pass the same suite as plexus's own anchor tables.
blobStoreConformance('bs anchor map over memory', async () => ({ store: await BsStore.open(new MemoryStore()), cleanup: async () => {} }));

blobStoreConformance('bs anchor map over sqlite', async () => {
  const d = tmpDir();
  const file = `${d.path}/blob.db`;
  const store = await BsStore.open(new SqliteStore(file));
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => BsStore.open(new SqliteStore(file)) };
});
