import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { maskSecrets, PlexusError } from '../errors.js';
import { MAX_URL_BYTES, SHUTDOWN_GRACE_MS, WS_CHARGED_FRAME_BYTES } from '../limits.js';
import { findConfigFile, loadConfigFile, resolveConfig, type ResolvedServerConfig, type ServerConfig } from './config.js';
import { authFromConfig } from './auth.js';
import { ServerMetrics, routeOf } from './metrics.js';
import { findWebDir, serveWeb } from './dashboard.js';
import type { Mount, MountContext, MountFactory } from './mount.js';
import { defaultMounts } from './mounts.js';
import { sendError, sendJson } from './reply.js';
import { createLogger, stderrJsonSink, stderrPrettySink, type Logger } from './log.js';
import { isLoopbackName, OriginPolicy } from './origin.js';
import { checkDataDir } from './storage.js';
import { attachBudget, MemoryBudget } from './budget.js';

/** A running `plexus serve`. */
export interface PlexusServer {
  config: ServerConfig;
  /** Base URL, e.g. http://127.0.0.1:8765 */
  url: string;
  port: number;
  mounts: readonly Mount[];
  /** Prometheus metrics of this server (also served on /metrics). */
  metrics: ServerMetrics;
  /** The server's logger (JSON lines on stderr unless `logger` was given), for embedders' own lines. */
  log: Logger;
  /** Graceful shutdown: stop accepting, let requests finish (up to SHUTDOWN_GRACE_MS), close stores. */
  close(): Promise<void>;
}

export interface StartOptions extends Partial<ServerConfig> {
  /** Modules to mount (default: all of plexus's). */
  mounts?: MountFactory[];
  /** Where log lines go (default: JSON lines on stderr). */
  logger?: (line: Record<string, unknown>) => void;
  /** A plexus.config.json to read (lowest precedence after defaults). `startServer` reads none unless told. */
  configFile?: string;
  /** Environment to read PLEXUS_* settings from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A token bucket: `rate` per second, holding at most `burst`. */
class Bucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number, private readonly burst: number) { this.tokens = burst; }
  take(n = 1): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/**
 * Counts client→server WebSocket frames on a raw socket (headers only; payloads are skipped), so the
 * server can meter and limit every module's WebSockets without touching their code.
 */
class FrameScanner {
  private readonly hdr = Buffer.alloc(14);
  private hlen = 0;
  private skip = 0;
  /** Feed received bytes; `onFrame` returns false to stop scanning; `onEnd` runs once a frame's payload arrived whole. */
  feed(chunk: Buffer, onFrame: (opcode: number, fin: boolean, length: number) => boolean, onEnd?: () => void): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        if (this.skip === 0) onEnd?.();
        continue;
      }
      this.hdr[this.hlen++] = chunk[i++]!;
      if (this.hlen < 2) continue;
      const l7 = this.hdr[1]! & 0x7f;
      const need = 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + (this.hdr[1]! & 0x80 ? 4 : 0);
      if (this.hlen < need) continue;
      const len = l7 === 126 ? this.hdr.readUInt16BE(2) : l7 === 127 ? Number(this.hdr.readBigUInt64BE(2)) : l7;
      this.hlen = 0;
      this.skip = len;
      if (!onFrame(this.hdr[0]! & 0x0f, (this.hdr[0]! & 0x80) !== 0, len)) return;
      if (len === 0) onEnd?.();
    }
  }
}

/** A WebSocket close frame (server→client, unmasked) with a code and a short reason. */
function closeFrame(code: number, reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8').subarray(0, 123);
  return Buffer.concat([Buffer.from([0x88, 2 + r.length, code >> 8, code & 0xff]), r]);
}

/** An HTTP error reply written straight on a socket (for refused connections and upgrades). */
function rawError(socket: Duplex, err: PlexusError, extra = ''): void {
  const body = JSON.stringify({ error: err.toJSON() });
  const reason = err.status === 429 ? 'Too Many Requests' : err.status === 401 ? 'Unauthorized' : err.status === 403 ? 'Forbidden' : err.status === 404 ? 'Not Found' : err.status === 421 ? 'Misdirected Request' : 'Error';
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${err.status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Start the plexus HTTP server with every module mounted on one port. */
export async function startServer(opts: StartOptions = {}): Promise<PlexusServer> {
  const { mounts: factories = defaultMounts, logger, configFile, env = process.env, ...partial } = opts;
  const file = configFile ? loadConfigFile(findConfigFile(configFile)!) : {};
  const config: ResolvedServerConfig = resolveConfig(partial, env, file);
  checkDataDir(config);
  const auth = authFromConfig(config);
  const webDir = findWebDir(config.webDir);
  // every line goes through the one masking function: URL passwords and the token never reach the log
  const sink = logger ?? (config.logFormat === 'pretty' ? stderrPrettySink : stderrJsonSink);
  const masked = (line: Record<string, unknown>): Record<string, unknown> => {
    try { return JSON.parse(maskSecrets(JSON.stringify(line), [config.token])) as Record<string, unknown>; } catch { return { time: line.time, level: line.level, msg: maskSecrets(String(line.msg), [config.token]) }; }
  };
  const log = createLogger({ level: config.logLevel, format: config.logFormat ?? 'json', sink: (line) => sink(masked(line)) });
  const policy = new OriginPolicy(config, (msg, fields) => log('warn', msg, fields));
  const mounts: Mount[] = [];
  const budget = new MemoryBudget();
  const metrics = new ServerMetrics(() => mounts, Date.now(), () => budget.stats());
  const deny = (req: IncomingMessage, scope: 'read' | 'write') => {
    const err = auth.denial(req, scope);
    if (err) {
      metrics.authDenied.inc({ scope });
      log('info', 'auth denied', { scope, code: err.code, path: req.url?.split('?')[0], ip: req.socket.remoteAddress });
    }
    return err;
  };
  const ctx: MountContext = {
    config,
    log,
    budget,
    checkWrite(req) { const e = deny(req, 'write'); if (e) throw e; },
    checkRead(req) { const e = deny(req, 'read'); if (e) throw e; },
    authorize: (req, scope) => deny(req, scope) === undefined,
  };

  try {
    for (const f of factories) mounts.push(await f(ctx));
  } catch (err) {
    await Promise.allSettled(mounts.map((m) => m.close()));
    metrics.close();
    throw err;
  }
  const started = Date.now();

  // ---- connection limits -------------------------------------------------------------------------
  const sockets = new Set<Socket>();
  const perIp = new Map<string, number>();
  /** Sockets over a connection limit: their first request is answered 429 and they are closed. */
  const refused = new WeakMap<Socket, PlexusError>();
  const buckets = new WeakMap<Socket, Bucket>();
  const onConnection = (s: Socket) => {
    const ip = s.remoteAddress ?? '?';
    sockets.add(s);
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    metrics.connections.inc();
    s.once('close', () => {
      sockets.delete(s);
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n > 0) perIp.set(ip, n); else perIp.delete(ip);
      metrics.connections.dec();
    });
    let why: PlexusError | undefined;
    if (sockets.size > config.maxConnections) why = new PlexusError('RATE_LIMITED', `server is at its limit of ${config.maxConnections} connections`, { detail: { limit: config.maxConnections } });
    else if (perIp.get(ip)! > config.maxConnectionsPerIp) why = new PlexusError('RATE_LIMITED', `too many connections from ${ip} (limit ${config.maxConnectionsPerIp})`, { detail: { limit: config.maxConnectionsPerIp } });
    if (why) {
      refused.set(s, why);
      metrics.connectionsRejected.inc({ reason: sockets.size > config.maxConnections ? 'total' : 'per_ip' });
      log('warn', 'connection refused', { ip, code: why.code, error: why.message });
      setTimeout(() => s.destroy(), 5000).unref();
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const t0 = process.hrtime.bigint();
    let route = 'other';
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      metrics.request(req.method ?? '?', route, res.statusCode, seconds);
      log('debug', 'http', { method: req.method, path: req.url?.split('?')[0], status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 });
    });
    attachBudget(req, budget);
    try {
      const no = refused.get(req.socket);
      if (no) { res.setHeader('connection', 'close'); throw no; }
      let bucket = buckets.get(req.socket);
      if (!bucket) buckets.set(req.socket, (bucket = new Bucket(config.httpRequestsPerSecond, config.httpRequestsPerSecond)));
      if (!bucket.take()) throw new PlexusError('RATE_LIMITED', `more than ${config.httpRequestsPerSecond} requests per second on this connection`, { detail: { limit: config.httpRequestsPerSecond } });
      if ((req.url ?? '').length > MAX_URL_BYTES) throw new PlexusError('TOO_LARGE', `URL longer than ${MAX_URL_BYTES} bytes`);
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw new PlexusError('BAD_REQUEST', 'malformed URL');
      }
      route = routeOf(url.pathname);
      if (policy.screen(req, res, url.pathname)) return; // Host, Origin, Content-Type; answers CORS preflights
      if (url.pathname === '/healthz') {
        // Liveness stays open for load balancers; the figures need read access when reads are protected.
        if (!auth.allows(req, 'read')) return sendJson(res, 200, { ok: true, uptimeMs: Date.now() - started });
        // A module whose stats fail (e.g. its database is unreachable) makes the node unhealthy: 503.
        const stats: Record<string, unknown> = {};
        let ok = true;
        for (const m of mounts) {
          if (!m.stats) continue;
          try { stats[m.name] = await m.stats(); } catch (err) { ok = false; stats[m.name] = { error: String((err as Error)?.message ?? err) }; }
        }
        return sendJson(res, ok ? 200 : 503, {
          ok, uptimeMs: Date.now() - started, modules: mounts.map((m) => m.name), stats,
          connections: sockets.size, memory: budget.stats(), websockets: Object.fromEntries(metrics.wsOpenByPath), totals: metrics.totals, rates: metrics.rates(),
          auth: auth.enabled ? (auth.authReads ? 'token (reads and writes)' : 'token (writes)') : 'open',
          storage: config.postgres ? 'postgres' : 'sqlite', bus: config.amqp ? 'amqp' : 'memory',
        });
      }
      if (url.pathname === '/metrics') {
        ctx.checkRead(req);
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        return void res.end(text);
      }
      const mount = mounts.find((m) => m.handle && m.prefixes?.some((p) => url.pathname === p || url.pathname.startsWith(p + '/')));
      if (mount) return await mount.handle!(req, res, url);
      if (serveWeb(req, res, url, webDir)) return;
      throw new PlexusError('NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
    } catch (err) {
      if (err instanceof PlexusError && err.code !== 'INTERNAL') log('debug', 'request failed', { method: req.method, path: req.url?.split('?')[0], code: err.code });
      else log('error', 'request failed', { method: req.method, path: req.url?.split('?')[0], err: String(err) });
      sendError(res, err);
    }
  };
  const server: Server = createHttpServer((req, res) => void handle(req, res));
  server.requestTimeout = 0; // bodies are timed by readBody; big blob downloads must not be cut
  server.on('connection', onConnection);

  // ---- WebSockets: metered and limited per connection, whichever module owns the path ------------
  const frameLimit = config.wsMaxFrameBytes;
  /** Open WebSockets (raw sockets), told 1001 "going away" on shutdown before the modules close. */
  const webSockets = new Set<Socket>();
  const watchWebSocket = (socket: Socket, path: string) => {
    let open = false;
    let dead = false;
    let sentAtOpen = 0;
    const scanner = new FrameScanner();
    const msgs = new Bucket(config.wsMessagesPerSecond, config.wsMessagesPerSecond);
    const bytes = new Bucket(config.wsBytesPerSecond, config.wsBytesPerSecond + frameLimit);
    const kill = (code: number, limit: string, reason: string) => {
      dead = true;
      metrics.wsClosedByLimit.inc({ path, limit });
      log('warn', 'websocket closed by limit', { path, limit, ip: socket.remoteAddress });
      socket.write(closeFrame(code, reason));
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    // a big message being received (all its frames) is charged to the memory budget until its last frame arrived
    let receiving = 0, last = false;
    const onFrame = (opcode: number, fin: boolean, length: number) => {
      if (length > frameLimit) { kill(1009, 'frame', `TOO_LARGE: frame of ${length} bytes is over the limit of ${frameLimit}`); return false; }
      if (opcode <= 2) {
        last = fin;
        if ((length >= WS_CHARGED_FRAME_BYTES || receiving > 0) && length > 0) {
          if (!budget.reserve(socket, length, 'websocket messages')) { kill(1008, 'memory', 'RATE_LIMITED: server memory budget for incoming messages is used up'); return false; }
          receiving += length;
        }
      }
      if (fin && opcode <= 2) {
        metrics.wsMessage(path);
        if (!msgs.take()) { kill(1008, 'messages', `RATE_LIMITED: more than ${config.wsMessagesPerSecond} messages per second`); return false; }
      }
      return true;
    };
    const onData = (chunk: Buffer) => {
      if (dead) return;
      metrics.wsBytes(path, chunk.length);
      if (!bytes.take(chunk.length)) { kill(1008, 'bytes', `RATE_LIMITED: more than ${config.wsBytesPerSecond} bytes per second`); return; }
      scanner.feed(chunk, onFrame, onEnd);
    };
    const onEnd = () => { if (last && receiving > 0) { budget.release(socket, receiving); receiving = 0; } };
    const attach = () => {
      open = true;
      webSockets.add(socket);
      sentAtOpen = socket.bytesWritten;
      metrics.wsOpened(path);
      socket.prependListener('data', onData);
    };
    // The module's ws library attaches its 'data' listener when the upgrade completes (maybe later,
    // after async checks); ours goes first, so every byte (the upgrade head included) is seen.
    if (socket.listenerCount('data') > 0) attach();
    else {
      const onNew = (ev: string | symbol) => { if (ev === 'data' && !open) { socket.off('newListener', onNew); attach(); } };
      socket.on('newListener', onNew);
    }
    socket.once('close', () => { webSockets.delete(socket); budget.release(socket, receiving); receiving = 0; if (open) metrics.wsClosed(path, socket.bytesWritten - sentAtOpen); });
  };
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const no = refused.get(socket) ?? policy.denial(req);
    if (no) return rawError(socket, no);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      socket.destroy();
      return;
    }
    for (const m of mounts) {
      if (m.upgrade?.(req, socket, head, url)) {
        watchWebSocket(socket, routeOf(url.pathname));
        return;
      }
    }
    rawError(socket, new PlexusError('NOT_FOUND', `no WebSocket endpoint at ${url.pathname}`));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  log('info', 'plexus listening', {
    url, modules: mounts.map((m) => m.name), data: config.postgres ? 'postgres' : config.dataDir, bus: config.amqp ? 'amqp' : 'memory',
    auth: auth.enabled ? (auth.authReads ? 'token (reads and writes)' : 'token (writes)') : 'open',
  });
  if (!isLoopbackName(config.host) && !auth.enabled) {
    log('warn', 'bound to a non-loopback address without a token: anyone who can reach it can write; set --token or --tokens-file', { host: config.host });
  }

  let closing: Promise<void> | undefined;
  return {
    config, url, port, mounts, metrics, log,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const grace = setTimeout(() => { for (const s of sockets) s.destroy(); }, SHUTDOWN_GRACE_MS);
        // WebSockets hear 1001 (going away) and get the grace time to answer the close handshake;
        // only then do the modules close (and cut what is left).
        const wsGone = [...webSockets].map((s) => new Promise<void>((r) => { if (s.destroyed) return r(); s.once('close', () => r()); s.write(closeFrame(1001, 'server shutting down')); }));
        await Promise.race([Promise.all(wsGone), new Promise<void>((r) => setTimeout(r, SHUTDOWN_GRACE_MS).unref())]);
        await Promise.allSettled(mounts.map((m) => m.close()));
        for (const s of sockets) if (!(s as Socket & { _httpMessage?: unknown })._httpMessage) s.destroy();
        await closed;
        clearTimeout(grace);
        metrics.close();
        log('info', 'plexus stopped');
        log.flush();
      })();
      return closing;
    },
  };
}
