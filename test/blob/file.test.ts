import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
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
