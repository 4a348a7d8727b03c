import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

blobStoreConformance('sqlite', async () => {
  const d = tmpDir();
  const store = new SqliteStore(join(d.path, 'blob.db'));
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => new SqliteStore(join(d.path, 'blob.db')) };
});

blobStoreConformance("sqlite (synchronous: 'full')", async () => {
  const d = tmpDir();
  const store = new SqliteStore(join(d.path, 'blob.db'), { synchronous: 'full' });
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => new SqliteStore(join(d.path, 'blob.db'), { synchronous: 'full' }) };
});

describe('sqlite store: background checkpoints', () => {
  it('copies the WAL into the database off the put path, and every blob reads back', async () => {
    const d = tmpDir();
    try {
      const file = join(d.path, 'blob.db');
      const s = new SqliteStore(file);
      const refs = [];
      for (let i = 0; i < 80; i++) refs.push((await s.put(new Uint8Array(1 << 20).fill(i))).ref); // 80 MiB > 64 MiB
      // The checkpointer thread starts after ~64 MiB of pages; the database file grows as it copies the WAL
      // (no put ran a checkpoint itself: the connection's automatic checkpoint is off).
      const deadline = Date.now() + 20_000;
      while (statSync(file).size < 48 << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(statSync(file).size >= 48 << 20, `database file is ${statSync(file).size} bytes: no checkpoint ran`);
      for (const r of refs) await s.get(r);
      await s.close();
      const again = new SqliteStore(file);
      for (const r of refs) assert.equal((await again.get(r)).length, 1 << 20);
      await again.close();
    } finally {
      d.rm();
    }
  });

  it('puts wait for a checkpoint when the WAL holds walMaxBytes, so the WAL file stays bounded', async () => {
    const d = tmpDir();
    try {
      const file = join(d.path, 'blob.db');
      const s = new SqliteStore(file, { walMaxBytes: 8 << 20 });
      const refs = [];
      for (let i = 0; i < 40; i++) refs.push((await s.put(new Uint8Array(1 << 20).fill(i))).ref);
      const wal = statSync(file + '-wal').size;
      assert.ok(wal < 12 << 20, `WAL file grew to ${wal} bytes`);
      for (const r of refs) await s.get(r);
      await s.close();
    } finally {
      d.rm();
    }
  });
});
