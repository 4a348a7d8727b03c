import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { PlexusError } from '../../errors.js';
import { BLOB_PART_BYTES } from '../../limits.js';
import { parseRef, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';

/** A blob being read in parts: its size, and its bytes in order (at most BLOB_PART_BYTES each). */
export interface BlobReader {
  size: number;
  /**
   * The bytes, hash-verified as they pass: the LAST part is only yielded once the whole blob hashed to
   * its ref; on a mismatch the iterator throws HASH_MISMATCH instead, so a consumer that forwards parts
   * as they come never completes a corrupt blob (the HTTP server then cuts the connection short of its
   * content-length).
   */
  parts: AsyncIterable<Uint8Array>;
}

/**
 * Streaming access a store may offer on top of BlobStore (SQLite, PostgreSQL and file stores do): the
 * server reads and writes big blobs through it, so no request holds a whole blob in memory.
 */
export interface StreamingBlobStore extends BlobStore {
  /** Open `ref` for reading in parts (NOT_FOUND when absent). */
  openRead(ref: Ref): Promise<BlobReader>;
  /**
   * Store the bytes of the file at `path` (a staged upload), reading it in parts. `ref` is what the
   * caller hashed while staging; the store hashes again as it copies and refuses (HASH_MISMATCH,
   * nothing stored) when they differ. The store may take the file (rename): the caller removes it after.
   */
  putFile(path: string, ref: Ref): Promise<PutResult>;
}

/** True when `s` offers streaming reads and staged-file puts. */
export function isStreaming(s: BlobStore): s is StreamingBlobStore {
  return typeof (s as Partial<StreamingBlobStore>).openRead === 'function' && typeof (s as Partial<StreamingBlobStore>).putFile === 'function';
}

/**
 * Wrap raw parts of `ref` so they are hash-verified as they pass (see BlobReader.parts): each part is
 * held until the next one arrives, and the last one until the digest matched.
 */
export async function* verifiedParts(ref: Ref, raw: AsyncIterable<Uint8Array>, onMismatch?: () => Promise<void>): AsyncGenerator<Uint8Array> {
  const h = createHash('sha256');
  let held: Uint8Array | undefined;
  for await (const p of raw) {
    h.update(p);
    if (held) yield held;
    held = p;
  }
  const actual = h.digest('hex');
  if (actual !== ref) {
    await onMismatch?.();
    throw new PlexusError('HASH_MISMATCH', `content hashes to ${actual}, not ${ref}`, { detail: { ref, actual } });
  }
  if (held) yield held;
}

/** A reader over a store without streaming (memory, http): the whole blob, then cut into parts. */
export async function openReadAny(store: BlobStore, ref: Ref): Promise<BlobReader> {
  if (isStreaming(store)) return store.openRead(ref);
  const data = await store.get(parseRef(ref));
  return {
    size: data.byteLength,
    parts: (async function* () { for (let off = 0; off < data.byteLength; off += BLOB_PART_BYTES) yield data.subarray(off, off + BLOB_PART_BYTES); })(),
  };
}

/** Put a staged file into any store: streaming stores copy it in parts, others get it read whole. */
export async function putFileAny(store: BlobStore, path: string, ref: Ref): Promise<PutResult> {
  if (isStreaming(store)) return store.putFile(path, ref);
  return store.put(await fs.readFile(path));
}

/** The parts of a file, BLOB_PART_BYTES at a time (a read stream: memory stays at one part). */
export async function* fileParts(path: string, start = 0): AsyncGenerator<Uint8Array> {
  for await (const c of createReadStream(path, { highWaterMark: BLOB_PART_BYTES, start })) yield c as Buffer;
}

/** A unique temp file name in `dir` (pid + random), for staged uploads. */
export function stagingPath(dir: string): string {
  return join(dir, `upload-${process.pid}-${randomBytes(8).toString('hex')}`);
}
