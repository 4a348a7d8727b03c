import { PlexusError, throwIfAborted } from '../errors.js';
import {
  GRAPH_MAX_OUTBOX, GRAPH_ONCE_QUIET_MS, GRAPH_ONCE_TIMEOUT_MS, GRAPH_PUT_TIMEOUT_MS, GRAPH_RECONNECT_MAX_DELAY_MS, GRAPH_RECONNECT_MIN_DELAY_MS,
} from '../limits.js';
import { createStateClock, isUpdate } from './ham.js';
import type { GraphStore } from './store.js';
import { MemoryGraphStore } from './store/memory.js';
import { IndexedDbGraphStore } from './store/indexeddb.js';
import { fieldProblem, isRelation, soulProblem, toGraphData, valueProblem, type FieldState, type FieldWrite, type Relation, type Value } from './value.js';
import { messageId, parseFrame, type WireMessage } from './wire.js';

import type { WebSocketConstructor, WebSocketLike } from '../websocket.js';
export type { WebSocketConstructor, WebSocketLike };

/** What the client keeps of data it receives: souls it asked for or wrote (default), everything, or nothing. */
export type Tracking = 'requested' | 'everything' | 'nothing';

export interface GraphOptions {
  /** Relay URLs, e.g. `http://host:8765/gun` (http→ws, https→wss, as gun). */
  peers?: string[];
  /** Local store (default: IndexedDB where there is one, as in a browser, so data and unacked writes survive a reload; else in memory). */
  store?: GraphStore;
  /** Name of the default IndexedDB store (default 'plexus-graph'). */
  storeName?: string;
  /** Soul generator for `set()` (default: gun-like time + random). */
  soulGen?: () => string;
  tracking?: Tracking;
  /** First reconnect delay (ms), doubled up to GRAPH_RECONNECT_MAX_DELAY_MS. */
  peerRetryMs?: number;
  /** WebSocket constructor (default globalThis.WebSocket; in Node pass `ws`, or use plexus/graph/node). */
  WebSocket?: WebSocketConstructor;
  /** Called when a peer connection fails or sends an error (the client keeps reconnecting). */
  onPeerError?(url: string, err: unknown): void;
  /** State clock (default: gun-like, ms + n/999). */
  clock?: () => number;
}

/** A field's value as the API hands it out: relations resolved to node data where asked. */
export type NodeData = Record<string, Value>;

/** What a change event carries. */
export interface GraphChange<T = Value | NodeData | undefined> { value: T; soul: string; field?: string; key?: string }

export interface PutOptions {
  /** Write only to the local store; don't send to peers. */
  localOnly?: boolean;
  /** Fail with NOT_FOUND instead of creating missing parent relations. */
  failWithoutParent?: boolean;
  signal?: AbortSignal;
  /** How long to wait for the first ack (default GRAPH_PUT_TIMEOUT_MS); the write stays queued after. */
  timeoutMs?: number;
}

export interface PutResult {
  /** The soul the value was written to (the node, or the parent node for a field). */
  soul: string;
  /** The acks received (the first one; empty for localOnly or with no peers). */
  acks: { peer: string; ok: unknown }[];
}

export interface OnceOptions {
  /** local: the local store only; remote: ask the peers first; any (default): local if present, else peers. */
  source?: 'local' | 'remote' | 'any';
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Listener = (soul: string, field: string, f: FieldState) => void;

interface OutboxEntry {
  writes: FieldWrite[];
  resolve?(r: PutResult['acks']): void;
  reject?(err: PlexusError): void;
  ids: Set<string>;
  /** Key of the persisted copy (stores with an outbox). */
  key?: number;
}

interface Fetch { soul: string; field?: string; waiting: Set<PeerLink>; answered: Set<PeerLink>; done(): void; replies: FieldWrite[] }

class PeerLink {
  ws: WebSocketLike | undefined;
  open = false;
  attempts = 0;
  timer: ReturnType<typeof setTimeout> | undefined;
  pid: string | undefined;
  constructor(readonly url: string) {}
}

const subKey = (soul: string, field?: string) => (field === undefined ? `${soul.length}:${soul}` : `${soul.length}:${soul}${field}`);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !isRelation(v);
const B36 = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** gun-like soul for `set()` items: base-36 time then 12 random alphanumerics. */
export function defaultSoulGen(): string {
  let s = Date.now().toString(36);
  for (let i = 0; i < 12; i++) s += B36[Math.floor(Math.random() * B36.length)]!;
  return s;
}

/**
 * A GUN-compatible graph client: a local store merged by HAM, WebSocket peers (plexus relays or gun
 * relays) with reconnect + backoff, an outbox of unacked writes replayed on reconnect, and scoped refs.
 */
export class Graph {
  readonly store: GraphStore;
  readonly pid = messageId();
  readonly #peers: PeerLink[];
  readonly #clock: () => number;
  readonly #soulGen: () => string;
  readonly #tracking: Tracking;
  readonly #retryMs: number;
  readonly #WS: WebSocketConstructor | undefined;
  readonly #onPeerError: (url: string, err: unknown) => void;
  readonly #listeners = new Map<string, Set<Listener>>();
  /** Gets to (re)send on every connect: what live listeners want. subKey → count. */
  readonly #wanted = new Map<string, { soul: string; field?: string; n: number }>();
  readonly #requested = new Set<string>();
  readonly #outbox = new Map<OutboxEntry, true>();
  readonly #acks = new Map<string, OutboxEntry>();
  readonly #fetches = new Map<string, Fetch>();
  readonly #closers = new Set<() => void>();
  #dueTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #restored: Promise<void> = Promise.resolve();

  constructor(opts: GraphOptions = {}) {
    this.store = opts.store ?? ((globalThis as { indexedDB?: unknown }).indexedDB ? new IndexedDbGraphStore(opts.storeName) : new MemoryGraphStore());
    this.#clock = opts.clock ?? createStateClock();
    this.#soulGen = opts.soulGen ?? defaultSoulGen;
    this.#tracking = opts.tracking ?? 'requested';
    this.#retryMs = opts.peerRetryMs ?? GRAPH_RECONNECT_MIN_DELAY_MS;
    this.#WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.#onPeerError = opts.onPeerError ?? (() => {});
    this.#peers = (opts.peers ?? []).map((u) => new PeerLink(u));
    if (this.#peers.length && !this.#WS) throw new PlexusError('UNSUPPORTED', 'no WebSocket available: pass { WebSocket } (in Node use plexus/graph/node or the ws package)');
    for (const p of this.#peers) this.#dial(p);
    if (this.store.outbox) this.#restored = this.#restoreOutbox();
  }

  /** Unacked writes of an earlier session (kept by the store): queue them again and send them. */
  async #restoreOutbox(): Promise<void> {
    let kept: { key: number; writes: FieldWrite[] }[];
    try { kept = await this.store.outbox!.all(); } catch (err) { this.#onPeerError('(local store)', err); return; }
    for (const { key, writes } of kept) {
      if (this.#closed) return;
      const e: OutboxEntry = { writes, ids: new Set(), key };
      this.#outbox.set(e, true);
      this.#sendPut(e, this.#peers);
    }
  }

  /** Resolves once unacked writes kept from an earlier session are queued again. */
  get restored(): Promise<void> {
    return this.#restored;
  }

  /** A ref to the node with this soul. */
  get(soul: string): GraphRef {
    const p = soulProblem(soul);
    if (p) throw new PlexusError('BAD_REQUEST', p);
    return new GraphRef(this, [soul]);
  }

  /** Peers and whether they are connected. */
  get peers(): { url: string; connected: boolean }[] {
    return this.#peers.map((p) => ({ url: p.url, connected: p.open }));
  }

  /** Unacked writes waiting for a peer. */
  get pendingWrites(): number {
    return this.#outbox.size;
  }

  // ---- connections -----------------------------------------------------------------------------

  #dial(p: PeerLink): void {
    if (this.#closed) return;
    let ws: WebSocketLike;
    try {
      ws = new this.#WS!(p.url.replace(/^http/, 'ws'));
    } catch (err) {
      this.#onPeerError(p.url, err);
      return this.#retry(p);
    }
    p.ws = ws;
    ws.onopen = () => {
      if (p.ws !== ws) return;
      p.open = true;
      p.attempts = 0;
      this.#onOpen(p);
    };
    ws.onmessage = (ev) => { if (p.ws === ws && typeof ev.data === 'string') void this.#receive(p, ev.data); };
    ws.onerror = (ev) => { if (p.ws === ws) this.#onPeerError(p.url, (ev as { error?: unknown }).error ?? ev); };
    ws.onclose = () => {
      if (p.ws !== ws) return;
      p.open = false;
      p.ws = undefined;
      for (const f of this.#fetches.values()) if (f.waiting.delete(p) && f.waiting.size === 0) f.done();
      this.#retry(p);
    };
  }

  #retry(p: PeerLink): void {
    if (this.#closed) return;
    const base = Math.min(GRAPH_RECONNECT_MAX_DELAY_MS, this.#retryMs * 2 ** Math.min(p.attempts, 20));
    p.attempts++;
    p.timer = setTimeout(() => { p.timer = undefined; this.#dial(p); }, base * (0.5 + Math.random() / 2));
  }

  #send(p: PeerLink, msg: Record<string, unknown>): boolean {
    if (!p.open || !p.ws) return false;
    try {
      p.ws.send(JSON.stringify(msg));
      return true;
    } catch (err) {
      this.#onPeerError(p.url, err);
      return false;
    }
  }

  #onOpen(p: PeerLink): void {
    // resubscribe (gun Q19), re-ask open fetches, replay the outbox (Q5)
    for (const w of this.#wanted.values()) this.#send(p, { '#': messageId(), get: w.field === undefined ? { '#': w.soul } : { '#': w.soul, '.': w.field } });
    for (const [id, f] of this.#fetches) if (!f.answered.has(p) && !f.waiting.has(p)) { f.waiting.add(p); this.#send(p, { '#': id, get: f.field === undefined ? { '#': f.soul } : { '#': f.soul, '.': f.field } }); }
    for (const e of this.#outbox.keys()) this.#sendPut(e, [p]);
  }

  #sendPut(e: OutboxEntry, to: PeerLink[]): void {
    for (const p of to) {
      if (!p.open) continue;
      const id = messageId();
      e.ids.add(id);
      this.#acks.set(id, e);
      this.#send(p, { '#': id, put: toGraphData(e.writes) });
    }
  }

  async #receive(p: PeerLink, text: string): Promise<void> {
    const frame = parseFrame(text, { now: Date.now() });
    for (const item of frame.items) {
      if (item.error) { this.#onPeerError(p.url, item.error); continue; }
      const msg = item.msg;
      if (msg.dam !== undefined) {
        if (msg.dam === '?') { if (msg.pid) p.pid = msg.pid; if (msg.ack === undefined) this.#send(p, { '#': messageId(), '@': msg.id, dam: '?', pid: this.pid }); }
        else if (msg.dam === '!') this.#onPeerError(p.url, new PlexusError('BAD_REQUEST', `peer reported: ${msg.err ?? 'error'}`));
        continue;
      }
      if (msg.ack !== undefined) {
        const e = this.#acks.get(msg.ack);
        if (e && msg.put === undefined) { this.#onAck(e, p, msg); continue; }
        const f = this.#fetches.get(msg.ack);
        if (f) {
          if (msg.put) f.replies.push(...msg.put);
          await this.#merge(msg.put ?? [], true);
          f.answered.add(p);
          if (f.waiting.delete(p) && f.waiting.size === 0) setTimeout(f.done, GRAPH_ONCE_QUIET_MS);
          continue;
        }
      }
      if (msg.put) await this.#merge(msg.put, false);
      else if (msg.get) await this.#answerGet(p, msg);
    }
  }

  #onAck(e: OutboxEntry, p: PeerLink, msg: WireMessage): void {
    for (const id of e.ids) this.#acks.delete(id);
    this.#outbox.delete(e);
    if (e.key !== undefined) this.store.outbox?.remove(e.key).catch((err: unknown) => this.#onPeerError('(local store)', err));
    if (msg.err !== undefined) e.reject?.(new PlexusError('BAD_REQUEST', `peer ${p.url} refused the write: ${msg.err}`, { detail: { peer: p.url } }));
    else e.resolve?.([{ peer: p.url, ok: msg.ok }]);
    e.resolve = e.reject = undefined;
  }

  async #answerGet(p: PeerLink, msg: WireMessage): Promise<void> {
    const g = msg.get!;
    if (g.souls || g.lex) return;
    const fields: [string, FieldState][] = [];
    if (g.field !== undefined) { const f = await this.store.getField(g.soul, g.field); if (f) fields.push([g.field, f]); }
    else { const n = await this.store.get(g.soul); if (n) fields.push(...n); }
    if (fields.length) this.#send(p, { '#': messageId(), '@': msg.id, put: toGraphData(fields.map(([field, f]) => ({ soul: g.soul, field, ...f }))) });
  }

  /** Merge incoming fields through HAM into the local store (per tracking) and notify listeners. */
  async #merge(writes: FieldWrite[], requested: boolean): Promise<void> {
    if (writes.length === 0 || this.#closed) return;
    let keep = writes;
    if (this.#tracking === 'nothing') keep = [];
    else if (this.#tracking === 'requested' && !requested) keep = writes.filter((w) => this.#requested.has(w.soul));
    if (this.#tracking === 'nothing') {
      for (const w of writes) this.#emit(w.soul, w.field, { value: w.value, state: w.state });
      return;
    }
    if (keep.length === 0) return;
    for (const w of keep) this.#requested.add(w.soul);
    const res = await this.store.put(keep, this.#clock());
    let deferred = false;
    res.forEach((r, i) => {
      const w = keep[i]!;
      if (isUpdate(r)) this.#emit(w.soul, w.field, { value: w.value, state: w.state });
      else if (r === 'too-future-deferred') deferred = true;
    });
    if (deferred) void this.#scheduleDue();
  }

  async #scheduleDue(): Promise<void> {
    const next = await this.store.nextDue();
    if (next === undefined || this.#closed) return;
    clearTimeout(this.#dueTimer);
    this.#dueTimer = setTimeout(async () => {
      if (this.#closed) return;
      const applied = await this.store.applyDue(this.#clock());
      for (const w of applied) this.#emit(w.soul, w.field, { value: w.value, state: w.state });
      void this.#scheduleDue();
    }, Math.max(0, Math.ceil(next - Date.now())));
  }

  #emit(soul: string, field: string, f: FieldState): void {
    for (const k of [subKey(soul), subKey(soul, field)]) {
      const ls = this.#listeners.get(k);
      if (ls) for (const l of [...ls]) { try { l(soul, field, f); } catch { /* a listener's bug is its own */ } }
    }
  }

  // ---- internals used by refs ------------------------------------------------------------------

  /** @internal Listen to a soul (or one field); also asks peers and keeps asking after reconnects. */
  watch(soul: string, field: string | undefined, l: Listener): () => void {
    const k = subKey(soul, field);
    let ls = this.#listeners.get(k);
    if (!ls) this.#listeners.set(k, (ls = new Set()));
    ls.add(l);
    this.#requested.add(soul);
    const w = this.#wanted.get(k);
    if (w) w.n++;
    else {
      this.#wanted.set(k, field === undefined ? { soul, n: 1 } : { soul, field, n: 1 });
      for (const p of this.#peers) this.#send(p, { '#': messageId(), get: field === undefined ? { '#': soul } : { '#': soul, '.': field } });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      ls!.delete(l);
      if (ls!.size === 0) this.#listeners.delete(k);
      const x = this.#wanted.get(k);
      if (x && --x.n === 0) this.#wanted.delete(k);
    };
  }

  /** @internal Read a node or field, from the local store and/or the peers. */
  async read(soul: string, field: string | undefined, opts: OnceOptions): Promise<{ fields: Map<string, FieldState> } | undefined> {
    throwIfAborted(opts.signal);
    const source = opts.source ?? 'any';
    const local = async () => {
      if (field !== undefined) { const f = await this.store.getField(soul, field); return f ? new Map([[field, f]]) : undefined; }
      return this.store.get(soul);
    };
    if (source !== 'remote') {
      const l = await local();
      if (l || source === 'local' || this.#peers.length === 0) return l && { fields: l };
    }
    const replies = await this.#fetch(soul, field, opts);
    if (this.#tracking === 'nothing') {
      if (replies.length === 0) return undefined;
      const m = new Map<string, FieldState>();
      for (const w of replies) { const c = m.get(w.field); if (!c || w.state >= c.state) m.set(w.field, { value: w.value, state: w.state }); }
      return { fields: m };
    }
    const l = await local();
    return l && { fields: l };
  }

  #fetch(soul: string, field: string | undefined, opts: OnceOptions): Promise<FieldWrite[]> {
    this.#requested.add(soul);
    return new Promise((resolve, reject) => {
      const id = messageId();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => { finish(); reject(new PlexusError('ABORTED', 'once aborted')); };
      const finish = () => {
        if (!this.#fetches.delete(id)) return false;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.#closers.delete(close);
        return true;
      };
      const close = () => { if (finish()) resolve(f.replies); };
      const f: Fetch = { soul, field, waiting: new Set(), answered: new Set(), replies: [], done: () => { if (finish()) resolve(f.replies); } };
      this.#fetches.set(id, f);
      this.#closers.add(close);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(f.done, opts.timeoutMs ?? GRAPH_ONCE_TIMEOUT_MS);
      for (const p of this.#peers) if (p.open) { f.waiting.add(p); this.#send(p, { '#': id, get: field === undefined ? { '#': soul } : { '#': soul, '.': field } }); }
    });
  }

  /** @internal Write fields locally and (unless localOnly) to the peers. */
  async write(writes: FieldWrite[], soul: string, opts: PutOptions): Promise<PutResult> {
    if (this.#closed) throw new PlexusError('CLOSED', 'graph is closed');
    throwIfAborted(opts.signal);
    for (const w of writes) this.#requested.add(w.soul);
    const m = this.#clock();
    const res = await this.store.put(writes, Math.max(m, ...writes.map((w) => w.state)));
    res.forEach((r, i) => { if (isUpdate(r)) { const w = writes[i]!; this.#emit(w.soul, w.field, { value: w.value, state: w.state }); } });
    if (opts.localOnly || this.#peers.length === 0) return { soul, acks: [] };
    if (this.#outbox.size >= GRAPH_MAX_OUTBOX) throw new PlexusError('RATE_LIMITED', `more than ${GRAPH_MAX_OUTBOX} writes waiting for a peer`);
    const e: OutboxEntry = { writes, ids: new Set() };
    const acked = new Promise<PutResult['acks']>((resolve, reject) => { e.resolve = resolve; e.reject = reject; });
    if (this.store.outbox) e.key = await this.store.outbox.add(writes); // kept until acked, across reloads
    this.#outbox.set(e, true);
    this.#sendPut(e, this.#peers);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const acks = await Promise.race([
        acked,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PlexusError('TIMEOUT', 'no ack from any peer yet (the write stays queued and is re-sent on reconnect)')), opts.timeoutMs ?? GRAPH_PUT_TIMEOUT_MS);
          onAbort = () => reject(new PlexusError('ABORTED', 'put aborted (the write stays queued)'));
          opts.signal?.addEventListener('abort', onAbort, { once: true });
          this.#closers.add(onAbort);
        }),
      ]);
      return { soul, acks };
    } finally {
      clearTimeout(timer);
      if (onAbort) { opts.signal?.removeEventListener('abort', onAbort); this.#closers.delete(onAbort); }
    }
  }

  /** @internal */
  state(): number {
    return this.#clock();
  }

  /** @internal */
  newSoul(): string {
    return this.#soulGen();
  }

  /** @internal Register a cleanup run on close (iterators). */
  onClose(fn: () => void): () => void {
    this.#closers.add(fn);
    return () => this.#closers.delete(fn);
  }

  /** Stop: close peer connections, end subscriptions, reject pending waits. The store is closed too. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#dueTimer);
    for (const p of this.#peers) { clearTimeout(p.timer); const ws = p.ws; p.ws = undefined; p.open = false; try { ws?.close(); } catch { /* closing anyway */ } }
    for (const c of [...this.#closers]) c();
    for (const e of this.#outbox.keys()) e.reject?.(new PlexusError('CLOSED', 'graph closed before the write was acked'));
    this.#listeners.clear();
    await this.store.close();
  }
}

/**
 * A scoped reference: `graph.get('users').get('alice').get('name')`. The first key is a soul; each
 * further key is a field, followed through relations.
 */
export class GraphRef {
  constructor(readonly graph: Graph, readonly path: readonly string[]) {}

  /** A ref one field deeper. */
  get(field: string): GraphRef {
    const p = fieldProblem(field);
    if (p) throw new PlexusError('BAD_REQUEST', p);
    return new GraphRef(this.graph, [...this.path, field]);
  }

  /** The soul of the node this ref points at (following relations), or undefined if there is none yet. */
  async soul(opts: OnceOptions = {}): Promise<string | undefined> {
    if (this.path.length === 1) return this.path[0];
    const parent = await new GraphRef(this.graph, this.path.slice(0, -1)).soul(opts);
    if (parent === undefined) return undefined;
    const r = await this.graph.read(parent, this.path.at(-1)!, opts);
    const v = r?.fields.get(this.path.at(-1)!)?.value;
    if (v === undefined || v === null) return undefined;
    if (!isRelation(v)) throw new PlexusError('NOT_OBJECT', `${this.path.join('.')} holds a ${typeof v}, not a node`);
    return v['#'];
  }

  /** Resolve (and, unless told not to, create) the soul of the node at this ref; returns it and the link writes needed. */
  async #ensureSoul(state: number, opts: PutOptions, writes: FieldWrite[]): Promise<string> {
    if (this.path.length === 1) return this.path[0]!;
    const parentRef = new GraphRef(this.graph, this.path.slice(0, -1));
    const parent = await parentRef.#ensureSoul(state, opts, writes);
    const field = this.path.at(-1)!;
    const r = await this.graph.read(parent, field, { ...(opts.signal ? { signal: opts.signal } : {}), source: 'any' });
    const v = r?.fields.get(field)?.value;
    if (isRelation(v)) return v['#'];
    if (v !== undefined && v !== null) throw new PlexusError('NOT_OBJECT', `${this.path.join('.')} holds a ${typeof v}, not a node`);
    if (opts.failWithoutParent) throw new PlexusError('NOT_FOUND', `no node at ${this.path.join('.')}`);
    const soul = `${parent}/${field}`;
    writes.push({ soul: parent, field, value: { '#': soul }, state });
    return soul;
  }

  /** Flatten a plain object into field writes of `soul`, nested objects becoming linked nodes. */
  async #flatten(obj: Record<string, unknown>, soul: string, state: number, writes: FieldWrite[], depth = 0): Promise<void> {
    if (depth > 64) throw new PlexusError('TOO_LARGE', 'object nested deeper than 64 levels');
    for (const [k, v] of Object.entries(obj)) {
      const fp = fieldProblem(k);
      if (fp) throw new PlexusError('BAD_REQUEST', fp);
      if (isPlainObject(v)) {
        const cur = (await this.graph.store.getField(soul, k))?.value;
        const child = isRelation(cur) ? cur['#'] : `${soul}/${k}`;
        writes.push({ soul, field: k, value: { '#': child }, state });
        await this.#flatten(v, child, state, writes, depth + 1);
      } else {
        const vp = valueProblem(v);
        if (vp) throw new PlexusError('BAD_REQUEST', `${k}: ${vp}`);
        writes.push({ soul, field: k, value: v as Value, state });
      }
    }
  }

  /**
   * Write a value (field refs) or merge an object (any ref; nested objects become linked nodes).
   * Resolves with the first ack. A primitive on a top-level ref is LOOKUP_ON_TOP_LEVEL.
   */
  async put(value: unknown, opts: PutOptions = {}): Promise<PutResult> {
    const state = this.graph.state();
    const writes: FieldWrite[] = [];
    if (this.path.length === 1) {
      if (!isPlainObject(value)) throw new PlexusError('LOOKUP_ON_TOP_LEVEL', 'a top-level ref is a node: put an object, or .get(field) first');
      await this.#flatten(value, this.path[0]!, state, writes);
      return this.graph.write(writes, this.path[0]!, opts);
    }
    const parentRef = new GraphRef(this.graph, this.path.slice(0, -1));
    const parent = await parentRef.#ensureSoul(state, opts, writes);
    const field = this.path.at(-1)!;
    if (isPlainObject(value)) {
      const cur = (await this.graph.read(parent, field, { source: 'any', ...(opts.signal ? { signal: opts.signal } : {}) }))?.fields.get(field)?.value;
      if (cur !== undefined && cur !== null && !isRelation(cur)) { /* a primitive is replaced by a node */ }
      const child = isRelation(cur) ? cur['#'] : `${parent}/${field}`;
      writes.push({ soul: parent, field, value: { '#': child }, state });
      await this.#flatten(value, child, state, writes);
      return this.graph.write(writes, child, opts);
    }
    const vp = valueProblem(value);
    if (vp) throw new PlexusError('BAD_REQUEST', vp);
    writes.push({ soul: parent, field, value: value as Value, state });
    return this.graph.write(writes, parent, opts);
  }

  /**
   * Read once: a node's data for node refs (and for fields holding a relation), a field's value
   * otherwise, undefined when there is nothing.
   */
  async once(opts: OnceOptions = {}): Promise<Value | NodeData | undefined> {
    if (this.path.length === 1) return nodeData(await this.graph.read(this.path[0]!, undefined, opts));
    const parent = await new GraphRef(this.graph, this.path.slice(0, -1)).soul(opts);
    if (parent === undefined) return undefined;
    const field = this.path.at(-1)!;
    const v = (await this.graph.read(parent, field, opts))?.fields.get(field)?.value;
    if (isRelation(v)) return nodeData(await this.graph.read(v['#'], undefined, opts));
    return v;
  }

  /**
   * Call `cb` with the current value and on every change (node refs and relation fields: the whole
   * node's data). Returns an unsubscribe function.
   */
  on(cb: (value: Value | NodeData | undefined, change: GraphChange) => void): () => void {
    let stopped = false;
    const stops: (() => void)[] = [];
    const watchNode = (soul: string, key?: string) => {
      // A put of n fields notifies n times and a peer's answer may repeat what is known: read the node
      // once per burst (one read in flight, one more if notified meanwhile) and deliver only changes.
      let last: string | undefined;
      let reading = false;
      let again = false;
      const emit = async () => {
        if (reading) { again = true; return; }
        reading = true;
        try {
          do {
            again = false;
            const d = nodeData(await this.graph.read(soul, undefined, { source: 'local' }).catch(() => undefined));
            const seen = d === undefined ? undefined : JSON.stringify(d);
            if (!stopped && d !== undefined && seen !== last) {
              last = seen;
              cb(d, key === undefined ? { value: d, soul } : { value: d, soul, key });
            }
          } while (again && !stopped);
        } finally { reading = false; }
      };
      stops.push(this.graph.watch(soul, undefined, () => void emit()));
      void emit();
    };
    if (this.path.length === 1) watchNode(this.path[0]!);
    else {
      void (async () => {
        const parent = await new GraphRef(this.graph, this.path.slice(0, -1)).soul({ source: 'any' }).catch(() => undefined);
        if (parent === undefined || stopped) return;
        const field = this.path.at(-1)!;
        let inner: (() => void) | undefined;
        let linked: string | undefined;
        let lastField: FieldState | undefined;
        const onField = (f: FieldState | undefined) => {
          if (stopped || !f) return;
          if (lastField && lastField.state === f.state && JSON.stringify(lastField.value) === JSON.stringify(f.value)) return; // seen
          lastField = f;
          if (isRelation(f.value)) {
            if (linked === f.value['#']) return;
            inner?.();
            linked = f.value['#'];
            const before = stops.length;
            watchNode(linked, field);
            inner = stops[before];
          } else {
            inner?.(); inner = undefined; linked = undefined;
            cb(f.value, { value: f.value, soul: parent, field });
          }
        };
        stops.push(this.graph.watch(parent, field, (_s, _f, st) => onField(st)));
        onField(await this.graph.store.getField(parent, field).catch(() => undefined));
      })();
    }
    return () => { stopped = true; for (const s of stops) s(); };
  }

  /** The changes of `on` as an async iterator; ends when `signal` aborts or the graph closes. */
  subscribe(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<GraphChange> {
    return iterate((push) => this.on((_v, c) => push(c)), this.graph, opts.signal);
  }

  /** Add an item (object → a new node linked under its soul; relation → linked as is). Returns a ref to it. */
  async set(item: unknown, opts: PutOptions = {}): Promise<GraphRef> {
    const state = this.graph.state();
    const writes: FieldWrite[] = [];
    const soul = await this.#ensureSoul(state, opts, writes);
    let itemSoul: string;
    if (isRelation(item)) itemSoul = item['#'];
    else if (isPlainObject(item)) {
      itemSoul = this.graph.newSoul();
      await this.#flatten(item, itemSoul, state, writes);
    } else throw new PlexusError('NOT_OBJECT', 'set() takes an object or a relation {"#": soul}');
    writes.push({ soul, field: itemSoul, value: { '#': itemSoul }, state });
    await this.graph.write(writes, itemSoul, opts);
    return new GraphRef(this.graph, [itemSoul]);
  }

  /** The items of this node (the fields; relations resolved to node data). */
  map(): GraphMap {
    return new GraphMap(this);
  }
}

/** The items of a node, as `set()` builds them. */
export class GraphMap {
  constructor(readonly ref: GraphRef) {}

  /** Every item now: key → node data (relations) or value; deleted (null) items are left out. */
  async once(opts: OnceOptions = {}): Promise<Record<string, Value | NodeData>> {
    const soul = await this.ref.soul(opts);
    if (soul === undefined) return {};
    const r = await this.ref.graph.read(soul, undefined, opts);
    const out: Record<string, Value | NodeData> = {};
    if (!r) return out;
    await Promise.all([...r.fields].map(async ([k, f]) => {
      if (f.value === null) return;
      if (isRelation(f.value)) { const d = nodeData(await this.ref.graph.read(f.value['#'], undefined, opts)); if (d) out[k] = d; }
      else out[k] = f.value;
    }));
    return out;
  }

  /** Call `cb(item, key)` for each item now and whenever an item (or a linked item node) changes. */
  on(cb: (item: Value | NodeData | undefined, key: string) => void): () => void {
    let stopped = false;
    const stops: (() => void)[] = [];
    const itemStops = new Map<string, () => void>();
    // Each item change once: a field seen again (the local read and a peer's answer) is not a change.
    const delivered = new Map<string, string>();
    const deliver = (v: Value | NodeData | undefined, key: string) => {
      const seen = v === undefined ? 'undefined' : JSON.stringify(v);
      if (delivered.get(key) === seen) return;
      delivered.set(key, seen);
      cb(v, key);
    };
    void (async () => {
      const soul = await this.ref.soul({ source: 'any' }).catch(() => undefined);
      if (soul === undefined || stopped) return;
      const onField = (field: string, f: FieldState) => {
        if (stopped) return;
        itemStops.get(field)?.();
        itemStops.delete(field);
        if (isRelation(f.value)) {
          const r = new GraphRef(this.ref.graph, [f.value['#']]);
          itemStops.set(field, r.on((v) => deliver(v, field)));
        } else deliver(f.value, field);
      };
      stops.push(this.ref.graph.watch(soul, undefined, (_s, field, f) => onField(field, f)));
      const n = await this.ref.graph.store.get(soul).catch(() => undefined);
      if (n) for (const [field, f] of n) onField(field, f);
    })();
    return () => { stopped = true; for (const s of stops) s(); for (const s of itemStops.values()) s(); };
  }

  /** The item changes as an async iterator; ends on abort or close. */
  subscribe(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<GraphChange> {
    return iterate((push) => this.on((v, key) => push({ value: v, soul: '', key })), this.ref.graph, opts.signal);
  }
}

function nodeData(r: { fields: Map<string, FieldState> } | undefined): NodeData | undefined {
  if (!r || r.fields.size === 0) return undefined;
  const o: NodeData = {};
  for (const [k, f] of r.fields) {
    if (k === '__proto__') Object.defineProperty(o, k, { value: f.value, enumerable: true, writable: true, configurable: true });
    else o[k] = f.value;
  }
  return o;
}

function iterate(start: (push: (c: GraphChange) => void) => () => void, graph: Graph, signal?: AbortSignal): AsyncIterableIterator<GraphChange> {
  const queue: GraphChange[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const stop = start((c) => { queue.push(c); wake?.(); });
  const end = () => { if (ended) return; ended = true; stop(); offClose(); signal?.removeEventListener('abort', end); wake?.(); };
  const offClose = graph.onClose(end);
  if (signal?.aborted) end();
  signal?.addEventListener('abort', end, { once: true });
  const it: AsyncIterableIterator<GraphChange> = {
    async next() {
      while (!queue.length && !ended) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      if (queue.length) return { value: queue.shift()!, done: false };
      return { value: undefined, done: true };
    },
    async return() { end(); return { value: undefined, done: true }; },
    [Symbol.asyncIterator]() { return it; },
  };
  return it;
}

export type { Relation };
