import { PlexusError, toPlexusError } from '../errors.js';
import {
  GRAPH_DEDUP_MAX_IDS, GRAPH_DEDUP_WINDOW_MS, GRAPH_HEARTBEAT_MS, GRAPH_MAX_PENDING_PER_PEER,
  GRAPH_MAX_REPLY_FRAME_BYTES, GRAPH_MAX_SUBSCRIPTIONS_PER_PEER, GRAPH_ASK_RECENT_SOULS, GRAPH_SUBSCRIPTION_BYTES,
} from '../limits.js';
import { AskAround } from './ask-around.js';
import { Dedup } from './dedup.js';
import { createStateClock, isUpdate, type ConflictResolution } from './ham.js';
import type { FieldRef, GraphStore, StoredFieldText } from './store.js';
import { selectFields, selectSouls } from './lex.js';
import { needsSea, SeaVerifier, type SeaFieldInfo } from './sea.js';
import { setKey, toGraphData, toGraphNode, type FieldState, type FieldWrite } from './value.js';
import { messageId, parseFrame, type GetRequest, type WireMessage } from './wire.js';

/** A transport connection as the relay sees it (a WebSocket, or anything with send/close). */
export interface RelayConnection {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

export interface RelayOptions {
  store: GraphStore;
  /** Our peer id (random by default). */
  pid?: string;
  /** Heartbeat interval (ms; 0 = off). Default GRAPH_HEARTBEAT_MS. */
  heartbeatMs?: number;
  /** State clock (default: a gun-like clock over Date.now). */
  clock?: () => number;
  /** Checks SEA user space, aliases, certificates and `#` souls before a put is stored (default: a new SeaVerifier). */
  sea?: SeaVerifier;
  log?(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
  /** A memory budget shared with the rest of the server: each subscription reserves GRAPH_SUBSCRIPTION_BYTES (plus its key) from its peer's share. */
  budget?: RelayBudget;
}

/** What the relay needs of a memory budget (the server's MemoryBudget fits). */
export interface RelayBudget {
  /** `long`: a holding that lasts (a subscription), capped to a part of the total. */
  reserve(owner: object, bytes: number, what?: string, share?: number, long?: boolean): boolean;
  releaseAll(owner: object): void;
}

/** Counters a relay exposes on /healthz. */
export interface RelayStats {
  peers: number;
  messages: number;
  puts: number;
  gets: number;
  acks: number;
  forwards: number;
  errors: number;
  dropped: number;
  duplicates: number;
  deferred: number;
  /** SEA: fields of accepted puts checked, puts refused (FORBIDDEN). */
  seaVerified: number;
  seaRefused: number;
  /** Message ids remembered for de-duplication now (at most GRAPH_DEDUP_MAX_IDS). */
  dedupIds: number;
}

/** One connected peer. Feed it frames with `receive`, tell it when the transport closed with `closed`. */
export interface RelayPeer {
  receive(text: string): void;
  closed(): void;
  /** Writes from this peer are refused with UNAUTHORIZED (token auth). */
  readOnly: boolean;
}

/** How a connection takes part: `mesh` marks another relay (plexus or gun), which gets every change and is asked on gets. */
export interface ConnectOptions {
  /** Refuse this connection's writes; a PlexusError is the answer they get (FORBIDDEN for a read-only token). */
  readOnly?: boolean | PlexusError;
  mesh?: boolean;
}

interface Peer extends RelayPeer {
  id: number;
  /** What a write of a read-only peer answers (FORBIDDEN for a valid read-only token). */
  writeDenied?: PlexusError;
  conn: RelayConnection;
  pid?: string;
  pending: number;
  /** Its subscription keys (each once; whether it holds one is asked of the relay's index). */
  subs: string[];
  /** Replies queued for the next flush: message objects, or messages already serialised (acks). */
  out: (Record<string, unknown> | string)[];
  open: boolean;
  /** Another relay: receives every accepted change and is asked on clients' gets. */
  mesh: boolean;
  /** It sent `dam: "?"` (a gun peer): only such connections are asked for data (get forwarding). */
  greeted: boolean;
  /** When the connection was attached (ms), for asking a fresh connection back for what it holds. */
  since: number;
  /** Souls this connection was asked for (bounded by GRAPH_ASK_BACK_MAX_SOULS). */
  asked: Set<string>;
  /** Souls this connection wrote (bounded by GRAPH_ASK_BACK_MAX_SOULS): it may hold newer data of them. */
  wrote: Set<string>;
}

type Work = { kind: 'put'; peer: Peer; msg: WireMessage; writes: FieldWrite[]; ack: boolean; sea?: Promise<PlexusError | undefined> } | { kind: 'get'; peer: Peer; msg: WireMessage; get: GetRequest };

const subKey = (soul: string, field?: string) => (field === undefined ? `${soul.length}:${soul}` : `${soul.length}:${soul}${field}`);

/** Whether `peer` is among a subscription's peers (a lone one kept as itself, several as a Set). */
const among = (s: Peer | Set<Peer> | undefined, peer: Peer) => s === peer || (s instanceof Set && s.has(peer));

/** Serialised length of a reply holding `fields` of one node (estimate, exact enough for chunking). */
function chunkFields(soul: string, fields: [string, FieldState][], maxBytes: number): [string, FieldState][][] {
  return chunkBy(soul, fields, (e) => fieldBytes(e[0], JSON.stringify(e[1].value)), maxBytes);
}

/** The estimated wire bytes of a reply's node around its fields, and of one field (its value's JSON text given). */
const nodeBytes = (soul: string) => soul.length * 2 + 80;
const fieldBytes = (field: string, json: string) => field.length * 2 + json.length + 30;

/** Fields in order, cut into groups whose estimated reply (see nodeBytes, fieldBytes) stays within maxBytes. */
function chunkBy<T>(soul: string, fields: readonly T[], bytesOf: (e: T) => number, maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let cur: T[] = [], size = nodeBytes(soul);
  for (const e of fields) {
    const n = bytesOf(e);
    if (cur.length && size + n > maxBytes) { chunks.push(cur); cur = []; size = nodeBytes(soul); }
    cur.push(e); size += n;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

/** chunkFields over fields read as text (the same estimate: a value's JSON text is what JSON.stringify gave). */
function chunkText(soul: string, fields: readonly StoredFieldText[], maxBytes: number): (readonly StoredFieldText[])[] {
  let total = nodeBytes(soul);
  for (const e of fields) total += fieldBytes(e[0], e[1]);
  if (total <= maxBytes || fields.length === 1) return [fields]; // the common case: one reply
  return chunkBy(soul, fields, (e) => fieldBytes(e[0], e[1]), maxBytes);
}

/** The wire node `{"_":{"#":soul,">":{states}},fields}` as text; `key` is the JSON-quoted soul (what toGraphNode + JSON.stringify give). */
function nodeText(key: string, fields: readonly StoredFieldText[]): string {
  let states = '', values = '', last = NaN, lastText = '';
  for (const [f, json, state] of fields) {
    const k = JSON.stringify(f);
    // a finite number prints as JSON.stringify prints it; the fields of one put share their state, printed once
    if (state !== last) { last = state; lastText = String(state); }
    states += (states ? ',' : '') + k + ':' + lastText;
    values += ',' + k + ':' + json;
  }
  return '{"_":{"#":' + key + ',">":{' + states + '}}' + values + '}';
}

/** `[m1,m2,...]` built by one join, so the frame is one flat string (not a rope the socket write flattens again). */
function frameText(parts: string[]): string {
  parts[0] = '[' + parts[0]!;
  parts[parts.length - 1] += ']';
  return parts.join(',');
}

/**
 * A gun-compatible relay over any GraphStore: dedups by `#`, answers every get from the store
 * (data or not-found, split into ≤ 32 KB replies), acks each put once it is durable (also when HAM
 * changed nothing, Q21; deferred writes are persisted and acked), and forwards accepted changes to
 * every other peer that asked for (get) or wrote (put, Q1) that soul or field.
 */
export class GraphRelay {
  readonly pid: string;
  readonly #store: GraphStore;
  readonly #clock: () => number;
  readonly #log: NonNullable<RelayOptions['log']>;
  readonly sea: SeaVerifier;
  readonly #budget: RelayBudget | undefined;
  readonly #peers = new Set<Peer>();
  readonly #mesh = new Set<Peer>();
  #recent: readonly string[] = [];
  readonly #ask: AskAround<Peer>;
  /**
   * subKey → the subscribed peers: a lone subscriber as itself (the common case: every written field
   * subscribes its writer, so a busy relay holds one entry per field written), several as a Set.
   */
  readonly #subs = new Map<string, Peer | Set<Peer>>();
  readonly #seen = new Dedup(GRAPH_DEDUP_WINDOW_MS, GRAPH_DEDUP_MAX_IDS);
  #queue: Work[] = [];
  #flushing: Promise<void> | undefined;
  #scheduled = false;
  /** Peers with replies queued by commit completions, flushed once the completions of one commit ran. */
  #dirty = new Set<Peer>();
  #dirtyQueued = false;
  #nextPeer = 1;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #dueTimer: ReturnType<typeof setTimeout> | undefined;
  #dueAt = Infinity;
  #unlisten: (() => void) | undefined;
  #closed = false;
  readonly #stats: Omit<RelayStats, 'peers' | 'seaVerified' | 'seaRefused' | 'dedupIds'> = { messages: 0, puts: 0, gets: 0, acks: 0, forwards: 0, errors: 0, dropped: 0, duplicates: 0, deferred: 0 };

  constructor(opts: RelayOptions) {
    this.#store = opts.store;
    this.pid = opts.pid ?? messageId();
    this.#clock = opts.clock ?? createStateClock();
    this.#log = opts.log ?? (() => {});
    this.sea = opts.sea ?? new SeaVerifier();
    this.#ask = new AskAround<Peer>({
      remember: (id) => void this.#remember(id),
      send: (p, msg) => this.#queueOut(p, msg),
      subscribed: (p, soul) => this.#holds(p, subKey(soul)),
      mesh: this.#mesh,
      peers: this.#peers,
      subscribedSouls: () => this.#subscribedSouls(),
      recentSouls: () => this.#recent,
    });
    this.#store.recentSouls?.(GRAPH_ASK_RECENT_SOULS).then((souls) => { this.#recent = souls; }, () => {});
    this.#budget = opts.budget;
    const hb = opts.heartbeatMs ?? GRAPH_HEARTBEAT_MS;
    if (hb > 0) {
      this.#heartbeat = setInterval(() => { for (const p of this.#peers) this.#raw(p, '[]'); }, hb);
      this.#heartbeat.unref?.();
    }
    this.#unlisten = this.#store.onExternalChange?.((c) => void this.#external(c));
    void this.#scheduleDue();
  }

  get stats(): RelayStats {
    return { peers: this.#peers.size, ...this.#stats, seaVerified: this.sea.stats.verified, seaRefused: this.sea.stats.refused, dedupIds: this.#seen.size };
  }

  /** Attach a connection. The relay greets it with `dam:"?"` and its pid. */
  connect(conn: RelayConnection, opts: ConnectOptions = {}): RelayPeer {
    if (this.#closed) throw new PlexusError('CLOSED', 'relay is closed');
    const peer: Peer = {
      id: this.#nextPeer++, conn, pending: 0, subs: [], out: [], open: true, readOnly: opts.readOnly !== undefined && opts.readOnly !== false,
      ...(opts.readOnly instanceof PlexusError ? { writeDenied: opts.readOnly } : {}),
      mesh: opts.mesh ?? false, greeted: false, since: Date.now(), asked: new Set(), wrote: new Set(),
      receive: (text) => this.#receive(peer, text),
      closed: () => this.#drop(peer),
    };
    this.#peers.add(peer);
    if (peer.mesh) this.#mesh.add(peer);
    const greet = { '#': messageId(), dam: '?', pid: this.pid };
    this.#remember(greet['#']);
    this.#raw(peer, JSON.stringify(greet));
    return peer;
  }

  #raw(peer: Peer, text: string): void {
    if (!peer.open) return;
    try {
      peer.conn.send(text);
    } catch (err) {
      this.#log('debug', 'graph: send failed', { err: String(err) });
      this.#drop(peer);
    }
  }

  #queueOut(peer: Peer, msg: Record<string, unknown> | string): void {
    peer.out.push(msg);
  }

  #flushOut(peer: Peer): void {
    if (peer.out.length === 0) return;
    const msgs = peer.out;
    peer.out = [];
    if (msgs.length === 1) return this.#raw(peer, typeof msgs[0] === 'string' ? msgs[0] : JSON.stringify(msgs[0]));
    let parts: string[] = [], size = 2;
    for (const m of msgs) {
      const s = typeof m === 'string' ? m : JSON.stringify(m);
      if (parts.length && size + s.length + 1 > GRAPH_MAX_REPLY_FRAME_BYTES) { this.#raw(peer, frameText(parts)); parts = []; size = 2; }
      parts.push(s); size += s.length + 1;
    }
    if (parts.length) this.#raw(peer, parts.length === 1 ? parts[0]! : frameText(parts));
  }

  #drop(peer: Peer): void {
    if (!this.#peers.delete(peer)) return;
    this.#mesh.delete(peer);
    peer.open = false;
    this.#ask.closed(peer);
    for (const k of peer.subs) {
      const s = this.#subs.get(k);
      if (s === peer) this.#subs.delete(k);
      else if (s instanceof Set && s.delete(peer) && s.size < 2) {
        if (s.size === 0) this.#subs.delete(k); else this.#subs.set(k, s.values().next().value!);
      }
    }
    peer.subs = [];
    this.#budget?.releaseAll(peer);
  }

  /** Dedup: true if the id was seen within the window (and refreshes it). */
  #remember(id: string): boolean {
    return this.#seen.remember(id);
  }

  /** Whether `peer` holds the subscription `k`. */
  #holds(peer: Peer, k: string): boolean {
    return among(this.#subs.get(k), peer);
  }

  /** Subscribe `peer` (`k`: the subscription key, when the caller has it already); false when its limit or the memory budget refused it. */
  #subscribe(peer: Peer, soul: string, field?: string, k = subKey(soul, field)): boolean {
    const s = this.#subs.get(k);
    if (among(s, peer)) return true;
    if (peer.subs.length >= GRAPH_MAX_SUBSCRIPTIONS_PER_PEER) return false;
    if (this.#budget && !this.#budget.reserve(peer, GRAPH_SUBSCRIPTION_BYTES + 2 * k.length, 'graph subscriptions', undefined, true)) return false;
    peer.subs.push(k);
    if (s === undefined) this.#subs.set(k, peer);
    else if (s instanceof Set) s.add(peer);
    else this.#subs.set(k, new Set([s, peer]));
    return true;
  }

  #error(peer: Peer, id: string | undefined, err: PlexusError): void {
    this.#stats.errors++;
    this.#queueOut(peer, id === undefined ? { '#': messageId(), dam: '!', err: err.message } : { '#': messageId(), '@': id, err: err.message, code: err.code });
  }

  #receive(peer: Peer, text: string): void {
    if (this.#closed || !peer.open) return;
    const frame = parseFrame(text, { now: Date.now() });
    if (frame.dropped) {
      this.#stats.dropped += frame.dropped;
      this.#error(peer, undefined, new PlexusError('TOO_LARGE', `frame has too many messages: ${frame.dropped} dropped`));
    }
    for (const item of frame.items) {
      this.#stats.messages++;
      if (item.error) { this.#error(peer, item.id, item.error); continue; }
      const msg = item.msg;
      if (this.#remember(msg.id)) { this.#stats.duplicates++; continue; }
      if (msg.via) this.#ask.heard(peer, msg.via);
      if (msg.dam !== undefined) { this.#dam(peer, msg); continue; }
      if (msg.get) {
        if (!this.#admit(peer, msg)) continue;
        this.#stats.gets++;
        this.#queue.push({ kind: 'get', peer, msg, get: msg.get });
      } else if (msg.put) {
        if (peer.readOnly) { this.#error(peer, msg.id, peer.writeDenied ?? new PlexusError('UNAUTHORIZED', 'writes need a valid token (?token=...)')); continue; }
        if (!this.#admit(peer, msg)) continue;
        this.#stats.puts++;
        // a put that answers a get (has @) is applied but not acked; SEA checks start now, #flush awaits them
        const sea = needsSea(msg.put) ? this.sea.checkPut(msg.put) : undefined;
        this.#queue.push({ kind: 'put', peer, msg, writes: msg.put, ack: msg.ack === undefined, sea });
      }
      // plain acks (`@` + ok/err) from peers are for messages we forwarded: nothing to do
    }
    this.#flushOut(peer);
    this.#schedule();
  }

  #admit(peer: Peer, msg: WireMessage): boolean {
    if (peer.pending >= GRAPH_MAX_PENDING_PER_PEER) {
      this.#stats.dropped++;
      this.#error(peer, msg.id, new PlexusError('RATE_LIMITED', `more than ${GRAPH_MAX_PENDING_PER_PEER} messages pending on this connection`));
      return false;
    }
    peer.pending++;
    return true;
  }

  /** Souls some connection subscribed to as a whole (from the subscription keys `${length}:${soul}`). */
  *#subscribedSouls(): Iterable<string> {
    for (const k of this.#subs.keys()) {
      const i = k.indexOf(':'), n = Number(k.slice(0, i));
      if (k.length === i + 1 + n) yield k.slice(i + 1);
    }
  }

  #dam(peer: Peer, msg: WireMessage): void {
    if (msg.dam === '?') {
      if (msg.pid === this.pid) { peer.conn.close(1000, 'dialed itself'); this.#drop(peer); return; }
      if (msg.pid) peer.pid = msg.pid;
      peer.greeted = true;
      this.#ask.hello(peer);
      if (msg.ack === undefined) this.#queueOut(peer, { '#': messageId(), '@': msg.id, dam: '?', pid: this.pid });
    } else if (msg.dam === '!') {
      this.#log('debug', 'graph: peer reported an error', { err: msg.err });
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#flushing) this.#flushing = this.#flush().finally(() => { this.#flushing = undefined; this.#schedule(); });
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length) {
      const work = this.#queue;
      this.#queue = [];
      const touched = new Set<Peer>();
      const vetting = work.filter((w): w is Extract<Work, { kind: 'put' }> => w.kind === 'put');
      let gets = work.filter((w): w is Extract<Work, { kind: 'get' }> => w.kind === 'get');
      if (vetting.length && gets.length) {
        // reads first: gets are answered (and sent) before this tick's puts are checked and applied, except
        // those of a soul one of these puts writes (and soul queries): they wait and see the puts, as before
        const written = new Set<string>();
        for (const p of vetting) for (const w of p.writes) written.add(w.soul);
        const early: typeof gets = [], late: typeof gets = [];
        for (const g of gets) (g.get.souls || written.has(g.get.soul) ? late : early).push(g);
        await this.#answerGets(early, touched);
        for (const p of touched) this.#flushOut(p);
        touched.clear();
        gets = late;
      }
      const puts = await this.#vet(vetting, touched);
      if (puts.length) await this.#applyPuts(puts, touched);
      await this.#answerGets(gets, touched);
      for (const w of work) w.peer.pending--;
      for (const p of touched) this.#flushOut(p);
    }
  }

  /** Puts whose SEA checks passed; a refused put is answered FORBIDDEN and nothing of it is stored. */
  async #vet(puts: Extract<Work, { kind: 'put' }>[], touched: Set<Peer>): Promise<Extract<Work, { kind: 'put' }>[]> {
    const ok: Extract<Work, { kind: 'put' }>[] = [];
    for (const p of puts) {
      const refused = p.sea && (await p.sea);
      if (!refused) { ok.push(p); continue; }
      this.#log('debug', 'graph: SEA refused a put', { err: refused.message });
      this.#error(p.peer, p.msg.id, refused);
      touched.add(p.peer);
    }
    return ok;
  }

  async #applyPuts(puts: Extract<Work, { kind: 'put' }>[], touched: Set<Peer>): Promise<void> {
    const all: FieldWrite[] = [];
    const source: Peer[] = [];
    for (const p of puts) for (const w of p.writes) { all.push(w); source.push(p.peer); }
    const failed = (err: unknown, t: Set<Peer>) => {
      const e = toPlexusError(err); // a full or read-only disk answers STORAGE_FULL / READ_ONLY, without driver text
      this.#log('error', 'graph: store put failed', { err: String(err) });
      for (const p of puts) { this.#error(p.peer, p.msg.id, e); t.add(p.peer); }
    };
    let resolutions;
    try {
      // a store that commits off the event loop takes the batch at once (reads see it): acks and forwards
      // wait for its commit to be durable and resolved, the gets queued behind these puts do not
      const accepted = this.#store.accept?.(all, this.#clock());
      if (accepted) {
        // a put stays pending on its connection (GRAPH_MAX_PENDING_PER_PEER) until its commit is durable
        for (const p of puts) p.peer.pending++;
        const later = (fn: (t: Set<Peer>) => Promise<void> | void) => async () => {
          for (const p of puts) p.peer.pending--;
          const t = new Set<Peer>();
          await fn(t);
          this.#flushSoon(t);
        };
        void accepted.durable.then((resolutions) => later((t) => this.#afterPuts(puts, all, source, resolutions, t))(), (err: unknown) => later((t) => failed(err, t))());
        return;
      }
      resolutions = await this.#store.put(all, this.#clock());
    } catch (err) {
      failed(err, touched);
      return;
    }
    await this.#afterPuts(puts, all, source, resolutions, touched);
  }

  /**
   * Replies queued by the completion of a commit go out on the next tick: a group commit resolves
   * several batches at once, and each peer gets one frame for all of them (not one per batch).
   */
  #flushSoon(peers: Set<Peer>): void {
    for (const p of peers) this.#dirty.add(p);
    if (this.#dirtyQueued || this.#dirty.size === 0) return;
    this.#dirtyQueued = true;
    process.nextTick(() => {
      this.#dirtyQueued = false;
      const dirty = this.#dirty;
      this.#dirty = new Set();
      for (const p of dirty) this.#flushOut(p);
    });
  }

  /** Acks, subscriptions and forwards of a stored batch of puts. */
  async #afterPuts(puts: Extract<Work, { kind: 'put' }>[], all: FieldWrite[], source: Peer[], resolutions: ConflictResolution[], touched: Set<Peer>): Promise<void> {
    for (const p of puts) {
      touched.add(p.peer);
      // the ack is built as text: messageId() is alphanumeric, the id is JSON-quoted
      if (p.ack) { this.#stats.acks++; this.#queueOut(p.peer, `{"#":"${messageId()}","@":${JSON.stringify(p.msg.id)},"ok":true}`); }
    }
    // writers become subscribers of what they wrote (gun Q1); each field's key is built once, here
    const keys: string[] = new Array<string>(all.length);
    let i = 0;
    for (const p of puts) {
      let soul: string | undefined;
      for (const w of p.writes) {
        const k = (keys[i++] = subKey(w.soul, w.field));
        this.#subscribe(p.peer, w.soul, w.field, k);
        if (p.ack && w.soul !== soul) this.#ask.wrote(p.peer, (soul = w.soul)); // a real write, not an answer to a get
      }
    }
    const changed = new Map<string, { w: FieldWrite; from: Peer | undefined; k: string }>();
    let deferred = false, lostAny = false;
    for (let j = 0; j < resolutions.length; j++) {
      const r = resolutions[j]!;
      if (isUpdate(r)) changed.set(keys[j]!, { w: all[j]!, from: source[j], k: keys[j]! });
      else if (r === 'too-future-deferred') { deferred = true; this.#stats.deferred++; }
      else if (r === 'older-historical' || r === 'same-keep') lostAny = true;
    }
    this.#forward([...changed.values()], touched);
    if (deferred) void this.#scheduleDue();
    if (!lostAny) return;
    // a writer whose write lost (older state, or a tie it lost) learns the winning value, so it converges
    const lost = new Map<Peer, Map<string, FieldRef>>();
    resolutions.forEach((r, i) => {
      if (r !== 'older-historical' && r !== 'same-keep') return;
      const w = all[i]!, p = source[i]!, k = keys[i]!;
      if (changed.has(k) && changed.get(k)!.from === p) return;
      let m = lost.get(p);
      if (!m) lost.set(p, (m = new Map()));
      m.set(k, { soul: w.soul, field: w.field });
    });
    for (const [p, refs] of lost) {
      const cur: FieldWrite[] = [];
      for (const { soul, field } of refs.values()) {
        const f = await this.#store.getField(soul, field).catch(() => undefined);
        if (f) cur.push({ soul, field, value: f.value, state: f.state });
      }
      const written = new Map(puts.filter((x) => x.peer === p).flatMap((x) => x.writes.map((w) => [subKey(w.soul, w.field), w] as const)));
      const differ = cur.filter((c) => { const w = written.get(subKey(c.soul, c.field)); return !w || w.state !== c.state || JSON.stringify(w.value) !== JSON.stringify(c.value); });
      if (!differ.length) continue;
      const frames = this.#putFrames(differ);
      for (const text of frames) this.#queueOut(p, text);
      this.#stats.forwards += frames.length;
      touched.add(p);
    }
  }

  /** Send changed fields to every subscribed peer except the one they came from (`k`: the field's subscription key, when known). */
  #forward(changes: { w: FieldWrite; from: Peer | undefined; k?: string }[], touched: Set<Peer>): void {
    if (changes.length === 0 || (this.#subs.size === 0 && this.#mesh.size === 0)) return;
    const per = new Map<Peer, FieldWrite[]>();
    if (this.#mesh.size) for (const { w, from } of changes) for (const p of this.#mesh) {
      if (p === from) continue;
      let l = per.get(p);
      if (!l) per.set(p, (l = []));
      l.push(w);
    }
    const one = (p: Peer, w: FieldWrite) => {
      let l = per.get(p);
      if (!l) per.set(p, (l = []));
      if (!l.includes(w)) l.push(w);
    };
    const add = (s: Peer | Set<Peer>, w: FieldWrite, from: Peer | undefined) => {
      if (!(s instanceof Set)) { if (s !== from) one(s, w); return; }
      for (const p of s) if (p !== from) one(p, w);
    };
    // the fields of one node come one after another: its whole-node subscribers are looked up once
    let soul: string | undefined, whole: Peer | Set<Peer> | undefined;
    for (const { w, from, k } of changes) {
      if (w.soul !== soul) whole = this.#subs.get(subKey((soul = w.soul)));
      if (whole) add(whole, w, from);
      const s = this.#subs.get(k ?? subKey(w.soul, w.field));
      if (s) add(s, w, from);
    }
    if (per.size === 0) return; // only their writers hold these fields (the common case of a busy relay)
    // Peers that get the same writes (all subscribers of one soul, the common case) share one frame:
    // serialized once, under one message id, as gun's own relay sends one message to all its peers.
    const index = new Map(changes.map(({ w }, i) => [w, i]));
    const frames = new Map<string, string[]>();
    for (const [p, ws] of per) {
      const key = ws.map((w) => index.get(w)).join(',');
      let f = frames.get(key);
      if (!f) frames.set(key, (f = this.#putFrames(ws)));
      for (const text of f) this.#queueOut(p, text);
      this.#stats.forwards += f.length;
      touched.add(p);
    }
  }

  /** `ws` as put messages of at most GRAPH_MAX_REPLY_FRAME_BYTES each, serialized, their ids remembered. */
  #putFrames(ws: FieldWrite[]): string[] {
    const out: string[] = [];
    let batch: FieldWrite[] = [], size = 0;
    const emit = () => {
      if (!batch.length) return;
      const id = messageId();
      this.#remember(id);
      out.push(JSON.stringify({ '#': id, put: toGraphData(batch) }));
      batch = []; size = 0;
    };
    for (const w of ws) {
      const n = w.soul.length + w.field.length * 2 + JSON.stringify(w.value).length + 60;
      if (batch.length && size + n > GRAPH_MAX_REPLY_FRAME_BYTES) emit();
      batch.push(w); size += n;
    }
    emit();
    return out;
  }

  /**
   * Answer the gets of a batch. Whole-node and field gets are answered at once from the store's text when
   * it has `readText` (one read for all of them, values never parsed); lexical gets, soul queries and
   * stores without it are answered one by one after them.
   */
  async #answerGets(work: Work[], touched: Set<Peer>): Promise<void> {
    let plain: Extract<Work, { kind: 'get' }>[] | undefined, rest: Extract<Work, { kind: 'get' }>[] = [];
    for (const w of work) {
      if (w.kind !== 'get') continue;
      if (this.#store.readText && !w.get.souls && !w.get.lex) (plain ??= []).push(w);
      else rest.push(w);
    }
    if (plain) this.#answerText(plain, touched);
    for (const w of rest) {
      touched.add(w.peer);
      try {
        // ask around before answering: a client asked back for a soul it does not hold yet (a fresh
        // reader) stays silent, while one that holds it (a reconnecting client, maybe with offline
        // edits) answers; asked after our answer, every reader would echo the answer back
        if (!w.get.souls) this.#ask.around(w.peer, w.get.soul, w.get.field, touched);
        await this.#answer(w.peer, w.msg, w.get);
      } catch (err) {
        this.#error(w.peer, w.msg.id, err instanceof PlexusError ? err : new PlexusError('INTERNAL', String(err)));
      }
    }
  }

  /** Whole-node and field gets answered from `readText`, in order, each asked around first (see #answerGets). */
  #answerText(gets: Extract<Work, { kind: 'get' }>[], touched: Set<Peer>): void {
    let found: (StoredFieldText[] | undefined)[] | undefined, failed: PlexusError | undefined;
    try {
      found = this.#store.readText!(gets.map((w) => w.get));
    } catch (err) {
      failed = err instanceof PlexusError ? err : new PlexusError('INTERNAL', String(err));
    }
    for (let i = 0; i < gets.length; i++) {
      const { peer, msg, get } = gets[i]!;
      touched.add(peer);
      // asked around before the answer is queued (see #answerGets)
      this.#ask.around(peer, get.soul, get.field, touched);
      if (failed) { this.#error(peer, msg.id, failed); continue; }
      if (!this.#subscribeGet(peer, msg, get)) continue;
      const fields = found![i];
      if (!fields) { this.#queueOut(peer, `{"#":"${messageId()}","@":${JSON.stringify(msg.id)}}`); continue; }
      const at = JSON.stringify(msg.id), key = JSON.stringify(get.soul);
      for (const chunk of chunkText(get.soul, fields, GRAPH_MAX_REPLY_FRAME_BYTES - 200)) {
        this.#queueOut(peer, `{"#":"${messageId()}","@":${at},"put":{${key}:${nodeText(key, chunk)}}}`);
      }
    }
  }

  /**
   * Subscribe the getter to what it asked for; false (the get answered RATE_LIMITED and counted) when the
   * memory budget refused it. Past GRAPH_MAX_SUBSCRIPTIONS_PER_PEER the get is still answered, unsubscribed.
   */
  #subscribeGet(peer: Peer, msg: WireMessage, get: GetRequest): boolean {
    if (this.#subscribe(peer, get.soul, get.field) || !this.#budget || peer.subs.length >= GRAPH_MAX_SUBSCRIPTIONS_PER_PEER) return true;
    this.#stats.dropped++;
    this.#error(peer, msg.id, new PlexusError('RATE_LIMITED', 'server memory budget for subscriptions is used up: get refused'));
    return false;
  }

  async #answer(peer: Peer, msg: WireMessage, get: GetRequest): Promise<void> {
    const notFound = () => this.#queueOut(peer, { '#': messageId(), '@': msg.id });
    if (get.souls) {
      const found = await selectSouls(this.#store, get.souls, get.budget);
      return found.length ? this.#replyGraph(peer, msg.id, found) : notFound();
    }
    if (!this.#subscribeGet(peer, msg, get)) return;
    if (get.field !== undefined) {
      const f = await this.#store.getField(get.soul, get.field);
      if (!f) return notFound();
      return this.#reply(peer, msg.id, get.soul, [[get.field, f]]);
    }
    const node = await this.#store.get(get.soul);
    if (!node) return notFound();
    let fields = [...node];
    if (get.lex) {
      fields = selectFields(fields, get.lex, get.budget);
      if (fields.length === 0) return notFound();
    }
    this.#reply(peer, msg.id, get.soul, fields);
  }

  /** Answer with several nodes (a soul query), as few replies of ≤ GRAPH_MAX_REPLY_FRAME_BYTES as fit. */
  #replyGraph(peer: Peer, id: string, nodes: [string, [string, FieldState][]][]): void {
    let put: Record<string, unknown> = {}, size = 0;
    const emit = () => { if (size) this.#queueOut(peer, { '#': messageId(), '@': id, put }); put = {}; size = 0; };
    for (const [soul, fields] of nodes) {
      for (const chunk of chunkFields(soul, fields, GRAPH_MAX_REPLY_FRAME_BYTES - 200)) {
        const n = soul.length * 2 + 80 + chunk.reduce((a, [f, s]) => a + f.length * 2 + JSON.stringify(s.value).length + 30, 0);
        if (size && size + n > GRAPH_MAX_REPLY_FRAME_BYTES - 200) emit();
        if (Object.hasOwn(put, soul)) emit();
        setKey(put, soul, toGraphNode(soul, chunk));
        size += n;
      }
    }
    emit();
  }

  #reply(peer: Peer, id: string, soul: string, fields: [string, FieldState][]): void {
    // built as text: an object keyed by each new soul would cost V8 a hidden-class transition per read
    const at = JSON.stringify(id), key = JSON.stringify(soul);
    for (const chunk of chunkFields(soul, fields, GRAPH_MAX_REPLY_FRAME_BYTES - 200)) {
      this.#queueOut(peer, `{"#":"${messageId()}","@":${at},"put":{${key}:${JSON.stringify(toGraphNode(soul, chunk))}}}`);
    }
  }

  /** Fields changed by another process on the same store (PostgreSQL NOTIFY): forward current values. */
  async #external(changes: FieldRef[]): Promise<void> {
    if (this.#closed) return;
    const wanted = changes.filter((c) => this.#subs.has(subKey(c.soul)) || this.#subs.has(subKey(c.soul, c.field)));
    if (wanted.length === 0) return;
    const out: { w: FieldWrite; from: undefined }[] = [];
    for (const c of wanted) {
      try {
        const f = await this.#store.getField(c.soul, c.field);
        if (f) out.push({ w: { soul: c.soul, field: c.field, value: f.value, state: f.state }, from: undefined });
      } catch (err) {
        this.#log('warn', 'graph: reading an external change failed', { err: String(err) });
      }
    }
    const touched = new Set<Peer>();
    this.#forward(out, touched);
    for (const p of touched) this.#flushOut(p);
  }

  async #scheduleDue(): Promise<void> {
    if (this.#closed) return;
    let next: number | undefined;
    try {
      next = await this.#store.nextDue();
    } catch {
      return;
    }
    if (next === undefined || this.#closed) return;
    if (next >= this.#dueAt && this.#dueTimer) return;
    clearTimeout(this.#dueTimer);
    this.#dueAt = next;
    const wait = Math.min(Math.max(0, Math.ceil(next - Date.now())), 2_147_483_647);
    this.#dueTimer = setTimeout(() => {
      this.#dueTimer = undefined;
      this.#dueAt = Infinity;
      void this.#runDue();
    }, wait);
    this.#dueTimer.unref?.();
  }

  async #runDue(): Promise<void> {
    if (this.#closed) return;
    try {
      const applied = await this.#store.applyDue(this.#clock());
      const touched = new Set<Peer>();
      this.#forward(applied.map((w) => ({ w, from: undefined })), touched);
      for (const p of touched) this.#flushOut(p);
    } catch (err) {
      this.#log('warn', 'graph: applying deferred writes failed', { err: String(err) });
    }
    await this.#scheduleDue();
  }

  /** Per-field SEA status of a stored node (for the dashboard: user souls and whether each field verifies). */
  async seaFields(soul: string): Promise<Map<string, SeaFieldInfo>> {
    const out = new Map<string, SeaFieldInfo>();
    const node = await this.#store.get(soul);
    for (const [field, f] of node ?? []) out.set(field, await this.sea.inspect({ soul, field, value: f.value, state: f.state }));
    return out;
  }

  /** Stop: no new work, finish the batch in flight, close every connection. The store is the caller's. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#dueTimer);
    this.#unlisten?.();
    await this.#flushing;
    for (const p of [...this.#peers]) { try { p.conn.close(1001, 'relay closing'); } catch { /* already gone */ } this.#drop(p); }
  }
}
