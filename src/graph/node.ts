/**
 * plexus/graph for Node: everything of the browser entry, plus the SQLite and PostgreSQL stores, the
 * relay, and a `Graph` whose WebSocket defaults to the `ws` package (Node 20 has no global WebSocket).
 */
import WebSocket from 'ws';
import { Graph as BaseGraph, type GraphOptions, type WebSocketConstructor } from './client.js';

export * from './index.js';
export { SqliteGraphStore } from './store/sqlite.js';
export { PgGraphStore, type PgGraphStoreOptions } from './store/postgres.js';
export { NodeSeaCrypto } from './sea-node.js';
export { GraphRelay, type RelayConnection, type RelayOptions, type RelayPeer, type RelayStats } from './relay.js';

/** A Graph client that uses `ws` unless another WebSocket is given. */
export class Graph extends BaseGraph {
  constructor(opts: GraphOptions = {}) {
    super({ WebSocket: WebSocket as unknown as WebSocketConstructor, ...opts });
  }
}
export { RelayPeering, parsePeerUrl, peerUrlForLog, type PeeringOptions } from './peering.js';
