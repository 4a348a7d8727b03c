/**
 * plexus/ledger: evt-style event sourcing. This entry point is browser-safe (no node:* in its import
 * graph); the SQLite and PostgreSQL ledgers live in `plexus/ledger/node` (src/ledger/node.ts).
 */
export * from './event.js';
export { formatTime, parseTime, ZERO_TIME, type Rev, type Time } from './time.js';
export { parseFrame, formatFrame, type Frame } from './frame.js';
export { goJson, updateJson, eventJson, transJson, statusJson, decodeUpdate, decodeTrans } from './codec.js';
export type { Ledger, Publisher, Replicator, LocalPublisher, PublishResult, PublishOptions, ReplicateResult, AuditRow, LedgerOptions, LedgerStore } from './ledger.js';
export { StoreLedger } from './ledger.js';
export { MemoryLedger } from './memory.js';
export { Hub, type HubOptions, type HubSocket, type HubConn, type SatResult } from './hub.js';
export { HubClient, connectHub, type HubClientOptions, type Subscription, type Monitor, type WebSocketLike, type WebSocketCtor, type SatReply } from './client.js';
export { Satellite, satellite, type SatelliteOptions, type SatellitePublishResult } from './satellite.js';
export { IndexedDbLedger, type IndexedDbLedgerOptions } from './indexeddb.js';
