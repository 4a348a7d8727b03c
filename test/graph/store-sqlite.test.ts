import { join } from 'node:path';
import { SqliteGraphStore } from '../../src/graph/store/sqlite.js';
import { graphStoreConformance } from '../conformance/graph-store.js';
import { tmpDir } from '../helpers/tmp.js';

graphStoreConformance('sqlite', async () => {
  const d = tmpDir();
  const store = new SqliteGraphStore(join(d.path, 'graph.db'));
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => new SqliteGraphStore(join(d.path, 'graph.db')) };
});
