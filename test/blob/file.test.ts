import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileStore } from '../../src/blob/store/file.js';
import { isPlexusError } from '../../src/errors.js';
import { refOf } from '../../src/blob/ref.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

blobStoreConformance('file', async () => {
  const d = tmpDir();
  return { store: new FileStore(d.path), cleanup: async () => d.rm(), open: async () => new FileStore(d.path) };
});

blobStoreConformance('file (fsync: true)', async () => {
  const d = tmpDir();
  return { store: new FileStore(d.path, { fsync: true }), cleanup: async () => d.rm(), open: async () => new FileStore(d.path, { fsync: true }) };
});

/** Plant `bytes` under `ref`'s valid name, as a power loss without fsync can leave it. */
function plant(root: string, ref: string, bytes: Uint8Array): string {
  const dir = join(root, 'blobs', ref.slice(0, 2), ref.slice(0, 4));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, ref), bytes);
  return join(dir, ref);
}

describe('file store: self-healing after a power loss without fsync', () => {
  const data = new Uint8Array(100_000).map((_, i) => (i * 31) & 255);
  const ref = refOf(data);

  for (const [what, damaged] of [['empty', new Uint8Array()], ['short', data.subarray(0, 4096)]] as const) {
    it(`put replaces an ${what} file under a valid name (added: true) and get then serves the bytes`, async () => {
      const d = tmpDir();
      try {
        plant(d.path, ref, damaged);
        const s = new FileStore(d.path);
        await assert.rejects(s.get(ref), (e) => isPlexusError(e, 'HASH_MISMATCH'));
        plant(d.path, ref, damaged); // get moved it aside; put must also repair one it finds in place
        assert.deepEqual(await s.put(data), { ref, added: true });
        assert.deepEqual(await s.get(ref), Buffer.from(data));
        assert.deepEqual(await s.put(data), { ref, added: false });
        assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
      } finally {
        d.rm();
      }
    });
  }

  it('a same-size damaged blob: get reports HASH_MISMATCH and moves it aside, the next put stores it again', async () => {
    const d = tmpDir();
    try {
      const path = plant(d.path, ref, new Uint8Array(data.length)); // right size, zeros (unwritten blocks)
      const s = new FileStore(d.path);
      assert.equal(await s.has(ref), true);
      await assert.rejects(s.get(ref), (e) => isPlexusError(e, 'HASH_MISMATCH'));
      assert.equal(await s.has(ref), false);
      await assert.rejects(s.get(ref), (e) => isPlexusError(e, 'NOT_FOUND'));
      assert.deepEqual(await s.put(data), { ref, added: true });
      assert.equal(statSync(path).size, data.length);
      assert.deepEqual(await s.get(ref), Buffer.from(data));
      assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
    } finally {
      d.rm();
    }
  });

  it('a get that raced a repair does not remove the repaired blob', async () => {
    const d = tmpDir();
    try {
      plant(d.path, ref, data.subarray(0, 10));
      const s = new FileStore(d.path);
      const [got, put] = await Promise.allSettled([s.get(ref), s.put(data)]);
      assert.equal(put.status, 'fulfilled');
      if (got.status === 'rejected') assert.ok(isPlexusError(got.reason, 'HASH_MISMATCH'));
      assert.deepEqual(await s.get(ref), Buffer.from(data));
    } finally {
      d.rm();
    }
  });
});

describe('file store: crash safety', () => {
  it('leaves no temp files behind and never shows a partial blob under a valid name', async () => {
    const d = tmpDir();
    try {
      const s = new FileStore(d.path);
      const data = new Uint8Array(300_000).fill(7);
      const { ref } = await s.put(data);
      assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
      // A crash mid-write leaves at most a temp file; simulate one and a truncated file planted under a valid name.
      writeFileSync(join(d.path, 'tmp', 'crashed-writer'), data.subarray(0, 1000));
      const other = new Uint8Array([1, 2, 3]);
      const otherRef = refOf(other);
      mkdirSync(join(d.path, 'blobs', otherRef.slice(0, 2), otherRef.slice(0, 4)), { recursive: true });
      writeFileSync(join(d.path, 'blobs', otherRef.slice(0, 2), otherRef.slice(0, 4), otherRef), other.subarray(0, 2));
      await assert.rejects(s.get(otherRef), (e) => isPlexusError(e, 'HASH_MISMATCH'));
      assert.equal((await s.get(ref)).length, 300_000);
    } finally {
      d.rm();
    }
  });
});
