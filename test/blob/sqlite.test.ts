import { join } from 'node:path';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

blobStoreConformance('sqlite', async () => {
  const d = tmpDir();
  const store = new SqliteStore(join(d.path, 'blob.db'));
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => new SqliteStore(join(d.path, 'blob.db')) };
});
