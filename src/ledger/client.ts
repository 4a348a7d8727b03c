import { PlexusError, isErrorCode } from '../errors.js';
import { LEDGER_MAX_QUEUED_UPDATES, LEDGER_RECONNECT_MAX_DELAY_MS, LEDGER_RECONNECT_MIN_DELAY_MS, LEDGER_REQUEST_TIMEOUT_MS } from '../limits.js';
import { decodeStatus, decodeUpdate, goJson, isObj, transJson, jsonField } from './codec.js';
import type { Note, Status, Trans, TransInput, Update, Watch } from './event.js';
import { formatFrame, parseFrame } from './frame.js';
import type { PublishResult } from './ledger.js';
import { formatTime, ZERO_TIME, type Rev } from './time.js';

import type { WebSocketConstructor, WebSocketLike } from '../websocket.js';
export type { WebSocketLike };
/** A WebSocket constructor (the ledger's name for `WebSocketConstructor`). */
export type WebSocketCtor = WebSocketConstructor;

export interface HubClientOptions {
  /** WebSocket constructor; default globalThis.WebSocket (Node 20: pass `WebSocket` from 'ws'). */
  WebSocket?: WebSocketCtor;
  /** Write token (sent as ?token= so it works from a browser). */
  token?: string;
  /** Request timeout (ms), default LEDGER_REQUEST_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Reconnect with backoff after the link drops (default true). */
  reconnect?: boolean;
  /** Told when the link goes up (true) or down (false). */
  onLink?: (online: boolean) => void;
}

/** An async iterator of values with close(). */
class Feed<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private waiters: Array<(r: IteratorResult<T>) => void> = [];
  done = false;
  constructor(private readonly onClose: () => void) {}
  push(v: T): void {
    if (this.done) return;
    const w = this.waiters.shift();
    if (w) { w({ value: v, done: false }); return; }
    this.items.push(v);
    if (this.items.length > LEDGER_MAX_QUEUED_UPDATES) this.items.shift();
  }
  end(): void {
    if (this.done) return;
    this.done = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }
  next(): Promise<IteratorResult<T>> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve({ value: v, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((r) => this.waiters.push(r));
  }
  return(): Promise<IteratorResult<T>> { this.close(); return Promise.resolve({ value: undefined, done: true }); }
  close(): void { if (!this.done) { this.end(); this.onClose(); } }
  [Symbol.asyncIterator](): AsyncIterableIterator<T> { return this; }
}

/** A live subscription: async iterator of updates (the catch-up reply first, then pushes). */
export interface Subscription extends AsyncIterableIterator<Update> {
  readonly tops: readonly string[];
  /** Latest revision this subscription has seen. */
  readonly rev: Rev;
  close(): void;
}

/** A monitor: async iterator of notes about watched records. */
export interface Monitor extends AsyncIterableIterator<Note> {
  readonly id: number;
  close(): void;
}

interface SubState { feed: Feed<Update>; tops: Set<string>; rev: Rev }
interface MonState { feed: Feed<Note>; watch: Watch[]; id: number }

/** Result of an `evt.sat` request (satellites). */
export interface SatReply { update: Update; sat: Array<{ tid: string; rev?: Rev; err?: string; code?: string }> }

/**
 * A client of an evt hub (plexus `/evt` or a satellite). Browser-safe. Requests carry increasing
 * decimal tokens; replies `{"err":…}` reject with a PlexusError (the hub's `code` when it sent one).
 */
export class HubClient {
  private ws?: WebSocketLike;
  private seq = 0;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> }>();
  private readonly subs = new Set<SubState>();
  private readonly mons = new Map<number, MonState>();
  private closed = false;
  private delay = LEDGER_RECONNECT_MIN_DELAY_MS;
  private retry?: ReturnType<typeof setTimeout>;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  online = false;
  private readonly Ctor: WebSocketCtor;

  constructor(readonly url: string, private readonly opts: HubClientOptions = {}) {
    const C = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!C) throw new PlexusError('UNSUPPORTED', 'no WebSocket available: pass the `WebSocket` option (e.g. from the ws package)');
    this.Ctor = C;
    this.dial();
  }

  private dial(): void {
    if (this.closed) return;
    let url = this.url;
    if (this.opts.token) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(this.opts.token);
    let ws: WebSocketLike;
    try { ws = new this.Ctor(url); } catch (err) { this.failReady(err); this.schedule(); return; }
    this.ws = ws;
    ws.onopen = () => {
      this.online = true;
      this.delay = LEDGER_RECONNECT_MIN_DELAY_MS;
      this.opts.onLink?.(true);
      void this.restore();
      for (const w of this.readyWaiters.splice(0)) w.resolve();
    };
    ws.onmessage = (ev) => this.receive(typeof ev.data === 'string' ? ev.data : String(ev.data));
    ws.onerror = () => undefined;
    ws.onclose = () => {
      if (this.ws !== ws) return;
      const was = this.online;
      this.online = false;
      this.ws = undefined;
      for (const [tok, p] of this.pending) { clearTimeout(p.timer); p.reject(new PlexusError('UNAVAILABLE', 'hub connection lost')); this.pending.delete(tok); }
      if (was) this.opts.onLink?.(false);
      if (!was) this.failReady(new PlexusError('UNAVAILABLE', `cannot connect to ${this.url}`));
      if (this.opts.reconnect === false) {
        // no reconnect: iterators end instead of waiting forever
        for (const s of this.subs) s.feed.end();
        for (const m of this.mons.values()) m.feed.end();
      }
      this.schedule();
    };
  }

  private failReady(err: unknown): void {
    if (this.opts.reconnect === false) for (const w of this.readyWaiters.splice(0)) w.reject(err);
  }

  private schedule(): void {
    if (this.closed || this.opts.reconnect === false) return;
    const d = this.delay * (0.75 + Math.random() * 0.5);
    this.delay = Math.min(this.delay * 2, LEDGER_RECONNECT_MAX_DELAY_MS);
    this.retry = setTimeout(() => { this.retry = undefined; this.dial(); }, d);
  }

  /** Resolves once connected (rejects after timeoutMs). */
  ready(timeoutMs = this.opts.timeoutMs ?? LEDGER_REQUEST_TIMEOUT_MS): Promise<void> {
    if (this.online) return Promise.resolve();
    if (this.closed) return Promise.reject(new PlexusError('CLOSED', 'hub client closed'));
    return new Promise((resolve, reject) => {
      const w = { resolve: () => { clearTimeout(t); resolve(); }, reject: (e: unknown) => { clearTimeout(t); reject(e); } };
      const t = setTimeout(() => { this.readyWaiters = this.readyWaiters.filter((x) => x !== w); reject(new PlexusError('TIMEOUT', `no connection to ${this.url}`)); }, timeoutMs);
      this.readyWaiters.push(w);
    });
  }

  /** Re-establish subscriptions and monitors after a reconnect. */
  private async restore(): Promise<void> {
    for (const s of this.subs) {
      try { this.deliver(s, decodeUpdate(await this.request('evt.sub', { rev: formatTime(s.rev), tops: [...s.tops] }))); } catch { /* e.g. no new subscriptions */ }
    }
    for (const [old, m] of [...this.mons]) {
      try {
        const id = await this.request('evt.mon', { rev: formatTime(ZERO_TIME), watch: m.watch });
        this.mons.delete(old);
        m.id = id as number;
        this.mons.set(m.id, m);
      } catch { /* ignore */ }
    }
  }

  private receive(text: string): void {
    let f;
    try { f = parseFrame(text); } catch { return; }
    let body: unknown;
    try { body = f.body === undefined ? null : JSON.parse(f.body); } catch { return; }
    if (f.token) {
      const p = this.pending.get(f.token);
      if (!p) return;
      this.pending.delete(f.token);
      clearTimeout(p.timer);
      if (isObj(body) && typeof jsonField(body, 'err') === 'string') {
        const code = jsonField(body, 'code');
        p.reject(new PlexusError(isErrorCode(code) ? code : 'BAD_REQUEST', String(jsonField(body, 'err'))));
      } else p.resolve(isObj(body) ? jsonField(body, 'res') : undefined);
      return;
    }
    if (f.subject === 'evt.update' && isObj(body)) {
      let u: Update;
      try { u = decodeUpdate(body); } catch { return; }
      this.onUpdate?.(u);
      for (const s of this.subs) this.deliver(s, u);
      for (const n of u.note ?? []) this.mons.get(n.mon)?.feed.push(n);
    }
  }

  private deliver(s: SubState, u: Update): void {
    const evs = (u.evs ?? []).filter((e) => (s.tops.has(e.top) || s.tops.has('*')) && e.rev > ZERO_TIME);
    if (!evs.length && u.rev <= s.rev) return;
    if (u.rev > s.rev) s.rev = u.rev;
    if (!evs.length) return;
    s.feed.push(evs.length ? { rev: u.rev, evs } : { rev: u.rev });
  }

  /** Send a raw request; resolves with `res`, rejects with the hub's error. */
  request(subject: string, body?: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(new PlexusError('CLOSED', 'hub client closed'));
    const ws = this.ws;
    if (!ws || !this.online) return Promise.reject(new PlexusError('UNAVAILABLE', 'not connected'));
    const token = String(++this.seq);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(token); reject(new PlexusError('TIMEOUT', `${subject}: no reply`)); }, this.opts.timeoutMs ?? LEDGER_REQUEST_TIMEOUT_MS);
      this.pending.set(token, { resolve, reject, timer });
      try { ws.send(formatFrame(subject, token, body === undefined ? '' : goJson(body))); } catch (err) { clearTimeout(timer); this.pending.delete(token); reject(new PlexusError('UNAVAILABLE', String(err))); }
    });
  }

  /** Publish a transaction; resolves with its revision and events. */
  async publish(t: TransInput): Promise<PublishResult> {
    const body: Record<string, unknown> = transJson({ id: 0, base: t.base ?? ZERO_TIME, rev: ZERO_TIME, created: t.created ?? ZERO_TIME, arrived: ZERO_TIME, acts: t.acts, ...(t.usr ? { usr: t.usr } : {}), ...(t.extra ? { extra: t.extra } : {}), ...(t.tid ? { tid: t.tid } : {}) });
    delete body.id; delete body.rev; delete body.arrived;
    const u = decodeUpdate(await this.request('evt.pub', body));
    return { rev: u.rev, evs: u.evs ?? [] };
  }

  /** Subscribe to topics: first the events after `since` (default: all), then live pushes. */
  subscribe(tops: readonly string[], opts: { since?: Rev } = {}): Subscription {
    const s: SubState = { tops: new Set(tops), rev: opts.since ?? ZERO_TIME, feed: undefined as unknown as Feed<Update> };
    s.feed = new Feed<Update>(() => {
      this.subs.delete(s);
      const still = new Set([...this.subs].flatMap((x) => [...x.tops]));
      const drop = [...s.tops].filter((t) => !still.has(t));
      if (drop.length && this.online) this.request('evt.unsub', { tops: drop }).catch(() => undefined);
    });
    this.subs.add(s);
    if (this.online) {
      const since = s.rev;
      this.request('evt.sub', { rev: formatTime(since), tops: [...tops] }).then((res) => this.deliver(s, decodeUpdate(res)), (err) => {
        if (!(err instanceof PlexusError && /no new subscriptions/.test(err.message))) { s.feed.end(); this.subs.delete(s); }
      });
    }
    const feed = s.feed as unknown as Subscription;
    Object.defineProperty(feed, 'tops', { get: () => [...s.tops] });
    Object.defineProperty(feed, 'rev', { get: () => s.rev });
    return feed;
  }

  /** Watch records (keys, or "new" for every new record of the topic); notes arrive as pushes. */
  async monitor(watch: Watch[]): Promise<Monitor> {
    const id = (await this.request('evt.mon', { rev: formatTime(ZERO_TIME), watch: watch.map((w) => ({ top: w.top, keys: w.keys })) })) as number;
    const m: MonState = { id, watch, feed: undefined as unknown as Feed<Note> };
    m.feed = new Feed<Note>(() => { this.mons.delete(m.id); if (this.online) this.request('evt.unmon', { mon: m.id }).catch(() => undefined); });
    this.mons.set(id, m);
    const feed = m.feed as unknown as Monitor;
    Object.defineProperty(feed, 'id', { get: () => m.id });
    return feed;
  }

  /** The hub's (or satellite's) status. */
  async status(): Promise<Status> {
    return decodeStatus(await this.request('evt.stat'));
  }

  /** Satellite hello: publish pending local transactions, subscribe to tops, get everything after rev. */
  async sat(rev: Rev, trans: Trans[], tops: readonly string[]): Promise<SatReply> {
    const res = await this.request('evt.sat', { rev: formatTime(rev), trans: trans.map(transJson), tops });
    const u = decodeUpdate(res);
    const raw = isObj(res) && Array.isArray(jsonField(res, 'sat')) ? (jsonField(res, 'sat') as Array<Record<string, unknown>>) : [];
    const sat = raw.map((r) => {
      const o: SatReply['sat'][number] = { tid: String(r.tid) };
      if (typeof r.rev === 'string') o.rev = decodeUpdate({ rev: r.rev }).rev;
      if (typeof r.err === 'string') o.err = r.err;
      if (typeof r.code === 'string') o.code = r.code;
      return o;
    });
    return { update: u, sat };
  }

  /** Subscribe without a feed (satellites keep their own). */
  onUpdate?: (u: Update) => void;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    for (const s of this.subs) s.feed.end();
    for (const m of this.mons.values()) m.feed.end();
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new PlexusError('CLOSED', 'hub client closed')); }
    this.pending.clear();
    for (const w of this.readyWaiters.splice(0)) w.reject(new PlexusError('CLOSED', 'hub client closed'));
    this.ws?.close();
    this.ws = undefined;
    this.online = false;
  }
}

/** Connect to a hub (`ws://host:port/evt`) and wait until the link is up. */
export async function connectHub(url: string, opts: HubClientOptions = {}): Promise<HubClient> {
  const c = new HubClient(url, opts);
  try { await c.ready(); } catch (err) { c.close(); throw err; }
  return c;
}
