import type { AnchorStore } from './anchor.js';
import type { Ref } from './ref.js';

/** Result of a put: the blob's ref, and whether this call stored it (false: it was there already). */
export interface PutResult {
  ref: Ref;
  added: boolean;
}

/** A content-addressed blob store: bytes in, sha256 ref out. */
export interface BlobStore {
  /** The bytes stored under `ref`, or NOT_FOUND. Verifies the hash (HASH_MISMATCH if stored bytes are corrupt). */
  get(ref: Ref): Promise<Uint8Array>;
  /** Store `bytes` if absent. Idempotent. */
  put(bytes: Uint8Array): Promise<PutResult>;
  /** Whether `ref` is stored. */
  has(ref: Ref): Promise<boolean>;
  /** Every stored ref strictly after `after` (default: all), in ascending order. */
  refs(opts?: { after?: Ref }): AsyncIterable<Ref>;
  /** Release connections / handles. */
  close(): Promise<void>;
}

/** What every plexus blob adapter is: a blob store that also keeps anchors. */
export type Store = BlobStore & AnchorStore;
