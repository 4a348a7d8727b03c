import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { PlexusError } from '../errors.js';
import { MAX_URL_BYTES, SHUTDOWN_GRACE_MS } from '../limits.js';
import { resolveConfig, type ServerConfig } from './config.js';
import type { Mount, MountContext, MountFactory } from './mount.js';
import { defaultMounts } from './mounts.js';
import { sendError, sendJson } from './reply.js';

/** A running `plexus serve`. */
export interface PlexusServer {
  config: ServerConfig;
  /** Base URL, e.g. http://127.0.0.1:8765 */
  url: string;
  port: number;
  mounts: readonly Mount[];
  /** Graceful shutdown: stop accepting, let requests finish (up to SHUTDOWN_GRACE_MS), close stores. */
  close(): Promise<void>;
}

export interface StartOptions extends Partial<ServerConfig> {
  /** Modules to mount (default: all of plexus's). */
  mounts?: MountFactory[];
  /** Where log lines go (default: JSON lines on stderr). */
  logger?: (line: Record<string, unknown>) => void;
}

const LEVEL_RANK = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer (.+)$/.exec(h) : null;
  const given = m?.[1] ?? new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
  const a = Buffer.from(given), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Start the plexus HTTP server with every module mounted on one port. */
export async function startServer(opts: StartOptions = {}): Promise<PlexusServer> {
  const { mounts: factories = defaultMounts, logger, ...partial } = opts;
  const config = resolveConfig(partial);
  const write = logger ?? ((line) => process.stderr.write(JSON.stringify(line) + '\n'));
  const log: MountContext['log'] = (level, msg, fields) => {
    if (LEVEL_RANK[level] >= LEVEL_RANK[config.logLevel]) write({ time: new Date().toISOString(), level, msg, ...fields });
  };
  const ctx: MountContext = {
    config,
    log,
    checkWrite(req) {
      if (config.token && !tokenMatches(req, config.token)) throw new PlexusError('UNAUTHORIZED', 'this write needs a valid token (Authorization: Bearer TOKEN)');
    },
    checkRead(req) {
      if (config.token && config.authReads && !tokenMatches(req, config.token)) throw new PlexusError('UNAUTHORIZED', 'this read needs a valid token (Authorization: Bearer TOKEN)');
    },
  };

  const mounts: Mount[] = [];
  try {
    for (const f of factories) mounts.push(await f(ctx));
  } catch (err) {
    await Promise.allSettled(mounts.map((m) => m.close()));
    throw err;
  }
  const started = Date.now();

  const server: Server = createHttpServer(async (req, res) => {
    try {
      if ((req.url ?? '').length > MAX_URL_BYTES) throw new PlexusError('TOO_LARGE', `URL longer than ${MAX_URL_BYTES} bytes`);
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw new PlexusError('BAD_REQUEST', 'malformed URL');
      }
      if (url.pathname === '/healthz') {
        const stats: Record<string, unknown> = {};
        for (const m of mounts) if (m.stats) stats[m.name] = await m.stats();
        return sendJson(res, 200, { ok: true, uptimeMs: Date.now() - started, modules: mounts.map((m) => m.name), stats });
      }
      const mount = mounts.find((m) => m.handle && m.prefixes?.some((p) => url.pathname === p || url.pathname.startsWith(p + '/')));
      if (!mount) throw new PlexusError('NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
      await mount.handle!(req, res, url);
    } catch (err) {
      if (err instanceof PlexusError && err.code !== 'INTERNAL') log('debug', 'request failed', { method: req.method, path: req.url?.split('?')[0], code: err.code });
      else log('error', 'request failed', { method: req.method, path: req.url?.split('?')[0], err: String(err) });
      sendError(res, err);
    }
  });
  server.requestTimeout = 0; // bodies are timed by readBody; big blob downloads must not be cut
  server.on('upgrade', (req, socket, head) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      socket.destroy();
      return;
    }
    for (const m of mounts) if (m.upgrade?.(req, socket, head, url)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  log('info', 'plexus listening', { url, modules: mounts.map((m) => m.name), data: config.postgres ? 'postgres' : config.dataDir, auth: config.token ? 'token' : 'open' });

  let closing: Promise<void> | undefined;
  return {
    config, url, port, mounts,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const grace = setTimeout(() => { for (const s of sockets) s.destroy(); }, SHUTDOWN_GRACE_MS);
        await Promise.allSettled(mounts.map((m) => m.close()));
        for (const s of sockets) if (!(s as Socket & { _httpMessage?: unknown })._httpMessage) s.destroy();
        await closed;
        clearTimeout(grace);
        log('info', 'plexus stopped');
      })();
      return closing;
    },
  };
}
