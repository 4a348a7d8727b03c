import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { PlexusError } from '../errors.js';

/** What a token lets its holder do. `write` implies `read`. */
export type Scope = 'read' | 'write';

/** One entry of a tokens file: the token itself or its sha256 (hex), and its scopes. */
export interface TokenEntry {
  name: string;
  token?: string;
  sha256?: string;
  scopes: Scope[];
}

interface Known { name: string; hash: Buffer; scopes: Set<Scope> }

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Parse a tokens file (JSON array of TokenEntry, or { tokens: [...] }); errors name the entry. */
export function loadTokensFile(path: string): TokenEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `cannot read tokens file ${path}: ${(err as Error).message}`);
  }
  const list = Array.isArray(value) ? value : (value as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) throw new PlexusError('BAD_REQUEST', `tokens file ${path} must hold an array of { name, token | sha256, scopes }`);
  return list.map((e: unknown, i): TokenEntry => {
    const where = `tokens file ${path}, entry ${i}`;
    if (typeof e !== 'object' || e === null) throw new PlexusError('BAD_REQUEST', `${where}: not an object`);
    const o = e as Record<string, unknown>;
    const name = typeof o.name === 'string' && o.name !== '' ? o.name : `#${i}`;
    const scopes = o.scopes ?? ['read', 'write'];
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => s === 'read' || s === 'write')) {
      throw new PlexusError('BAD_REQUEST', `${where}: scopes must be a non-empty array of "read" / "write"`);
    }
    if (typeof o.token === 'string') {
      if (o.token.length < 8 || /\s/.test(o.token)) throw new PlexusError('BAD_REQUEST', `${where}: token must be at least 8 characters without spaces`);
      return { name, token: o.token, scopes: scopes as Scope[] };
    }
    if (typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256)) return { name, sha256: o.sha256, scopes: scopes as Scope[] };
    throw new PlexusError('BAD_REQUEST', `${where}: needs "token" (>= 8 chars) or "sha256" (64 lowercase hex)`);
  });
}

/** The token a request carries: `Authorization: Bearer T`, else `?token=T` (for browsers' WebSockets). */
export function tokenOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  if (m) return m[1];
  const q = (req.url ?? '').indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams((req.url ?? '').slice(q + 1)).get('token') ?? undefined;
}

/** Who may do what: token checks for every endpoint of the server. With no token configured, all is open. */
export class Auth {
  private readonly known: Known[];

  constructor(entries: TokenEntry[], readonly authReads = false) {
    this.known = entries.map((e) => ({ name: e.name, hash: e.token !== undefined ? sha256(e.token) : Buffer.from(e.sha256!, 'hex'), scopes: new Set(e.scopes) }));
  }

  /** True when at least one token is configured (writes need one). */
  get enabled(): boolean { return this.known.length > 0; }

  /** The matching entry for a token (constant-time over all entries), or undefined. */
  private lookup(token: string | undefined): Known | undefined {
    if (token === undefined) return undefined;
    const h = sha256(token);
    let found: Known | undefined;
    for (const k of this.known) if (timingSafeEqual(k.hash, h) && !found) found = k;
    return found;
  }

  /** Why `req` may not do `scope`, or undefined if it may. */
  denial(req: IncomingMessage, scope: Scope): PlexusError | undefined {
    if (!this.enabled) return undefined;
    if (scope === 'read' && !this.authReads) return undefined;
    const token = tokenOf(req);
    const k = this.lookup(token);
    if (!k) {
      return new PlexusError('UNAUTHORIZED', token === undefined
        ? `this ${scope} needs a token (Authorization: Bearer TOKEN or ?token=TOKEN)`
        : `invalid token for this ${scope}`);
    }
    if (!k.scopes.has(scope) && !(scope === 'read' && k.scopes.has('write'))) return new PlexusError('FORBIDDEN', `token "${k.name}" lacks the ${scope} scope`);
    return undefined;
  }

  /** True when `req` may do `scope`. */
  allows(req: IncomingMessage, scope: Scope): boolean { return this.denial(req, scope) === undefined; }

  /** Throws UNAUTHORIZED / FORBIDDEN unless `req` may do `scope`. */
  check(req: IncomingMessage, scope: Scope): void {
    const err = this.denial(req, scope);
    if (err) throw err;
  }

  /** Name of the token `req` carries (for logs), if valid. */
  nameOf(req: IncomingMessage): string | undefined { return this.lookup(tokenOf(req))?.name; }
}

/** Build the server's Auth from its config (the `token` plus the entries of `tokensFile`). */
export function authFromConfig(config: { token?: string; tokensFile?: string; authReads: boolean }): Auth {
  const entries: TokenEntry[] = [];
  if (config.token) entries.push({ name: 'token', token: config.token, scopes: ['read', 'write'] });
  if (config.tokensFile) entries.push(...loadTokensFile(config.tokensFile));
  if (config.authReads && entries.length === 0) throw new PlexusError('BAD_REQUEST', 'authReads needs a token (--token or --tokens-file)');
  return new Auth(entries, config.authReads);
}
