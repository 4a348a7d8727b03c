import type { IncomingMessage, ServerResponse } from 'node:http';
import { PlexusError } from '../errors.js';

/**
 * The server's one defence against web pages it did not serve: an Origin check (cross-site requests and
 * WebSockets), a Host check while bound to loopback (DNS rebinding) and a Content-Type check (so a plain
 * HTML form cannot write). `startServer` runs it on every HTTP request and every WebSocket upgrade,
 * before any module sees them.
 */

/** Methods that never change state (answered to any allowed origin; CORS decides who may read them). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Methods a preflight may ask for. */
const CORS_METHODS = 'GET, HEAD, POST, PUT, DELETE';
/** Request headers a cross-origin page may send (tokens and body types). */
const CORS_HEADERS = 'Authorization, Content-Type';
/** How long a browser may cache a preflight answer (seconds). */
const CORS_MAX_AGE_S = 600;
/** Refused origins / hosts remembered for "logged once" (bounded, so a hostile client cannot grow it). */
const MAX_LOGGED = 1000;

/** What the policy needs from the server's config. */
export interface OriginPolicyConfig {
  /** Interface the server binds (`--host`): the Host check is on while it is a loopback address. */
  host: string;
  /** Extra origins allowed to call the server (`--allow-origin`); `*` allows every origin. */
  allowOrigin?: readonly string[];
  /** Extra Host names accepted while bound to loopback (`--allow-host`); `*` accepts every name. */
  allowHost?: readonly string[];
}

/** True for a host name that is loopback by definition: localhost, *.localhost, 127.0.0.0/8, ::1. */
export function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1';
}

/** Normalise one `--allow-origin` value: `*`, `null`, or scheme://host[:port] (no path). */
export function parseAllowedOrigin(v: string): string {
  const s = v.trim();
  if (s === '*' || s === 'null') return s;
  let u: URL;
  try { u = new URL(s); } catch { throw new PlexusError('BAD_REQUEST', `invalid origin ${JSON.stringify(v)}: want scheme://host[:port], "null" or "*"`); }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password || /[?#]/.test(s)) {
    throw new PlexusError('BAD_REQUEST', `invalid origin ${JSON.stringify(v)}: want http(s)://host[:port] with no path`);
  }
  return u.origin;
}

/** Normalise one `--allow-host` value: `*`, a host name or IP (no port), or `*.domain`. */
export function parseAllowedHost(v: string): string {
  const s = v.trim().toLowerCase();
  if (s === '*') return s;
  const name = s.startsWith('*.') ? s.slice(2) : s;
  let u: URL | undefined;
  try { u = new URL(`http://${name}`); } catch { /* reported below */ }
  if (!u || u.port !== '' || u.pathname !== '/' || u.hostname !== name.replace(/^\[(.*)\]$/, '[$1]')) {
    throw new PlexusError('BAD_REQUEST', `invalid host ${JSON.stringify(v)}: want a host name or IP address without port, or *.domain`);
  }
  return s;
}

/** The hostname of a Host header value (lowercase, IPv6 in brackets), or undefined when malformed. */
function hostnameOf(host: string): string | undefined {
  try {
    const u = new URL(`http://${host}`);
    return u.username || u.password || u.pathname !== '/' ? undefined : u.hostname;
  } catch {
    return undefined;
  }
}

/** True for a WebSocket upgrade request. */
const isUpgrade = (req: IncomingMessage) => (req.headers.upgrade ?? '').toLowerCase() === 'websocket';

/** The Origin / Host / Content-Type policy of one server. */
export class OriginPolicy {
  readonly #origins: Set<string>;
  readonly #anyOrigin: boolean;
  readonly #hosts: string[];
  readonly #checkHost: boolean;
  readonly #bound: string;
  readonly #logged = new Set<string>();

  /**
   * `log` receives one warning per refused origin or host, naming the flag that would allow it; the
   * message names the origin too, so a logger that folds repeated messages keeps one line per origin.
   */
  constructor(config: OriginPolicyConfig, private readonly log: (msg: string, fields: Record<string, unknown>) => void = () => {}) {
    const origins = (config.allowOrigin ?? []).map(parseAllowedOrigin);
    this.#anyOrigin = origins.includes('*');
    this.#origins = new Set(origins);
    this.#hosts = (config.allowHost ?? []).map(parseAllowedHost);
    this.#bound = config.host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    this.#checkHost = isLoopbackName(this.#bound) && !this.#hosts.includes('*');
  }

  /** True while the Host check (DNS-rebinding defence) is on: bound to loopback, no `--allow-host *`. */
  get checksHost(): boolean { return this.#checkHost; }

  /** Why the Host header is refused (MISDIRECTED), or undefined. Requests without Host (HTTP/1.0) pass. */
  hostDenial(req: IncomingMessage): PlexusError | undefined {
    if (!this.#checkHost) return undefined;
    const host = req.headers.host;
    if (host === undefined) return undefined;
    const name = hostnameOf(host);
    if (name !== undefined && this.#hostAllowed(name)) return undefined;
    const shown = (name ?? host).slice(0, 100);
    this.#logOnce(`host ${shown}`, `host refused: ${shown}`, { host: shown, path: req.url?.split('?')[0]?.slice(0, 200), allowWith: `--allow-host ${shown}` });
    return new PlexusError('MISDIRECTED', `Host ${JSON.stringify(shown)} is not a name of this server (it is bound to loopback; a page reaching it under another name may be a DNS-rebinding attack); allow it with --allow-host ${shown}`, { detail: { host: shown } });
  }

  #hostAllowed(name: string): boolean {
    const bare = name.replace(/^\[(.*)\]$/, '$1');
    if (isLoopbackName(bare) || bare === this.#bound) return true;
    return this.#hosts.some((h) => (h.startsWith('*.') ? bare.endsWith(h.slice(1)) : h.replace(/^\[(.*)\]$/, '$1') === bare));
  }

  /** True when a request from `origin` may call this server (`host` is the request's Host header). */
  originAllowed(origin: string, host: string | undefined): boolean {
    if (this.#anyOrigin || this.#origins.has(origin)) return true;
    if (origin === 'null') return false;
    let u: URL;
    try { u = new URL(origin); } catch { return false; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    if (isLoopbackName(u.hostname)) return true; // a local dev server (http://localhost:5173) or this machine
    // the server's own origin: the page was served by this server under the name it was reached by
    return host !== undefined && u.host === host.toLowerCase();
  }

  /**
   * Why this request's Origin is refused (FORBIDDEN), or undefined. Checked on every WebSocket upgrade
   * and every request that is not GET/HEAD/OPTIONS; reads from a refused origin are not refused here but
   * get no CORS headers, so the page cannot see them. Requests without Origin (CLI, curl, Node) pass.
   */
  originDenial(req: IncomingMessage): PlexusError | undefined {
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    if (!isUpgrade(req) && SAFE_METHODS.has(req.method ?? 'GET') && req.method !== 'OPTIONS') return undefined;
    if (this.originAllowed(origin, req.headers.host)) return undefined;
    const shown = origin.slice(0, 200);
    this.#logOnce(`origin ${shown}`, `origin refused: ${shown}`, { origin: shown, path: req.url?.split('?')[0]?.slice(0, 200), allowWith: `--allow-origin ${shown}` });
    return new PlexusError('FORBIDDEN', `origin ${shown} may not use this server; allow it with --allow-origin ${shown}`, { detail: { origin: shown } });
  }

  /** The Host check, then the Origin check: the first refusal, or undefined. */
  denial(req: IncomingMessage): PlexusError | undefined {
    return this.hostDenial(req) ?? this.originDenial(req);
  }

  /**
   * CORS: for an allowed cross-origin request, echo its origin (`Access-Control-Allow-Origin`) with
   * `Vary: Origin`; answer a preflight (OPTIONS with Access-Control-Request-Method) with 204. Returns
   * true when the request was a preflight and has been answered. Refused origins get no CORS headers.
   */
  cors(req: IncomingMessage, res: ServerResponse): boolean {
    res.setHeader('vary', 'Origin');
    const origin = req.headers.origin;
    const allowed = origin !== undefined && this.originAllowed(origin, req.headers.host);
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', 'ETag, Content-Length');
    }
    if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
    if (!allowed) return false; // originDenial answers it 403
    res.writeHead(204, {
      'access-control-allow-methods': CORS_METHODS,
      'access-control-allow-headers': CORS_HEADERS,
      'access-control-max-age': String(CORS_MAX_AGE_S),
      'content-length': 0,
    });
    res.end();
    return true;
  }

  /**
   * Why a request body's Content-Type is refused (UNSUPPORTED), or undefined: uploads under /blob are
   * bytes (application/octet-stream, or no type), every other body is JSON (application/json). HTML
   * forms can only send urlencoded, multipart or text/plain bodies, so a form can never write.
   */
  contentTypeDenial(req: IncomingMessage, pathname: string): PlexusError | undefined {
    const method = req.method ?? 'GET';
    if (SAFE_METHODS.has(method)) return undefined;
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody) return undefined;
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const blob = pathname === '/blob' || pathname.startsWith('/blob/');
    if (blob ? type === 'application/octet-stream' || type === '' : type === 'application/json') return undefined;
    const want = blob ? 'application/octet-stream' : 'application/json';
    return new PlexusError('UNSUPPORTED', `${method} ${pathname.slice(0, 200)} takes ${want} bodies, not ${JSON.stringify(type || 'none')}`, { detail: { want } });
  }

  /**
   * The whole check of one HTTP request: Host, then CORS (a preflight from an allowed origin is answered
   * here: returns true), then Origin and Content-Type. Throws the refusal (the connection closes after it
   * when the request carries a body nobody will read).
   */
  screen(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    const host = this.hostDenial(req);
    if (!host && this.cors(req, res)) return true;
    const why = host ?? this.originDenial(req) ?? this.contentTypeDenial(req, pathname);
    if (!why) return false;
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') res.setHeader('connection', 'close');
    throw why;
  }

  #logOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#logged.has(key) || this.#logged.size >= MAX_LOGGED) return;
    this.#logged.add(key);
    this.log(msg, fields);
  }
}
