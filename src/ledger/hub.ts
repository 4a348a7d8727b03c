import { PlexusError, toPlexusError } from '../errors.js';
import { LEDGER_MAX_EVENTS_PER_UPDATE, LEDGER_MAX_MONITORS_PER_CONN, LEDGER_MAX_PENDING_EVENTS, LEDGER_MAX_REQUESTS_IN_FLIGHT, LEDGER_MAX_TOPICS_PER_CONN } from '../limits.js';
import { decodeBody, decodeMonId, decodePubBody, decodeSat, decodeSub, decodeTops, decodeWatch, goJson, jsonField, statusJson, textPageFrameParts, updateFrameParts, updateJson, updateText, type TextPage } from './codec.js';
import { sortEvents, type Event, type Note, type Sig, type Status, type TransInput, type Update, type Watch } from './event.js';
import { formatFrame, parseFrame } from './frame.js';
import type { Ledger, Publisher, PublishOptions, PublishResult } from './ledger.js';
import { now, ZERO_TIME, type Rev } from './time.js';

/** Estimated heap bytes of one event (memoised: subscribers that fall behind share the events they hold). */
const eventBytes = new WeakMap<Event, number>();
function pendingBytes(evs: Event[]): number {
  let n = 0;
  for (const e of evs) {
    let b = eventBytes.get(e);
    if (b === undefined) eventBytes.set(e, (b = 96 + 2 * (e.top.length + e.key.length + (e.arg === undefined ? 0 : JSON.stringify(e.arg).length))));
    n += b;
  }
  return n;
}

/** Estimated heap bytes of a connection's topics and monitors (what HubSocket.hold is told). */
function subBytes(s: { tops: Set<string>; mons: Map<number, Monitor> }): number {
  let n = 0;
  for (const t of s.tops) n += 64 + 2 * t.length;
  for (const m of s.mons.values()) n += m.bytes;
  return n;
}
function watchBytes(watch: Watch[]): number {
  let n = 128;
  for (const w of watch) { n += 64 + 2 * w.top.length; for (const k of w.keys ?? []) n += 32 + 2 * k.length; }
  return n;
}
const noRoom = () => new PlexusError('RATE_LIMITED', 'server memory budget for subscriptions is used up');

/** What a hub needs from a transport connection. */
export interface HubSocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  /**
   * Optional: send and call `done` once the frame left the process (written to the socket). With it the
   * hub keeps at most one push per subscriber in flight and coalesces what arrives meanwhile, and
   * streams long catch-ups with backpressure; without it every push is sent as soon as it is due.
   */
  write?(text: string, done: (err?: Error | null) => void): void;
  /** Optional: write's twin for a frame given as pieces to concatenate (long catch-up pages). */
  writeParts?(parts: readonly string[], done: (err?: Error | null) => void): void;
  /**
   * Optional: stop / start reading the connection. The hub pauses a connection that has more than
   * LEDGER_MAX_REQUESTS_IN_FLIGHT requests unanswered and resumes it once half of them are answered.
   */
  pause?(): void;
  resume?(): void;
  /**
   * Optional: the estimated bytes of the events held for this subscriber while its push or catch-up is
   * under way (told every LEDGER_MAX_EVENTS_PER_UPDATE events, 0 once they are sent). False: no room for
   * them (a memory budget refused), the hub lets the subscriber go (1013).
   */
  pending?(bytes: number): boolean;
  /**
   * Optional: the estimated bytes of this connection's topics and monitors, told whenever they change.
   * False: no room for them (a memory budget refused); the request that would add them fails RATE_LIMITED.
   */
  hold?(bytes: number): boolean;
}

/** A connection as the hub sees it; the transport feeds it frames and tells it when it closed. */
export interface HubConn {
  readonly id: number;
  receive(text: string): void;
  closed(): void;
}

export interface HubOptions {
  /**
   * Fixed push window (ms) as evt's hub (200): every push waits for the window to end. Default (unset or
   * 0): adaptive, a committed transaction is pushed at once to an idle subscriber, and coalesced while
   * a push to it is in flight.
   */
  batchMs?: number;
  /** Schema / migration version reported by evt.stat. */
  mig?: string;
  /** Publish hook (a satellite routes publishes through itself); default ledger.publish. */
  publish?: (t: TransInput, conn: { id: number; user?: string }) => Promise<PublishResult>;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Status for evt.stat (a satellite reports its link); default: ledger rev, on = start, off = zero. */
  status?: () => Promise<Status>;
}

interface Monitor { id: number; watch: Watch[]; buf: Sig[]; bytes: number }
interface Sub {
  conn: HubSocket;
  id: number;
  user?: string;
  readOnly: boolean;
  /** What a publish of a read-only connection answers (FORBIDDEN for a valid read-only token). */
  writeDenied?: PlexusError;
  rev: Rev;
  tops: Set<string>;
  mons: Map<number, Monitor>;
  monSeq: number;
  buf: Event[];
  notes: boolean;
  gone: boolean;
  /** This connection's requests other than fast publishes, one at a time. */
  queue: Promise<unknown>;
  queued: number;
  /** A push to it is in flight (adaptive mode): new events wait in buf. */
  sending: boolean;
  /** A catch-up stream is running: live events wait in buf until it ends. */
  catching: boolean;
  /** Fast publishes handed to the ledger and not yet answered. */
  pubs: number;
  /** Reading is paused: too many requests in flight (see LEDGER_MAX_REQUESTS_IN_FLIGHT). */
  paused: boolean;
}

/** A publish through the hub, distributed in the order publishes were handed to the ledger. */
interface Job {
  sub: Sub;
  settled: boolean;
  /** Push the sender's pending events before its reply (evt.pub; not evt.sat, whose reply resubscribes). */
  flushSender: boolean;
  r?: PublishResult;
  err?: unknown;
  /** Runs once the job's events were distributed (or it failed): reply to the sender. */
  after: (r: PublishResult | undefined, err: unknown) => void;
}

/** A publish decoded from the wire: nothing else holds its values, and the hub never changes the events it gets back. */
const OWNED: PublishOptions = Object.freeze({ owned: true });

/** The topic `*` subscribes to every topic (plexus extension). */
export const ALL = '*';

/** Result of one satellite transaction in an `evt.sat` reply (plexus extension field `sat`). */
export interface SatResult { tid: string; rev?: Rev; err?: string; code?: string }

/** The first update of a subscription, and the rest of its catch-up to stream after it (if any). */
interface SubStart { first: Update; rest?: () => Promise<void> }

const isSorted = (evs: Event[]): boolean => {
  for (let i = 1; i < evs.length; i++) { const a = evs[i - 1]!, b = evs[i]!; if (a.rev > b.rev || (a.rev === b.rev && a.id > b.id)) return false; }
  return true;
};

/**
 * The evt hub: subjects evt.pub/sub/unsub/mon/unmon/stat/sat over any text transport. It distributes
 * every event the ledger gets (its own publishes and, through `onAppend` or `refresh`, other
 * processes') by following event ids, so nothing is skipped or doubled. Publishes from all connections
 * go to the ledger concurrently (so a store can commit them as one group) and are distributed in the
 * order they were handed to it. Pushes are adaptive by default (see HubOptions.batchMs).
 */
export class Hub {
  private readonly subs = new Map<number, Sub>();
  private connSeq = 0;
  private cursor = -1;
  private rev: Rev = ZERO_TIME;
  private readonly started = now();
  private timer?: ReturnType<typeof setTimeout>;
  private immediate?: ReturnType<typeof setImmediate>;
  private readonly batchMs: number;
  private readonly unlisten?: () => void;
  private closing = false;
  /** Publishes handed to the ledger and not yet distributed, in that order. */
  private readonly jobs: Job[] = [];
  private jobSeq = 0;
  private pumping = false;
  /** Distribution steps that read the ledger, one at a time. */
  private dist: Promise<unknown> = Promise.resolve();
  /** Distribution steps queued on `dist` and not yet settled. */
  private distPending = 0;
  /** A kick is queued for the end of this turn (publishes done at once share it). */
  private kickQueued = false;
  /** Another writer appended while hub publishes were in flight: read the ledger once they are done. */
  private foreign = false;
  /** Subscribers with events or notes to push (adaptive mode). */
  private readonly dirty = new Set<Sub>();
  /** Requests queued on connections, and running catch-up streams (close and refresh wait for them). */
  private busy = 0;
  private initP?: Promise<void>;
  readonly stats = { connections: 0, published: 0, pushes: 0, errors: 0 };

  constructor(readonly ledger: Ledger & Partial<Publisher>, private readonly opts: HubOptions = {}) {
    this.batchMs = opts.batchMs ?? 0;
    if (ledger.onAppend) this.unlisten = ledger.onAppend(() => { void this.readLedger(); });
  }

  private serialDist<T>(fn: () => Promise<T>): Promise<T> {
    this.distPending++;
    const p = this.dist.then(fn, fn);
    this.dist = p.then(this.distDone, this.distDone);
    return p;
  }
  private readonly distDone = (): void => { this.distPending--; };

  private init(): Promise<void> {
    if (this.cursor >= 0) return Promise.resolve();
    return this.initP ??= (async () => {
      const id = await this.ledger.lastEventId();
      const rev = await this.ledger.rev();
      if (this.cursor < 0) { this.cursor = id; this.rev = rev; }
    })();
  }

  /** Attach a transport connection. `user` is the authenticated user (default `usr` of publishes). */
  connect(sock: HubSocket, info: { user?: string; readOnly?: boolean | PlexusError } = {}): HubConn {
    const id = ++this.connSeq;
    const sub: Sub = {
      conn: sock, id, readOnly: info.readOnly !== undefined && info.readOnly !== false, rev: ZERO_TIME, tops: new Set(), mons: new Map(), monSeq: 0, buf: [], notes: false, gone: false,
      queue: Promise.resolve(), queued: 0, sending: false, catching: false, pubs: 0, paused: false,
    };
    if (info.user) sub.user = info.user;
    if (info.readOnly instanceof PlexusError) sub.writeDenied = info.readOnly;
    this.subs.set(id, sub);
    this.stats.connections++;
    return {
      id,
      receive: (text) => this.receive(sub, text),
      closed: () => { sub.gone = true; this.subs.delete(id); this.dirty.delete(sub); this.stats.connections--; },
    };
  }

  /** Run fn after the connection's earlier requests. */
  private enqueue(s: Sub, fn: () => Promise<void>): void {
    s.queued++;
    this.busy++;
    this.inFlight(s);
    const run = async () => { try { await fn(); } finally { s.queued--; this.busy--; this.answered(s); } };
    s.queue = s.queue.then(run, run);
  }

  /** A request was taken: stop reading a connection with too many unanswered. */
  private inFlight(s: Sub): void {
    if (!s.paused && s.queued + s.pubs > LEDGER_MAX_REQUESTS_IN_FLIGHT && s.conn.pause) { s.paused = true; s.conn.pause(); }
  }

  /** A request was answered: read again once half of the cap is left. */
  private answered(s: Sub): void {
    if (s.paused && s.queued + s.pubs <= LEDGER_MAX_REQUESTS_IN_FLIGHT / 2) { s.paused = false; if (!s.gone) s.conn.resume?.(); }
  }

  private receive(s: Sub, text: string): void {
    if (s.gone || this.closing) return;
    // the fast path: a publish goes to the ledger at once (unless this connection has requests queued)
    if (s.queued === 0 && this.cursor >= 0 && !this.opts.publish && text.startsWith('evt.pub')) {
      let f;
      try { f = parseFrame(text); } catch { f = undefined; }
      if (f && f.subject === 'evt.pub') { this.pubFast(s, f.token, f.body); return; }
    }
    this.enqueue(s, () => this.handle(s, text));
  }

  /** Wait until no request, publish or catch-up stream is under way (at most `maxMs`). */
  private async idle(maxMs = Infinity): Promise<void> {
    const t0 = Date.now();
    for (let i = 0; (this.busy || this.jobs.length || this.pumping) && Date.now() - t0 < maxMs; i++) await new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 5)));
    await this.dist;
  }

  /**
   * Follow the ledger: distribute events appended since the last look (call after out-of-band writes).
   * Waits (up to a second) for the requests under way to be answered first.
   */
  async refresh(): Promise<void> {
    await this.init();
    await this.idle(1000);
    await this.readLedger();
  }

  /** Distribute events that are not in the ledger's id sequence (a satellite's local events). */
  pushLocal(evs: Event[], rev: Rev, exceptConn?: number): void {
    for (const e of evs) this.show(e, exceptConn);
    if (rev > this.rev) this.rev = rev;
    this.kick();
  }

  private send(sub: Sub, text: string, done?: () => void): void {
    if (sub.gone) { done?.(); return; }
    try {
      if (done && sub.conn.write) sub.conn.write(text, () => done());
      else { sub.conn.send(text); done?.(); }
    } catch (err) {
      this.opts.log?.('debug', 'ledger hub: send failed', { err: String(err) });
      done?.();
    }
  }

  /** send() of a frame in pieces (written into one buffer where the transport can). */
  private sendParts(sub: Sub, parts: string[], done: () => void): void {
    if (sub.gone || !sub.conn.writeParts) { this.send(sub, parts.join(''), done); return; }
    try { sub.conn.writeParts(parts, () => done()); } catch (err) {
      this.opts.log?.('debug', 'ledger hub: send failed', { err: String(err) });
      done();
    }
  }

  private reply(sub: Sub, subject: string, token: string, res: unknown): void {
    this.send(sub, formatFrame(subject, token, goJson({ res })));
  }

  /** reply() for a result already encoded as JSON text (with Go's escapes). */
  private replyText(sub: Sub, subject: string, token: string, json: string): void {
    this.send(sub, formatFrame(subject, token, '{"res":' + json + '}'));
  }

  private replyErr(sub: Sub, subject: string, token: string, err: unknown): void {
    const e = toPlexusError(err);
    this.stats.errors++;
    this.send(sub, formatFrame(subject, token, goJson({ err: e.message, code: e.code })));
  }

  private async handle(sub: Sub, text: string): Promise<void> {
    if (sub.gone || this.closing) return;
    let f;
    try { f = parseFrame(text); } catch (err) {
      // empty or private subject: Go closes the connection
      this.stats.errors++;
      sub.conn.close(1008, toPlexusError(err).message);
      return;
    }
    const { subject, token, body } = f;
    try {
      await this.init();
      switch (subject) {
        case 'evt.pub':
          if (this.opts.publish) return await this.pubHooked(sub, token, body);
          return await this.pubFast(sub, token, body, true);
        case 'evt.sub': {
          const r = await this.sub(sub, decodeSub(decodeBody(body)), false);
          this.replyText(sub, subject, token, updateText(r.first));
          this.streamRest(sub, r);
          return;
        }
        case 'evt.unsub': return this.reply(sub, subject, token, this.unsub(sub, decodeTops(body ? jsonField(decodeBody(body), 'tops') : undefined)));
        case 'evt.mon': return this.reply(sub, subject, token, this.mon(sub, decodeWatch(jsonField(decodeBody(body), 'watch'))));
        case 'evt.unmon': return this.reply(sub, subject, token, this.unmon(sub, decodeMonId(decodeBody(body))));
        case 'evt.stat': return this.reply(sub, subject, token, statusJson(await this.status()));
        case 'evt.sat': return await this.sat(sub, token, body);
        default: throw new PlexusError('NOT_FOUND', `unknown subject ${subject}`);
      }
    } catch (err) {
      this.replyErr(sub, subject, token, err);
    }
  }

  /** The hub's status (rev = ledger rev, on = start time). */
  async status(): Promise<Status> {
    if (this.opts.status) return this.opts.status();
    return { rev: await this.ledger.rev(), mig: this.opts.mig ?? '', on: this.started, off: ZERO_TIME };
  }

  private checkTopics(tops: string[]): void {
    const known = (this.ledger as { knowsTopic?: (t: string) => boolean }).knowsTopic;
    for (const t of tops) if (known && t !== ALL && !known.call(this.ledger, t)) throw new PlexusError('NOT_FOUND', `no model found for topic ${t}`, { detail: { top: t } });
  }

  /** What every publish of a connection goes through first: its right to write, its user, its arrival time. */
  private prepare<T extends TransInput>(sub: Sub, t: T): T {
    if (sub.readOnly) throw sub.writeDenied ?? new PlexusError('UNAUTHORIZED', 'publishing needs a valid token');
    if (sub.user) t.usr = sub.user; // the authenticated user wins over a client-supplied usr (evt B23)
    t.arrived = now();
    return t;
  }

  private doPublish(sub: Sub, t: TransInput, opts?: PublishOptions): Promise<PublishResult> {
    this.prepare(sub, t);
    if (this.opts.publish) return this.opts.publish(t, sub.user ? { id: sub.id, user: sub.user } : { id: sub.id });
    if (!this.ledger.publish) throw new PlexusError('UNSUPPORTED', 'this ledger does not publish');
    return this.ledger.publish(t, opts);
  }

  /**
   * Hand a publish to the ledger now and distribute its events in submission order; `after` runs once
   * they were shown to every other subscriber (the returned promise settles after it).
   */
  private ordered(sub: Sub, start: () => Promise<PublishResult>, after: Job['after'], flushSender = true): Promise<void> {
    return new Promise<void>((resolve) => {
      this.order(sub, start, (r, err) => { try { after(r, err); } finally { resolve(); } }, flushSender);
    });
  }

  /** ordered() without the promise (the fast path's publishes: nothing waits for them but their reply). */
  private order(sub: Sub, start: () => Promise<PublishResult>, after: Job['after'], flushSender = true): void {
    const job: Job = { sub, settled: false, flushSender, after };
    this.jobs.push(job);
    this.jobSeq++;
    let p: Promise<PublishResult>;
    try { p = start(); } catch (err) { p = Promise.reject(err); }
    p.then((r) => { job.r = r; job.settled = true; this.pump(); }, (err: unknown) => { job.err = err ?? new Error('publish failed'); job.settled = true; this.pump(); });
  }

  /** Distribute settled jobs at the head of the queue; read the ledger for ids others wrote in between. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.serialDist(async () => {
      try {
        while (this.jobs.length && this.jobs[0]!.settled) {
          const job = this.jobs.shift()!;
          const evs = job.r?.evs ?? [];
          if (evs.length && evs[0]!.id > this.cursor + 1 && this.cursor >= 0) await this.readUpTo(evs[0]!.id - 1);
          if (job.r) this.distribute(job.sub, job.r, job.flushSender);
          job.after(job.r, job.err);
        }
        if (!this.jobs.length && this.foreign) { this.foreign = false; await this.readForeign(); }
      } finally {
        this.pumping = false;
        this.kick();
      }
      if (this.jobs.length && this.jobs[0]!.settled) this.pump();
    });
  }

  /** Show a publish's events to every subscriber but its sender, then push the sender what it has pending (flushSender). */
  private distribute(s: Sub, r: PublishResult, flushSender: boolean): void {
    const before = this.rev;
    for (const e of r.evs) {
      if (e.id <= this.cursor) continue; // already distributed (read from the ledger before this job settled)
      this.cursor = e.id;
      if (e.rev > this.rev) this.rev = e.rev;
      this.show(e, s.id);
    }
    // the sender sees the events before its own first (not while a catch-up stream holds them)
    if (flushSender && (s.buf.length || s.notes) && !s.catching) this.flush(s, before);
    if (r.rev > s.rev) s.rev = r.rev;
  }

  /** Distribute ledger events with cursor < id <= upto (written by others: no sender to skip). */
  private async readUpTo(upto: number): Promise<void> {
    for (;;) {
      const evs = await this.ledger.eventsAfterId(this.cursor, 1000);
      let n = 0;
      for (const e of evs) {
        if (e.id > upto) break;
        n++;
        this.cursor = e.id;
        if (e.rev > this.rev) this.rev = e.rev;
        this.show(e);
      }
      if (evs.length < 1000 || n < evs.length) break;
    }
  }

  /**
   * Read what others appended. Only while no hub publish is in flight: events of one that committed
   * but has not settled yet would be shown to its sender too; the pump reads once the jobs are done.
   */
  private readLedger(): Promise<void> {
    return this.serialDist(() => this.readForeign());
  }

  /** readLedger's step (inside the distribution lock). */
  private async readForeign(): Promise<void> {
    for (;;) {
      if (this.cursor < 0) return;
      if (this.jobs.length) { this.foreign = true; return; }
      const seq = this.jobSeq;
      const evs = await this.ledger.eventsAfterId(this.cursor, 1000);
      if (this.jobSeq !== seq) { this.foreign = true; return; } // a publish started meanwhile: the pump reads after it
      for (const e of evs) {
        this.cursor = e.id;
        if (e.rev > this.rev) this.rev = e.rev;
        this.show(e);
      }
      this.kick();
      if (evs.length < 1000) return;
    }
  }

  private pubFast(sub: Sub, token: string, body: string | undefined, wait: true): Promise<void>;
  private pubFast(sub: Sub, token: string, body: string | undefined): void;
  private pubFast(sub: Sub, token: string, body: string | undefined, wait = false): Promise<void> | void {
    let start: (() => Promise<PublishResult>) | undefined;
    if (!wait && this.ledger.publishNow && !this.jobs.length && !this.pumping && this.distPending === 0) {
      // nothing ahead of it: published, distributed and answered at once where the ledger can (memory)
      let t: TransInput, r: PublishResult | undefined;
      try {
        t = this.prepare(sub, decodePubBody(body));
        r = this.ledger.publishNow(t, OWNED);
      } catch (err) { this.replyErr(sub, 'evt.pub', token, err); return; }
      if (r && (!r.evs.length || r.evs[0]!.id === this.cursor + 1)) {
        this.jobSeq++;
        this.distribute(sub, r, true);
        this.pubReply(sub, token, r);
        if (this.dirty.size) this.kickSoon();
        return;
      }
      // published, but another writer's events lie before these: they are read and distributed first, in
      // order; or not published (the ledger could not at once): queued, with the body decoded already
      const done = r, decoded = t;
      start = done ? () => Promise.resolve(done) : () => this.ledger.publish!(decoded, OWNED);
    }
    start ??= () => this.doPublish(sub, decodePubBody(body), OWNED);
    sub.pubs++;
    this.inFlight(sub);
    const after = (r: PublishResult | undefined, err: unknown) => this.pubAfter(sub, token, r, err);
    if (wait) return this.ordered(sub, start, after);
    this.order(sub, start, after);
  }

  /** A fast publish settled: answer it. */
  private pubAfter(sub: Sub, token: string, r: PublishResult | undefined, err: unknown): void {
    sub.pubs--;
    this.answered(sub);
    if (r) this.pubReply(sub, token, r); else this.replyErr(sub, 'evt.pub', token, err);
  }

  private pubReply(sub: Sub, token: string, r: PublishResult): void {
    this.stats.published++;
    this.replyText(sub, 'evt.pub', token, updateText({ rev: r.rev, evs: r.evs }));
  }

  /** Kick once at the end of this turn (after the publishes that arrived in it were distributed). */
  private kickSoon(): void {
    if (this.kickQueued) return;
    this.kickQueued = true;
    queueMicrotask(this.kickNow);
  }
  private readonly kickNow = (): void => { this.kickQueued = false; this.kick(); };

  /** A publish through the hook (a satellite's local hub): events come back through the ledger or pushLocal. */
  private async pubHooked(sub: Sub, token: string, body: string | undefined): Promise<void> {
    const t = decodePubBody(body);
    const r = await this.doPublish(sub, t);
    this.stats.published++;
    const before = this.rev;
    await this.readHooked(new Set(r.evs.map((e) => e.id)), sub.id);
    if ((sub.buf.length || sub.notes) && !sub.catching) this.flush(sub, before);
    const rr = r.evs.length ? r.evs[r.evs.length - 1]!.rev : this.rev;
    if (rr > sub.rev) sub.rev = rr;
    this.kick();
    this.replyText(sub, 'evt.pub', token, updateText({ rev: r.rev, evs: r.evs }));
  }

  /** Distribute what the ledger has after the cursor; events in `own` skip `sender` (hooked publishes). */
  private readHooked(own: Set<number>, sender: number): Promise<void> {
    return this.serialDist(async () => {
      for (;;) {
        const evs = await this.ledger.eventsAfterId(this.cursor, 1000);
        for (const e of evs) {
          this.cursor = e.id;
          if (e.rev > this.rev) this.rev = e.rev;
          this.show(e, own.has(e.id) ? sender : undefined);
        }
        if (evs.length < 1000) break;
      }
    });
  }

  /** Forget a subscriber whose pending events passed LEDGER_MAX_PENDING_EVENTS (or its memory budget) and close it (1013). */
  private tooSlow(s: Sub): void {
    s.gone = true;
    s.buf = [];
    this.subs.delete(s.id);
    this.dirty.delete(s);
    s.conn.close(1013, 'too slow: events are piling up');
  }

  /** Buffer an event for every subscriber of its topic (but `except`) and mark watching monitors. */
  private show(e: Event, except?: number): void {
    for (const s of this.subs.values()) {
      let hit = false;
      if (s.id !== except && (s.tops.has(e.top) || s.tops.has(ALL))) {
        // a subscriber that does not read keeps its push in flight: past LEDGER_MAX_PENDING_EVENTS it is let go (it catches up on reconnect)
        if (s.buf.length >= LEDGER_MAX_PENDING_EVENTS) { this.tooSlow(s); continue; }
        s.buf.push(e); hit = true;
        if (s.buf.length % LEDGER_MAX_EVENTS_PER_UPDATE === 0 && s.conn.pending && !s.conn.pending(pendingBytes(s.buf))) { this.tooSlow(s); continue; }
      }
      for (const m of s.mons.values()) {
        for (const w of m.watch) {
          if (w.top !== e.top) continue;
          for (const k of w.keys ?? []) {
            if (k === e.key || (k === 'new' && e.cmd === 'new')) { m.buf.push({ top: e.top, key: e.key }); s.notes = true; hit = true; }
          }
        }
      }
      if (hit) this.dirty.add(s);
    }
  }

  /** Push what is due: at once to idle subscribers (adaptive), or at the end of the fixed window. */
  private kick(): void {
    if (this.closing || !this.dirty.size) return;
    if (this.batchMs > 0) { this.trigger(); return; }
    const cache = new Map<string, string>();
    for (const s of this.dirty) {
      this.dirty.delete(s);
      if (s.gone || s.sending || s.catching || !(s.buf.length || s.notes)) continue; // re-marked when its push or catch-up ends
      s.sending = true;
      this.flush(s, this.rev, cache, () => {
        s.sending = false;
        if (s.buf.length || s.notes) { this.dirty.add(s); this.soon(); }
      });
    }
  }

  /** Kick on the next turn (pushes whose previous one completed meanwhile share encoded frames). */
  private soon(): void {
    if (this.immediate || this.closing) return;
    this.immediate = setImmediate(() => { this.immediate = undefined; this.kick(); });
  }

  private trigger(): void {
    if (this.timer || this.closing) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.broadcast(); }, this.batchMs);
  }

  private broadcast(): void {
    // subscribers with the same pending events (and no notes) share one encoded frame
    const cache = new Map<string, string>();
    for (const s of this.dirty) {
      this.dirty.delete(s);
      if (s.gone) continue;
      if (s.catching) continue; // re-marked when its catch-up ends
      if (s.buf.length || s.notes) this.flush(s, this.rev, cache);
    }
  }

  private notes(s: Sub): Note[] {
    const out: Note[] = [];
    for (const m of s.mons.values()) {
      if (!m.buf.length) continue;
      const byTop = new Map<string, string[]>();
      for (const sig of m.buf) { const l = byTop.get(sig.top); if (l) l.push(sig.key); else byTop.set(sig.top, [sig.key]); }
      out.push({ mon: m.id, watch: [...byTop].map(([top, keys]) => ({ top, keys })) });
      m.buf = [];
    }
    s.notes = false;
    return out;
  }

  private flush(s: Sub, rev: Rev, cache?: Map<string, string>, done?: () => void): void {
    if (s.buf.length >= LEDGER_MAX_EVENTS_PER_UPDATE) s.conn.pending?.(0); // what was told pending leaves now
    if (!isSorted(s.buf)) sortEvents(s.buf);
    if (s.buf.length > LEDGER_MAX_EVENTS_PER_UPDATE) {
      // a burst bigger than one update: send the older events first, in chunks
      const all = s.buf;
      while (all.length > LEDGER_MAX_EVENTS_PER_UPDATE) {
        const c = all.splice(0, LEDGER_MAX_EVENTS_PER_UPDATE);
        const r = c[c.length - 1]!.rev;
        this.send(s, formatFrame('evt.update', '', updateText({ rev: r > s.rev ? r : s.rev, evs: c }), true));
        this.stats.pushes++;
      }
      cache = undefined;
    }
    const u: Update = { rev: rev > s.rev ? rev : s.rev };
    if (s.buf.length) u.evs = s.buf;
    let frame: string | undefined;
    let key: string | undefined;
    if (cache && !s.notes) {
      key = u.rev + ':' + s.buf.map((e) => e.id).join(',');
      if (!s.buf.some((e) => e.id === 0)) frame = cache.get(key); else key = undefined;
    }
    if (s.notes) u.note = this.notes(s);
    s.buf = [];
    s.rev = u.rev;
    this.stats.pushes++;
    if (frame === undefined) {
      frame = formatFrame('evt.update', '', updateText(u), true);
      if (key !== undefined) cache!.set(key, frame);
    }
    this.send(s, frame, done);
  }

  /**
   * Subscribe: the first update holds up to LEDGER_MAX_EVENTS_PER_UPDATE events (the reply); `rest`
   * streams the others page by page as pushes, each after the previous left the process, while live
   * events wait in the buffer. The catch-up covers ids up to the hub's cursor at the moment the topics
   * were added; later events reach the buffer as they are distributed: no gap, no duplicate.
   */
  private async sub(s: Sub, req: { rev: Rev; tops: string[] }, replaceAll: boolean): Promise<SubStart> {
    this.checkTopics(req.tops);
    const fresh = replaceAll ? [...new Set(req.tops)] : [...new Set(req.tops)].filter((t) => !s.tops.has(t));
    if (!replaceAll && fresh.length === 0) throw new PlexusError('BAD_REQUEST', 'no new subscriptions');
    if (s.tops.size + fresh.length > LEDGER_MAX_TOPICS_PER_CONN) throw new PlexusError('TOO_LARGE', `more than ${LEDGER_MAX_TOPICS_PER_CONN} topics`);
    await this.readLedger(); // see appends that bypassed the hub (an embedding app, a missed NOTIFY)
    const added = fresh.filter((t) => !s.tops.has(t));
    for (const t of added) s.tops.add(t);
    if (s.conn.hold && !s.conn.hold(subBytes(s))) { for (const t of added) s.tops.delete(t); throw noRoom(); }
    const upto = this.cursor;
    // events buffered before (other topics) merge into the catch-up by id
    const old = sortEvents(s.buf.slice());
    s.buf = [];
    this.dirty.delete(s);
    // events with their wire JSON pre-encoded where the ledger can (they carry no parsed arg: only for the wire)
    const tops = fresh.includes(ALL) ? [] : fresh;
    const it = fresh.length ? (this.ledger.eventsEncoded ? this.ledger.eventsEncoded(req.rev, tops) : this.ledger.events(req.rev, tops))[Symbol.asyncIterator]() : undefined;
    let oi = 0;
    let ended = !it;
    /** A ledger event read but not yet placed (its chunk filled up with older buffered events first). */
    let held: Event | undefined;
    /** The id of the last ledger event placed in a chunk. */
    let lastId = 0;
    /**
     * Where the rest of the catch-up continues as text pages (the ledger builds a page without an object
     * per event): once the old buffer is placed, after the first chunk, when the ledger can.
     */
    let textFrom: number | undefined;
    const pages = this.ledger.eventsTextPage;
    /** The next chunk of up to LEDGER_MAX_EVENTS_PER_UPDATE events (ledger and old buffer merged by id). */
    const nextChunk = async (): Promise<Event[]> => {
      const out: Event[] = [];
      if (pages && lastId > 0 && !ended && !held && oi >= old.length) {
        textFrom = lastId;
        ended = true;
        void it!.return?.();
        return out;
      }
      while (out.length < LEDGER_MAX_EVENTS_PER_UPDATE) {
        if (ended && !held) { while (oi < old.length && out.length < LEDGER_MAX_EVENTS_PER_UPDATE) out.push(old[oi++]!); break; }
        let e = held;
        held = undefined;
        if (!e) {
          const n = await it!.next();
          if (n.done || n.value.id > upto) { ended = true; if (!n.done) void it!.return?.(); continue; }
          e = n.value;
        }
        while (oi < old.length && old[oi]!.id < e.id && out.length < LEDGER_MAX_EVENTS_PER_UPDATE) out.push(old[oi++]!);
        if (out.length >= LEDGER_MAX_EVENTS_PER_UPDATE) { held = e; break; }
        if (oi < old.length && old[oi]!.id === e.id) oi++;
        out.push(e);
        lastId = e.id;
      }
      return out;
    };
    const upd = (c: Event[], last: boolean): Update => {
      const u: Update = { rev: last ? this.rev : c[c.length - 1]!.rev };
      if (c.length) u.evs = c;
      return u;
    };
    let cur = await nextChunk();
    let next = cur.length === LEDGER_MAX_EVENTS_PER_UPDATE ? await nextChunk() : [];
    const first = upd(cur, next.length === 0 && textFrom === undefined);
    if (s.notes) first.note = this.notes(s);
    if (next.length === 0 && textFrom === undefined) {
      if (this.rev > s.rev) s.rev = this.rev;
      return { first };
    }
    s.catching = true;
    s.rev = first.rev;
    this.busy++;
    const rest = async (): Promise<void> => {
      try {
        while (next.length && !s.gone && !this.closing) {
          cur = next;
          const sent = new Promise<void>((r) => {
            const more = cur.length === LEDGER_MAX_EVENTS_PER_UPDATE;
            // read the next page while this one is on its way
            const nextP = more ? nextChunk() : Promise.resolve([] as Event[]);
            let out = false, got = false, nx: Event[] = [];
            const both = () => { if (out && got) { next = nx; r(); } };
            nextP.then((v) => { nx = v; got = true; both(); }, () => { nx = []; got = true; both(); });
            const u = upd(cur, false);
            this.stats.pushes++;
            this.sendParts(s, updateFrameParts(u), () => { out = true; both(); });
            if (u.rev > s.rev) s.rev = u.rev;
          });
          await sent;
        }
        if (textFrom !== undefined && pages) await this.streamTextPages(s, textFrom, upto, (after) => pages.call(this.ledger, req.rev, tops, after, upto, LEDGER_MAX_EVENTS_PER_UPDATE));
      } finally {
        s.catching = false;
        this.busy--;
        if (!s.gone) {
          if (this.rev > s.rev && !s.buf.length) this.send(s, formatFrame('evt.update', '', updateText({ rev: this.rev }), true));
          if (s.buf.length || s.notes) { this.dirty.add(s); this.kick(); }
          if (this.rev > s.rev) s.rev = this.rev;
        }
      }
    };
    return { first, rest };
  }

  /** The rest of a catch-up as text pages of ids after `after` (to `upto`): each page read while the previous is on its way. */
  private async streamTextPages(s: Sub, after: number, upto: number, page: (after: number) => Promise<TextPage | undefined>): Promise<void> {
    let p = after < upto ? await page(after) : undefined;
    while (p && !s.gone && !this.closing) {
      const cur: TextPage = p;
      this.stats.pushes++;
      const sent = new Promise<void>((r) => this.sendParts(s, textPageFrameParts(cur), r));
      if (cur.lastRev > s.rev) s.rev = cur.lastRev;
      const more = cur.count === LEDGER_MAX_EVENTS_PER_UPDATE && cur.lastId < upto;
      [, p] = await Promise.all([sent, more ? page(cur.lastId) : undefined]);
    }
  }

  /** Start streaming the rest of a catch-up (after its first update was sent). */
  private streamRest(s: Sub, r: SubStart): void {
    if (r.rest) void r.rest().catch((err: unknown) => { this.opts.log?.('warn', 'ledger hub: catch-up failed', { err: String(err) }); s.conn.close(1011, 'catch-up failed'); });
  }

  private unsub(s: Sub, tops: string[]): boolean {
    const known = s.tops.size > 0 || s.mons.size > 0;
    if (tops.length === 0) s.tops.clear(); else for (const t of tops) s.tops.delete(t);
    s.conn.hold?.(subBytes(s));
    s.buf = s.buf.filter((e) => s.tops.has(e.top) || s.tops.has(ALL));
    return known;
  }

  private mon(s: Sub, watch: Watch[]): number {
    this.checkTopics(watch.map((w) => w.top));
    if (s.mons.size >= LEDGER_MAX_MONITORS_PER_CONN) throw new PlexusError('TOO_LARGE', `more than ${LEDGER_MAX_MONITORS_PER_CONN} monitors`);
    const id = ++s.monSeq;
    s.mons.set(id, { id, watch, buf: [], bytes: watchBytes(watch) });
    if (s.conn.hold && !s.conn.hold(subBytes(s))) { s.mons.delete(id); throw noRoom(); }
    return id;
  }

  private unmon(s: Sub, id: number): boolean {
    const had = s.mons.delete(id);
    if (had) s.conn.hold?.(subBytes(s));
    return had;
  }

  /** evt.sat: publish each pending transaction (idempotent by tid), report each result, then (re)subscribe. */
  private async sat(s: Sub, token: string, body: string | undefined): Promise<void> {
    const req = decodeSat(decodeBody(body));
    this.checkTopics(req.tops);
    const results: SatResult[] = [];
    const own = new Set<number>();
    const ignoreRevs: Rev[] = [];
    for (const t of req.trans) {
      const tid = t.tid ?? '';
      try {
        // without a tid (a Go satellite) the transaction is published as evt does: not idempotent
        delete t.rev; // a local revision means nothing on the hub
        let r: PublishResult | undefined;
        if (this.opts.publish) r = await this.doPublish(s, t, { ignoreRevs });
        else {
          let fail: unknown;
          await this.ordered(s, () => this.doPublish(s, t, { ignoreRevs }), (rr, err) => { r = rr; fail = err; }, false);
          if (!r) throw fail;
        }
        for (const e of r.evs) own.add(e.id);
        ignoreRevs.push(r.rev);
        results.push({ tid, rev: r.rev });
        this.stats.published++;
      } catch (err) {
        const e = toPlexusError(err);
        if (e.code === 'DUPLICATE' && typeof e.detail?.rev === 'number') {
          ignoreRevs.push(e.detail.rev);
          results.push({ tid, rev: e.detail.rev });
        } else results.push({ tid, err: e.message, code: e.code });
      }
    }
    if (this.opts.publish) await this.readHooked(own, s.id);
    // the satellite gets its own events in the reply (they are newer than req.rev), others by push
    s.buf = [];
    const r = await this.sub(s, { rev: req.rev, tops: req.tops }, true);
    // the update's text (its events may be pre-encoded) with the plexus field `sat` after its own fields
    const sat = results.map((x) => (x.rev !== undefined ? { tid: x.tid, rev: updateJson({ rev: x.rev }).rev } : x));
    this.replyText(s, 'evt.sat', token, updateText(r.first).slice(0, -1) + ',"sat":' + goJson(sat) + '}');
    this.streamRest(s, r);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.unlisten?.();
    // a catch-up page stuck on a client that reads nothing must not hold the close (its socket is ended next)
    await this.idle(2000);
  }
}
