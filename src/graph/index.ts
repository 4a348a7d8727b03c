/**
 * plexus/graph: a GUN-compatible graph (HAM-merged nodes addressed by soul) — browser-safe entry.
 * Node-only parts (SQLite/PostgreSQL stores, the relay wired to `ws`) are in `./node.js`.
 */
export { resolveConflict, isUpdate, createStateClock, state, valueText, type ConflictResolution } from './ham.js';
export {
  isRelation, valueProblem, soulProblem, fieldProblem, parseValue, toGraphData, toGraphNode,
  type Value, type Relation, type GraphNode, type GraphData, type NodeMeta, type FieldWrite, type FieldState, type NodeFields,
} from './value.js';
export { parseFrame, parseMessage, parsePut, messageId, type WireMessage, type GetRequest, type FieldLex, type ParsedFrame } from './wire.js';
export { SeaVerifier, seaClass, soulPub, needsSea, webCryptoSea, type SeaClass, type SeaCrypto, type SeaFieldInfo, type SeaStats, type SeaVerifierOptions } from './sea.js';
export { resolveBatch, type GraphStore, type FieldRef } from './store.js';
export { MemoryGraphStore, type MemoryStoreOptions } from './store/memory.js';
export { IndexedDbGraphStore, type IndexedDbGraphStoreOptions } from './store/indexeddb.js';
export {
  Graph, GraphRef, GraphMap, defaultSoulGen,
  type GraphOptions, type PutOptions, type PutResult, type OnceOptions, type GraphChange, type NodeData, type Tracking,
  type WebSocketLike, type WebSocketConstructor,
} from './client.js';
