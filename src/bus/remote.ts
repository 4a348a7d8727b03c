/**
 * The remote session protocol: revision operations on a session owned by another peer are unicast
 * calls in namespace `_sess` to the owner (`fetch`, `update`, `clear`, `destroy`) with rinq's short-key
 * CBOR payloads and `not-found` / `stale` / `frozen` failures. The payloads are rinq-go's structs
 * (fetchRequest `{s, ns?, k?}`, fetchResponse `{r, a?}`, updateRequest `{s, r, ns, a?}` (also for
 * clear), updateResponse `{r, cr?}`, destroyRequest `{s, r}`); rinq-go's CBOR encoder (ugorji/go
 * codec) writes a struct's keys sorted by name, so every payload here is built in that order.
 * `RemoteSessions` is the client side
 * (with rinq's per-session attribute cache), `serveSessionRequest` the owner side.
 */
import { PlexusError, isPlexusError } from '../errors.js';
import { BUS_MAX_REMOTE_SESSIONS } from '../limits.js';
import { attrToWire, validateNamespace, vattrFromWire, vattrToWire, type Attr, type AttrTable, type VAttr } from './attributes.js';
import { Failure, isFailure, notFoundError, staleError, frozenError } from './failure.js';
import { ClosedRevision, isAttr, isKey, splitOptions, type Revision, type RevisionOptions, type SessionState } from './revision.js';

export const FETCH = 'fetch', UPDATE = 'update', CLEAR = 'clear', DESTROY = 'destroy';
export const NOT_FOUND_FAILURE = 'not-found', STALE_FAILURE = 'stale', FROZEN_FAILURE = 'frozen';

/** Calls a command on one peer (unicast, zero-session message id); resolves the decoded payload. */
export type UnicastInvoker = (peerId: string, command: string, payload: Record<string, unknown>, opts: RevisionOptions) => Promise<unknown>;

function toError(err: unknown, sessionId: string, ref: string): unknown {
  if (isFailure(err, NOT_FOUND_FAILURE)) return notFoundError(sessionId);
  if (isFailure(err, STALE_FAILURE)) return staleError(ref);
  if (isFailure(err, FROZEN_FAILURE)) return frozenError(ref);
  return err;
}
function bad(msg: string): PlexusError { return new PlexusError('BAD_REQUEST', `invalid _sess payload: ${msg}`); }
function map(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw bad('not a map');
  return v as Record<string, unknown>;
}
function u32(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw bad(`${what} is not an unsigned integer`);
  return v;
}
function optStr(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(`${what} is not a string`);
  return v;
}
function list(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${what} is not a list`);
  return v;
}

interface Cached { attr: VAttr; fetchedAt: number }

/** Client-side view of one remote session. */
class RemoteSession {
  highestRev = 0;
  closed = false;
  readonly cache = new Map<string, Map<string, Cached>>();
  readonly peerId: string;
  readonly seq: number;
  constructor(readonly id: string, private readonly invoke: UnicastInvoker) {
    const dot = id.lastIndexOf('.');
    this.peerId = id.slice(0, dot);
    this.seq = Number(id.slice(dot + 1));
  }

  private track(rev: number, err?: unknown): void {
    if (err !== undefined) { if (isPlexusError(err, 'NOT_FOUND')) this.closed = true; }
    else if (rev > this.highestRev) this.highestRev = rev;
  }

  private async call(cmd: string, payload: Record<string, unknown>, ref: string, opts: RevisionOptions): Promise<Record<string, unknown>> {
    let out: unknown;
    try {
      out = await this.invoke(this.peerId, cmd, payload, opts);
    } catch (err) {
      const e = toError(err, this.id, ref);
      this.track(0, e);
      throw e;
    }
    return out === null ? {} : map(out);
  }

  async head(opts: RevisionOptions): Promise<number> {
    if (this.closed) throw notFoundError(this.id);
    const rsp = await this.call(FETCH, { s: this.seq }, `${this.id}@0`, opts);
    const rev = u32(rsp.r, 'r');
    this.track(rev);
    return this.highestRev;
  }

  async fetch(rev: number, ns: string, keys: string[], opts: RevisionOptions): Promise<Attr[]> {
    const solved: Attr[] = [];
    const unsolved: string[] = [];
    const cache = this.cache.get(ns);
    for (const key of keys) {
      const e = cache?.get(key);
      if (e) {
        if (e.attr.created > rev) continue;
        if (e.attr.updated > rev) throw staleError(`${this.id}@${rev}`, true);
        if (e.attr.frozen || rev <= e.fetchedAt) { solved.push(e.attr); continue; }
      }
      unsolved.push(key);
    }
    if (unsolved.length === 0) return solved;
    if (this.closed) throw notFoundError(this.id);
    const req: Record<string, unknown> = { k: unsolved };
    if (ns) req.ns = ns;
    req.s = this.seq;
    const rsp = await this.call(FETCH, req, `${this.id}@${rev}`, opts);
    const fetchedRev = u32(rsp.r, 'r');
    this.track(fetchedRev);
    const fetched = list(rsp.a, 'a').map(vattrFromWire);
    let nsCache = this.cache.get(ns);
    let stale = false;
    for (const a of fetched) {
      const e = nsCache?.get(a.key);
      if (!e || fetchedRev > e.fetchedAt) {
        if (!nsCache) { nsCache = new Map(); this.cache.set(ns, nsCache); }
        nsCache.set(a.key, { attr: a, fetchedAt: fetchedRev });
      }
      if (stale || a.created > rev) continue;
      if (a.updated > rev) { stale = true; continue; }
      solved.push(a);
    }
    if (stale) throw staleError(`${this.id}@${rev}`, true);
    return solved;
  }

  async update(rev: number, ns: string, attrs: readonly Attr[], opts: RevisionOptions): Promise<number> {
    const ref = `${this.id}@${rev}`;
    if (this.closed) throw notFoundError(this.id);
    if (this.highestRev > rev) throw staleError(ref);
    const send: Attr[] = [];
    const cache = this.cache.get(ns);
    for (const a of attrs) {
      const e = cache?.get(a.key);
      if (e) {
        const same = e.attr.value === a.value && e.attr.frozen === a.frozen;
        if (e.attr.frozen) { if (same) continue; throw frozenError(ref); }
        if (e.fetchedAt === rev && same) continue;
      }
      send.push(a);
    }
    const req: Record<string, unknown> = {};
    if (send.length) req.a = send.map(attrToWire);
    req.ns = ns;
    req.r = rev;
    req.s = this.seq;
    const rsp = await this.call(UPDATE, req, ref, opts);
    const newRev = u32(rsp.r, 'r');
    this.track(newRev);
    const created = list(rsp.cr, 'cr');
    let nsCache = this.cache.get(ns);
    send.forEach((a, i) => {
      const e = nsCache?.get(a.key);
      if (!e || newRev > e.fetchedAt) {
        if (!nsCache) { nsCache = new Map(); this.cache.set(ns, nsCache); }
        nsCache.set(a.key, { attr: { ...a, created: u32(created[i], 'cr'), updated: newRev }, fetchedAt: newRev });
      }
    });
    return this.highestRev;
  }

  async clear(rev: number, ns: string, opts: RevisionOptions): Promise<number> {
    const ref = `${this.id}@${rev}`;
    if (this.closed) throw notFoundError(this.id);
    if (this.highestRev > rev) throw staleError(ref);
    for (const e of this.cache.get(ns)?.values() ?? []) if (e.attr.frozen && e.attr.value !== '') throw frozenError(ref);
    const rsp = await this.call(CLEAR, { ns, r: rev, s: this.seq }, ref, opts);
    const newRev = u32(rsp.r, 'r');
    this.track(newRev);
    for (const [k, e] of this.cache.get(ns) ?? []) if (newRev > e.fetchedAt) this.cache.get(ns)!.set(k, { attr: { ...e.attr, value: '' }, fetchedAt: newRev });
    return this.highestRev;
  }

  async destroy(rev: number, opts: RevisionOptions): Promise<void> {
    const ref = `${this.id}@${rev}`;
    if (this.closed) throw notFoundError(this.id);
    if (this.highestRev > rev) throw staleError(ref);
    await this.call(DESTROY, { r: rev, s: this.seq }, ref, opts);
    this.closed = true;
  }
}

/** A revision of a session owned by another peer. */
export class RemoteRevision implements Revision {
  readonly ref: string;
  constructor(private readonly s: RemoteSession, readonly rev: number) { this.ref = `${s.id}@${rev}`; }
  get sessionId(): string { return this.s.id; }
  async refresh(opts: RevisionOptions = {}): Promise<Revision> { return new RemoteRevision(this.s, await this.s.head(opts)); }
  async get(ns: string, key: string, opts: RevisionOptions = {}): Promise<Attr> {
    validateNamespace(ns);
    if (this.rev === 0) return { key, value: '', frozen: false };
    const [a] = await this.s.fetch(this.rev, ns, [key], opts);
    return a ? { key: a.key, value: a.value, frozen: a.frozen } : { key, value: '', frozen: false };
  }
  async getMany(ns: string, ...args: (string | RevisionOptions)[]): Promise<AttrTable> {
    validateNamespace(ns);
    const [keys, opts] = splitOptions<string>(args, isKey);
    const t = new Map<string, Attr>(keys.map((k) => [k, { key: k, value: '', frozen: false }]));
    if (this.rev === 0) return t;
    for (const a of await this.s.fetch(this.rev, ns, keys, opts)) t.set(a.key, { key: a.key, value: a.value, frozen: a.frozen });
    return t;
  }
  async update(ns: string, ...args: (Attr | RevisionOptions)[]): Promise<Revision> {
    validateNamespace(ns);
    const [attrs, opts] = splitOptions<Attr>(args, isAttr);
    return new RemoteRevision(this.s, await this.s.update(this.rev, ns, attrs, opts));
  }
  async clear(ns: string, opts: RevisionOptions = {}): Promise<Revision> {
    validateNamespace(ns);
    return new RemoteRevision(this.s, await this.s.clear(this.rev, ns, opts));
  }
  async destroy(opts: RevisionOptions = {}): Promise<void> { await this.s.destroy(this.rev, opts); }
}

/** The client-side store of remote sessions this peer has seen. */
export class RemoteSessions {
  private readonly sessions = new Map<string, RemoteSession>();
  /** The session `at` returned last (the newest in `sessions`' order). */
  private last: RemoteSession | undefined;
  constructor(private readonly invoke: UnicastInvoker) {}
  /** A revision of the remote session `sessionId` at `rev`. */
  at(sessionId: string, rev: number): Revision {
    let s = this.last !== undefined && this.last.id === sessionId ? this.last : this.sessions.get(sessionId);
    if (s === this.last && s !== undefined) { /* already the most recently seen: nothing to reorder */ }
    else if (!s) {
      s = new RemoteSession(sessionId, this.invoke);
      this.sessions.set(sessionId, s);
      // bounded: forget the least recently seen sessions (their caches only save round trips)
      if (this.sessions.size > BUS_MAX_REMOTE_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    } else {
      this.sessions.delete(sessionId);
      this.sessions.set(sessionId, s);
    }
    this.last = s;
    if (s.closed) return new ClosedRevision(sessionId, rev);
    if (rev > s.highestRev) s.highestRev = rev;
    return new RemoteRevision(s, rev);
  }
  /** Forget sessions (e.g. when their peer is gone). */
  clear(): void { this.sessions.clear(); this.last = undefined; }
}

/** What the owner side needs: find a local session's state by seq. */
export type LocalStateLookup = (seq: number) => SessionState | undefined;

/** Result of a `_sess` request on the owner: a success payload, a Failure, or undefined (close). */
export function serveSessionRequest(command: string, payload: unknown, lookup: LocalStateLookup): Record<string, unknown> | undefined {
  const args = payload === null ? {} : map(payload);
  const state = lookup(u32(args.s, 's'));
  const fail = (err: unknown): never => {
    if (isPlexusError(err, 'NOT_FOUND')) throw new Failure(NOT_FOUND_FAILURE);
    if (isPlexusError(err, 'STALE')) throw new Failure(STALE_FAILURE);
    if (isPlexusError(err, 'FROZEN')) throw new Failure(FROZEN_FAILURE);
    throw err;
  };
  switch (command) {
    case FETCH: {
      const ns = optStr(args.ns, 'ns');
      const keys = list(args.k, 'k').map((k) => optStr(k, 'k'));
      if (!state || state.destroyed) throw new Failure(NOT_FOUND_FAILURE);
      const rsp: Record<string, unknown> = {};
      if (keys.length) {
        const table = state.attrs.get(ns);
        const a = keys.flatMap((k) => { const v = table?.get(k); return v ? [vattrToWire(v)] : []; });
        if (a.length) rsp.a = a;
      }
      rsp.r = state.rev;
      return rsp;
    }
    case UPDATE: {
      const rev = u32(args.r, 'r'), ns = optStr(args.ns, 'ns');
      const attrs = list(args.a, 'a').map(vattrFromWire);
      if (!state) throw new Failure(NOT_FOUND_FAILURE);
      let result: { rev: number; table: Map<string, VAttr> } | undefined;
      try { result = state.tryUpdate(rev, ns, attrs); } catch (err) { fail(err); }
      const rsp: Record<string, unknown> = {};
      if (attrs.length) rsp.cr = attrs.map((a) => result!.table.get(a.key)?.created ?? 0);
      rsp.r = result!.rev;
      return rsp;
    }
    case CLEAR: {
      const rev = u32(args.r, 'r'), ns = optStr(args.ns, 'ns');
      if (!state) throw new Failure(NOT_FOUND_FAILURE);
      let r = 0;
      try { r = state.tryClear(rev, ns); } catch (err) { fail(err); }
      return { r };
    }
    case DESTROY: {
      const rev = u32(args.r, 'r');
      if (!state) throw new Failure(NOT_FOUND_FAILURE);
      try { state.tryDestroy(rev); } catch (err) { fail(err); }
      return undefined;
    }
    default:
      throw new PlexusError('BAD_REQUEST', 'unknown command');
  }
}
