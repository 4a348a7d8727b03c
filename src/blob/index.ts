/** plexus/blob: content-addressed blobs (sha256 refs) with anchors — named, timestamped refs with history. */
export { type Ref, ZERO_REF, isRef, parseRef, refOf, verifyRef } from './ref.js';
export type { BlobStore, PutResult, Store } from './store.js';
export {
  AnchorStore, type Anchor, type AnchorEntry, type VersionedHistory, type TimeInput, type RetryOptions,
  applyPut, applyExpire, entryAt, unionHistories, parseTime, parseAnchorName, retryOnConflict,
} from './anchor.js';
export { MemoryStore } from './store/memory.js';
export { FileStore } from './store/file.js';
export { SqliteStore } from './store/sqlite.js';
export { PgStore } from './store/postgres.js';
export { BsSqliteStore, BS_SQLITE_SCHEMA, isBsSqlite } from './store/bs-sqlite.js';
export { BsPgStore, BS_PG_SCHEMA } from './store/bs-postgres.js';
export { HttpStore } from './store/http.js';
export { openStore } from './open.js';
export { sync, type SyncOptions, type SyncProgress } from './sync.js';
export { putStream, getStream, getReadable, statStream, type PutStreamOptions, type PutStreamResult, type GetStreamOptions } from './split.js';
export { RpcStore, type RpcStoreOptions } from './bs/rpc-store.js';
export { BsStore, ANCHOR_MAP_ROOT_NAME } from './bs/bs-store.js';
export { AnchorMapStore } from './bs/anchor-map.js';
export { buildMap, mapLookup, mapEach, mapSet, keyHash, MAP_NODE_MAX, EMPTY_MAP_REF, type NodeStore, type Outcome } from './bs/schema-map.js';
export { putProto, getProto, typesOf, setAdd, setEach, PROTO_TYPES_ANCHOR, type DecodedProto } from './bs/proto-types.js';
export { getBsStream } from './bs/split.js';
export { putBsStream, type PutBsStreamOptions } from './bs/split-writer.js';
export { BsChunker, BS_SPLIT_BITS, BS_SPLIT_MIN_SIZE, BS_SPLIT_FANOUT } from './bs/hashsplit.js';
