import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { PlexusError } from '../errors.js';
import { LEDGER_MAX_FRAME_BYTES, WS_MAX_QUEUED_BYTES, WS_SLOW_CLOSE_GRACE_MS } from '../limits.js';
import { MemoryBudget, SendQueue } from './budget.js';
import { rawSocket, TextFrameWriter } from './ws-text.js';
import { Hub } from '../ledger/hub.js';
import { ZERO_TIME } from '../ledger/time.js';
import type { StoreLedger } from '../ledger/ledger.js';
import { SqliteLedger } from '../ledger/sqlite.js';
import { PgLedger } from '../ledger/postgres.js';
import type { Mount, MountContext, MountFactory } from './mount.js';

/** Options for the ledger mount beyond the server config (tests, embedding). */
export interface LedgerMountOptions {
  /** Use this ledger instead of SQLite in dataDir / PostgreSQL from config; closed with the mount. */
  ledger?: StoreLedger;
  /** Fixed push window (ms, evt's is 200); default: config evtBatchMs (PLEXUS_EVT_BATCH_MS), else adaptive pushes. */
  batchMs?: number;
  /** Accept only these topics (default: any). Env PLEXUS_LEDGER_TOPICS (comma separated). */
  topics?: string[];
  /** WebSocket path (default /evt). */
  path?: string;
  /** Schema version reported by evt.stat. */
  mig?: string;
}

/** Build a ledger hub mount factory (the default one is `ledgerMount`). */
export function createLedgerMount(opts: LedgerMountOptions = {}): MountFactory {
  return async (ctx: MountContext): Promise<Mount> => {
    const path = opts.path ?? '/evt';
    const envTopics = process.env.PLEXUS_LEDGER_TOPICS?.split(',').map((t) => t.trim()).filter(Boolean);
    const topics = opts.topics ?? (envTopics?.length ? envTopics : undefined);
    // PLEXUS_LEDGER_BATCH_MS: the older name of PLEXUS_EVT_BATCH_MS
    const envBatch = process.env.PLEXUS_LEDGER_BATCH_MS === undefined ? undefined : Number(process.env.PLEXUS_LEDGER_BATCH_MS);
    const batchMs = opts.batchMs ?? ctx.config.evtBatchMs ?? (envBatch !== undefined && Number.isFinite(envBatch) && envBatch >= 0 ? envBatch : undefined);
    const lopts = topics ? { topics } : {};
    const ledger: StoreLedger = opts.ledger ?? (ctx.config.postgres
      ? new PgLedger(ctx.config.postgres, { ...lopts, onError: (err) => ctx.log('warn', 'ledger: postgres listener failed', { err: String(err) }) })
      : new SqliteLedger(join(ctx.config.dataDir, 'ledger.db'), lopts));
    const hub = new Hub(ledger, { log: ctx.log, ...(batchMs === undefined ? {} : { batchMs }), ...(opts.mig ? { mig: opts.mig } : {}) });
    await hub.refresh();
    const wss = new WebSocketServer({ noServer: true, maxPayload: LEDGER_MAX_FRAME_BYTES, perMessageDeflate: false });
    const sockets = new Set<WebSocket>();
    const budget = ctx.budget ?? new MemoryBudget();
    return {
      name: 'ledger',
      upgrade(req, socket, head, url) {
        if (url.pathname !== path) return false;
        let readOnly: boolean | PlexusError = false;
        if (ctx.authorize) {
          if (!ctx.authorize(req, 'read')) {
            socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
            return true;
          }
          try { ctx.checkWrite(req); } catch (err) { readOnly = err instanceof PlexusError ? err : true; }
        } else {
          try { ctx.checkRead(req); } catch (err) {
            const status = err instanceof PlexusError ? err.status : 400;
            socket.end(`HTTP/1.1 ${status} Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
            return true;
          }
          try { ctx.checkWrite(req); } catch (err) { readOnly = err instanceof PlexusError ? err : true; }
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          sockets.add(ws);
          // bytes waiting in the socket are charged to the memory budget: past its share the socket closes (1013)
          let gone = false;
          const queue = new SendQueue(budget, rawSocket(ws, socket), 'ledger pushes', () => { if (!gone) { gone = true; conn.closed(); } });
          // frames sent in one turn of the event loop leave in one write (many replies to a pipelining client), in order
          const out = new TextFrameWriter(queue, LEDGER_MAX_FRAME_BYTES * 4);
          const send = (t: string) => out.send(t);
          const write = (t: string, done: (err?: Error | null) => void) => out.send(t, done);
          const writeParts = (parts: readonly string[], done: (err?: Error | null) => void) => out.send(parts, done);
          const close = (code?: number, reason?: string) => {
            out.flush(); // what was sent before the close goes first
            ws.close(code, reason);
            if (code === 1013) {
              // the hub's slow-consumer close (LEDGER_MAX_PENDING_EVENTS, or pending refused): counted once, cut if the peer does not read the close
              if (!refusedPending) budget.count('ledger pending events');
              budget.releaseAll(held);
              setTimeout(() => ws.terminate(), WS_SLOW_CLOSE_GRACE_MS).unref();
            }
          };
          // events the hub holds for this subscriber while its push is in flight: charged too (own share)
          const held = {};
          let refusedPending = false;
          const pending = (bytes: number) => {
            const now = budget.held(held);
            if (bytes <= now) { budget.release(held, now - bytes); return true; }
            if (budget.reserve(held, bytes - now, 'ledger pending events', WS_MAX_QUEUED_BYTES)) return true;
            refusedPending = true;
            return false;
          };
          // its topics and monitors: long-lived, charged like graph subscriptions
          const subs = {};
          const hold = (bytes: number) => budget.hold(subs, bytes, 'ledger subscriptions');
          const conn = hub.connect({ send, write, writeParts, close, pending, hold, pause: () => ws.pause(), resume: () => ws.resume() }, { readOnly });
          ws.on('message', (data) => conn.receive(data.toString()));
          ws.on('close', () => { sockets.delete(ws); queue.closed(); budget.releaseAll(held); budget.releaseAll(subs); if (!gone) { gone = true; conn.closed(); } });
          ws.on('error', (err) => ctx.log('debug', 'ledger: socket error', { err: String(err) }));
        });
        return true;
      },
      // an empty ledger's revision is ZERO_TIME (Go's zero time); the stats say null instead
      stats: async () => { const rev = await ledger.rev(); return { ...hub.stats, rev: rev === ZERO_TIME ? null : rev }; },
      async close() {
        await hub.close();
        for (const ws of sockets) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
        await ledger.close();
      },
    };
  };
}

/** The evt hub on `/evt` of `plexus serve` (SQLite ledger.db in dataDir, or PostgreSQL when configured). */
export const ledgerMount: MountFactory = createLedgerMount();
