import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { PlexusError } from '../errors.js';
import { soulProblem } from '../graph/value.js';
import { sendJson } from './reply.js';
import { GRAPH_MAX_FRAME_BYTES } from '../limits.js';
import { GraphRelay, type RelayPeer } from '../graph/relay.js';
import { MemoryBudget, SendQueue } from './budget.js';
import { rawSocket, TextFrameWriter } from './ws-text.js';
import { RelayPeering } from '../graph/peering.js';
import { SeaVerifier } from '../graph/sea.js';
import { NodeSeaCrypto } from '../graph/sea-node.js';
import type { GraphStore } from '../graph/store.js';
import { SqliteGraphStore } from '../graph/store/sqlite.js';
import { PgGraphStore } from '../graph/store/postgres.js';
import type { Mount, MountContext, MountFactory } from './mount.js';

/** Options for the graph mount beyond the server config (tests, embedding). */
export interface GraphMountOptions {
  /** Use this store instead of SQLite in dataDir / PostgreSQL from config. It is closed with the mount. */
  store?: GraphStore;
  /** Heartbeat interval (ms), default GRAPH_HEARTBEAT_MS. */
  heartbeatMs?: number;
  /** WebSocket path (default /gun, as gun). */
  path?: string;
}

/** Build a graph mount factory (the default one is `graphMount`). */
export function createGraphMount(opts: GraphMountOptions = {}): MountFactory {
  return async (ctx: MountContext): Promise<Mount> => {
    const path = opts.path ?? '/gun';
    const store: GraphStore = opts.store ?? (ctx.config.postgres
      ? new PgGraphStore(ctx.config.postgres, { onError: (err) => ctx.log('warn', 'graph: postgres listener failed', { err: String(err) }) })
      : new SqliteGraphStore(join(ctx.config.dataDir, 'graph.db')));
    const relay = new GraphRelay({ store, log: ctx.log, sea: new SeaVerifier({ crypto: new NodeSeaCrypto() }), ...(ctx.budget ? { budget: ctx.budget } : {}), ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }) });
    const budget = ctx.budget ?? new MemoryBudget();
    // links to other relays are charged like client sockets: one that stops reading is closed (1013) and redialed
    const peering = ctx.config.peers?.length ? new RelayPeering(relay, ctx.config.peers, { log: ctx.log, queue: (ws) => new SendQueue(budget, ws, 'graph peer links') }) : undefined;
    const wss = new WebSocketServer({ noServer: true, maxPayload: GRAPH_MAX_FRAME_BYTES, perMessageDeflate: false });
    const sockets = new Set<WebSocket>();
    return {
      name: 'graph',
      upgrade(req, socket, head, url) {
        if (url.pathname !== path) return false;
        try {
          ctx.checkRead(req);
        } catch (err) {
          const status = err instanceof PlexusError ? err.status : 400;
          socket.end(`HTTP/1.1 ${status} Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
          return true;
        }
        let readOnly: boolean | PlexusError = false;
        try { ctx.checkWrite(req); } catch (err) { readOnly = err instanceof PlexusError ? err : true; }
        wss.handleUpgrade(req, socket, head, (ws) => {
          sockets.add(ws);
          // replies and forwards waiting in the socket are charged to the memory budget: a reader that does not
          // read is closed (1013) once its share is full, and forgotten by the relay at once
          let peer: RelayPeer | undefined;
          const queue = new SendQueue(budget, rawSocket(ws, socket), 'graph replies', () => peer?.closed());
          // framed by the server: a forward to many subscribers is encoded once, and each socket gets one write
          const out = new TextFrameWriter(queue);
          peer = relay.connect({ send: (t) => { out.send(t); }, close: (c, r) => { out.flush(); ws.close(c, r); } }, { readOnly });
          const p = peer;
          ws.on('message', (data, isBinary) => { if (!isBinary) p.receive(data.toString()); });
          ws.on('close', () => { sockets.delete(ws); queue.closed(); p.closed(); });
          ws.on('error', (err) => ctx.log('debug', 'graph: socket error', { err: String(err) }));
        });
        return true;
      },
      prefixes: ['/api/graph'],
      async handle(req, res, url) {
        // GET /api/graph/sea?soul=S: how each stored field of S stands under the relay's SEA checks (the dashboard shows it)
        if (url.pathname !== '/api/graph/sea') throw new PlexusError('NOT_FOUND', `no route ${url.pathname}`);
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new PlexusError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
        ctx.checkRead(req);
        const soul = url.searchParams.get('soul');
        const problem = soulProblem(soul);
        if (problem) throw new PlexusError('BAD_REQUEST', problem);
        const fields = await relay.seaFields(soul!);
        sendJson(res, 200, { soul, fields: Object.fromEntries(fields) });
      },
      stats: () => ({ ...relay.stats, ...(peering ? { links: peering.status } : {}) }),
      async close() {
        await peering?.close();
        await relay.close();
        for (const ws of sockets) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
        await store.close();
      },
    };
  };
}

/** The graph relay on `/gun` of `plexus serve` (SQLite in dataDir, or PostgreSQL when configured). */
export const graphMount: MountFactory = createGraphMount();
