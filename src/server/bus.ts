import { PlexusError, isPlexusError } from '../errors.js';
import { BUS_MAX_NAME_LENGTH, DASHBOARD_BUS_CALL_TIMEOUT_MS, MAX_JSON_BODY_BYTES } from '../limits.js';
import { connect, isFailure, memoryNetwork, validateNamespace, type CommandHandler, type Peer, type MemoryNetworkHandle } from '../bus/index.js';
import type { Mount, MountFactory } from './mount.js';
import { readJsonObject, sendJson } from './reply.js';

/** Namespace the server's own bus peer always serves. */
export const SERVER_NAMESPACE = 'plexus.server';

/** Options for the server's bus peer beyond the config. */
export interface BusMountOptions {
  /** Join this in-process network instead of a fresh one (memory transport); ignored when config.amqp is set. */
  network?: MemoryNetworkHandle;
  /** More namespaces for the server's peer to serve (name → handler). */
  serve?: Record<string, CommandHandler>;
}

/** JSON for bus payloads: byte arrays as { base64 }, maps as objects, bigints as strings. */
function toJsonSafe(v: unknown, depth = 0): unknown {
  if (depth > 64) return '[too deep]';
  if (v instanceof Uint8Array) return { base64: Buffer.from(v).toString('base64') };
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJsonSafe(x, depth + 1)]));
  if (Array.isArray(v)) return v.map((x) => toJsonSafe(x, depth + 1));
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonSafe(x, depth + 1)]));
  return v;
}

/**
 * The server's own bus peer (in-process network by default, RabbitMQ with `config.amqp`), with
 * `GET /api/bus` (peer id and the namespaces it serves) and `POST /api/bus/call` (make a call, see the
 * result) for the dashboard. Calls are writes (they may change state): they need write scope.
 */
export function createBusMount(opts: BusMountOptions = {}): MountFactory {
  return async (ctx) => {
    const logger = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => ctx.log(level, `bus: ${message}`);
    const peer: Peer = ctx.config.amqp
      ? await connect({ url: ctx.config.amqp, logger })
      : (opts.network ?? memoryNetwork()).peer({ logger });
    const started = Date.now();
    const served = new Map<string, CommandHandler>();
    let calls = 0, failures = 0;
    served.set(SERVER_NAMESPACE, (req, res) => {
      switch (req.command) {
        case 'ping': return res.done('pong');
        case 'echo': return res.done(req.payload);
        case 'time': return res.done(new Date().toISOString());
        case 'info': return res.done({ peer: peer.id, uptimeMs: Date.now() - started, namespaces: [...served.keys()], transport: ctx.config.amqp ? 'amqp' : 'memory' });
        default: res.fail('unknown-command', `${SERVER_NAMESPACE} has no command ${JSON.stringify(req.command)} (try ping, echo, time, info)`);
      }
    });
    for (const [ns, h] of Object.entries(opts.serve ?? {})) served.set(validateNamespace(ns), h);
    try {
      for (const [ns, h] of served) await peer.listen(ns, h);
    } catch (err) {
      await peer.stop();
      throw err;
    }
    const session = peer.session();

    const mount: Mount = {
      name: 'bus',
      prefixes: ['/api/bus'],
      async handle(req, res, url) {
        const method = req.method ?? 'GET';
        if (url.pathname === '/api/bus' && method === 'GET') {
          ctx.checkRead(req);
          return sendJson(res, 200, { peer: peer.id, transport: ctx.config.amqp ? 'amqp' : 'memory', namespaces: [...served.keys()].sort(), calls, failures });
        }
        if (url.pathname === '/api/bus/call' && method === 'POST') {
          ctx.checkWrite(req);
          const body = await readJsonObject(req, MAX_JSON_BODY_BYTES);
          const ns = validateNamespace(body.namespace);
          const command = body.command;
          if (typeof command !== 'string' || command === '' || command.length > BUS_MAX_NAME_LENGTH) throw new PlexusError('BAD_REQUEST', `command must be a string of 1..${BUS_MAX_NAME_LENGTH} characters`);
          const t = body.timeoutMs;
          if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > DASHBOARD_BUS_CALL_TIMEOUT_MS)) throw new PlexusError('BAD_REQUEST', `timeoutMs must be 1..${DASHBOARD_BUS_CALL_TIMEOUT_MS}`);
          const t0 = Date.now();
          calls++;
          try {
            const result = await session.call(ns, command, body.payload ?? null, { timeoutMs: (t as number | undefined) ?? DASHBOARD_BUS_CALL_TIMEOUT_MS });
            return sendJson(res, 200, { ok: true, result: toJsonSafe(result), ms: Date.now() - t0 });
          } catch (err) {
            failures++;
            if (isFailure(err)) return sendJson(res, 200, { ok: false, failure: { type: err.type, message: err.failureMessage, payload: toJsonSafe(err.payload) }, ms: Date.now() - t0 });
            if (isPlexusError(err)) return sendJson(res, 200, { ok: false, error: { code: err.code, message: err.message }, ms: Date.now() - t0 });
            throw err;
          }
        }
        if (url.pathname === '/api/bus' || url.pathname === '/api/bus/call') throw new PlexusError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`);
        throw new PlexusError('NOT_FOUND', `no route for ${method} ${url.pathname}`);
      },
      stats: () => ({ namespaces: served.size, calls, failures }),
      async close() {
        session.destroy();
        await peer.stop();
      },
    };
    return mount;
  };
}

/** The server's bus peer with its defaults (serves `plexus.server`). */
export const busMount: MountFactory = createBusMount();
