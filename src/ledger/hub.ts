import { PlexusError, toPlexusError } from '../errors.js';
import { LEDGER_BATCH_WINDOW_MS, LEDGER_MAX_EVENTS_PER_UPDATE, LEDGER_MAX_MONITORS_PER_CONN, LEDGER_MAX_TOPICS_PER_CONN } from '../limits.js';
import { decodeBody, decodeMonId, decodeSat, decodeSub, decodeTops, decodeTrans, decodeWatch, goJson, jsonField, statusJson, updateJson } from './codec.js';
import { sortEvents, type Event, type Note, type Sig, type Status, type TransInput, type Update, type Watch } from './event.js';
import { formatFrame, parseFrame } from './frame.js';
import type { Ledger, Publisher, PublishOptions, PublishResult } from './ledger.js';
import { now, ZERO_TIME, type Rev } from './time.js';

/** The two things a hub needs from a transport connection. */
export interface HubSocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/** A connection as the hub sees it; the transport feeds it frames and tells it when it closed. */
export interface HubConn {
  readonly id: number;
  receive(text: string): void;
  closed(): void;
}

export interface HubOptions {
  /** Push batching window (ms); default LEDGER_BATCH_WINDOW_MS (evt's 200). */
  batchMs?: number;
  /** Schema / migration version reported by evt.stat. */
  mig?: string;
  /** Publish hook (a satellite routes publishes through itself); default ledger.publish. */
  publish?: (t: TransInput, conn: { id: number; user?: string }) => Promise<PublishResult>;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Status for evt.stat (a satellite reports its link); default: ledger rev, on = start, off = zero. */
  status?: () => Promise<Status>;
}

interface Monitor { id: number; watch: Watch[]; buf: Sig[] }
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
}

/** The topic `*` subscribes to every topic (plexus extension). */
export const ALL = '*';

/** Result of one satellite transaction in an `evt.sat` reply (plexus extension field `sat`). */
export interface SatResult { tid: string; rev?: Rev; err?: string; code?: string }

/**
 * The evt hub: subjects evt.pub/sub/unsub/mon/unmon/stat/sat over any text transport, pushes batched
 * within a window. It distributes every event the ledger gets (its own publishes and, through
 * `onAppend`, other processes') by following event ids, so nothing is skipped or doubled.
 */
export class Hub {
  private readonly subs = new Map<number, Sub>();
  private connSeq = 0;
  private cursor = -1;
  private rev: Rev = ZERO_TIME;
  private readonly started = now();
  private timer?: ReturnType<typeof setTimeout>;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly batchMs: number;
  private readonly unlisten?: () => void;
  private closing = false;
  readonly stats = { connections: 0, published: 0, pushes: 0, errors: 0 };

  constructor(readonly ledger: Ledger & Partial<Publisher>, private readonly opts: HubOptions = {}) {
    this.batchMs = opts.batchMs ?? LEDGER_BATCH_WINDOW_MS;
    if (ledger.onAppend) this.unlisten = ledger.onAppend(() => { void this.serial(() => this.catchUp(new Set())); });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async init(): Promise<void> {
    if (this.cursor >= 0) return;
    this.cursor = await this.ledger.lastEventId();
    this.rev = await this.ledger.rev();
  }

  /** Attach a transport connection. `user` is the authenticated user (default `usr` of publishes). */
  connect(sock: HubSocket, info: { user?: string; readOnly?: boolean | PlexusError } = {}): HubConn {
    const id = ++this.connSeq;
    const sub: Sub = { conn: sock, id, readOnly: info.readOnly !== undefined && info.readOnly !== false, rev: ZERO_TIME, tops: new Set(), mons: new Map(), monSeq: 0, buf: [], notes: false, gone: false };
    if (info.user) sub.user = info.user;
    if (info.readOnly instanceof PlexusError) sub.writeDenied = info.readOnly;
    this.subs.set(id, sub);
    this.stats.connections++;
    return {
      id,
      receive: (text) => { void this.serial(() => this.handle(sub, text)); },
      closed: () => { sub.gone = true; this.subs.delete(id); this.stats.connections--; },
    };
  }

  /** Follow the ledger: distribute events appended since the last look (call after out-of-band writes). */
  refresh(): Promise<void> {
    return this.serial(async () => { await this.init(); await this.catchUp(new Set()); });
  }

  /** Distribute events that are not in the ledger's id sequence (a satellite's local events). */
  pushLocal(evs: Event[], rev: Rev, exceptConn?: number): void {
    for (const e of evs) this.show(e, exceptConn);
    if (rev > this.rev) this.rev = rev;
    this.trigger();
  }

  private send(sub: Sub, text: string): void {
    if (sub.gone) return;
    try { sub.conn.send(text); } catch (err) { this.opts.log?.('debug', 'ledger hub: send failed', { err: String(err) }); }
  }

  private reply(sub: Sub, subject: string, token: string, res: unknown): void {
    this.send(sub, formatFrame(subject, token, goJson({ res })));
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
        case 'evt.pub': return await this.pub(sub, token, body);
        case 'evt.sub': {
          const r = await this.sub(sub, decodeSub(decodeBody(body)), false);
          this.reply(sub, subject, token, r.body);
          for (const f of r.more) this.send(sub, f);
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

  private async doPublish(sub: Sub, t: TransInput, opts?: PublishOptions): Promise<PublishResult> {
    if (sub.readOnly) throw sub.writeDenied ?? new PlexusError('UNAUTHORIZED', 'publishing needs a valid token');
    if (sub.user) t.usr = sub.user; // the authenticated user wins over a client-supplied usr (evt B23)
    t.arrived = now();
    if (this.opts.publish) return this.opts.publish(t, sub.user ? { id: sub.id, user: sub.user } : { id: sub.id });
    if (!this.ledger.publish) throw new PlexusError('UNSUPPORTED', 'this ledger does not publish');
    return this.ledger.publish(t, opts);
  }

  private async pub(sub: Sub, token: string, body: string | undefined): Promise<void> {
    const t = decodeTrans(decodeBody(body));
    const r = await this.doPublish(sub, t);
    this.stats.published++;
    await this.afterPublish(sub, r.evs);
    this.reply(sub, 'evt.pub', token, updateJson({ rev: r.rev, evs: r.evs }));
  }

  /** Distribute everything new, excluding the sender's own events; flush the sender's older pending events first. */
  private async afterPublish(sub: Sub, own: Event[]): Promise<void> {
    const ownIds = new Set(own.map((e) => e.id));
    const before = this.rev;
    await this.catchUp(ownIds, sub.id);
    if (sub.buf.length || sub.notes) this.flush(sub, before);
    const r = own.length ? own[own.length - 1]!.rev : this.rev;
    if (r > sub.rev) sub.rev = r;
  }

  private async catchUp(skipIds: Set<number>, sender?: number): Promise<void> {
    if (this.cursor < 0) return;
    for (;;) {
      const evs = await this.ledger.eventsAfterId(this.cursor, 1000);
      for (const e of evs) {
        this.cursor = e.id;
        if (e.rev > this.rev) this.rev = e.rev;
        this.show(e, skipIds.has(e.id) ? sender : undefined);
      }
      if (evs.length < 1000) break;
    }
    this.trigger();
  }

  /** Buffer an event for every subscriber of its topic (but `except`) and mark watching monitors. */
  private show(e: Event, except?: number): void {
    for (const s of this.subs.values()) {
      if (s.id !== except && (s.tops.has(e.top) || s.tops.has(ALL))) s.buf.push(e);
      for (const m of s.mons.values()) {
        for (const w of m.watch) {
          if (w.top !== e.top) continue;
          for (const k of w.keys ?? []) {
            if (k === e.key || (k === 'new' && e.cmd === 'new')) { m.buf.push({ top: e.top, key: e.key }); s.notes = true; }
          }
        }
      }
    }
  }

  private trigger(): void {
    if (this.timer || this.closing) return;
    let pending = false;
    for (const s of this.subs.values()) if (s.buf.length || s.notes) { pending = true; break; }
    if (!pending) return;
    this.timer = setTimeout(() => { this.timer = undefined; void this.serial(async () => this.broadcast()); }, this.batchMs);
  }

  private broadcast(): void {
    // subscribers with the same pending events (and no notes) share one encoded frame
    const cache = new Map<string, string>();
    for (const s of this.subs.values()) if (s.buf.length || s.notes) this.flush(s, this.rev, cache);
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

  private flush(s: Sub, rev: Rev, cache?: Map<string, string>): void {
    if (s.buf.length > LEDGER_MAX_EVENTS_PER_UPDATE) {
      // a burst bigger than one update: send the older events first, in chunks
      const all = sortEvents(s.buf);
      while (all.length > LEDGER_MAX_EVENTS_PER_UPDATE) {
        const c = all.splice(0, LEDGER_MAX_EVENTS_PER_UPDATE);
        const r = c[c.length - 1]!.rev;
        this.send(s, formatFrame('evt.update', '', goJson(updateJson({ rev: r > s.rev ? r : s.rev, evs: c })), true));
        this.stats.pushes++;
      }
      s.buf = all;
      cache = undefined;
    }
    const u: Update = { rev: rev > s.rev ? rev : s.rev };
    if (s.buf.length) u.evs = sortEvents(s.buf);
    let frame: string | undefined;
    let key: string | undefined;
    if (cache && !s.notes && !s.buf.some((e) => e.id === 0)) {
      key = `${u.rev}:${s.buf.map((e) => e.id).join(',')}`;
      frame = cache.get(key);
    }
    if (s.notes) u.note = this.notes(s);
    s.buf = [];
    s.rev = u.rev;
    this.stats.pushes++;
    if (frame === undefined) {
      frame = formatFrame('evt.update', '', goJson(updateJson(u)), true);
      if (key !== undefined) cache!.set(key, frame);
    }
    this.send(s, frame);
  }

  /** Subscribe; the reply carries the first LEDGER_MAX_EVENTS_PER_UPDATE events, `more` the rest as pushes to send right after it. */
  private async sub(s: Sub, req: { rev: Rev; tops: string[] }, replaceAll: boolean): Promise<{ body: Record<string, unknown>; more: string[] }> {
    this.checkTopics(req.tops);
    const fresh = replaceAll ? [...new Set(req.tops)] : [...new Set(req.tops)].filter((t) => !s.tops.has(t));
    if (!replaceAll && fresh.length === 0) throw new PlexusError('BAD_REQUEST', 'no new subscriptions');
    if (s.tops.size + fresh.length > LEDGER_MAX_TOPICS_PER_CONN) throw new PlexusError('TOO_LARGE', `more than ${LEDGER_MAX_TOPICS_PER_CONN} topics`);
    await this.catchUp(new Set()); // see appends that bypassed the hub (an embedding app, a missed NOTIFY)
    for (const t of fresh) s.tops.add(t);
    // events up to the hub's cursor (later ones reach the buffer through catch-up)
    const loaded: Event[] = [];
    if (fresh.length) {
      for await (const e of this.ledger.events(req.rev, fresh.includes(ALL) ? [] : fresh)) { if (e.id > this.cursor) break; loaded.push(e); }
    }
    const have = new Set(s.buf.map((e) => e.id));
    const evs = sortEvents([...loaded.filter((e) => !have.has(e.id)), ...s.buf]);
    s.buf = [];
    const chunks: Event[][] = [];
    for (let i = 0; i < evs.length; i += LEDGER_MAX_EVENTS_PER_UPDATE) chunks.push(evs.slice(i, i + LEDGER_MAX_EVENTS_PER_UPDATE));
    const last = chunks.length - 1;
    const upd = (i: number): Update => {
      const c = chunks[i];
      const u: Update = { rev: i >= last ? this.rev : c![c!.length - 1]!.rev };
      if (c?.length) u.evs = c;
      return u;
    };
    const first = upd(0);
    if (s.notes) first.note = this.notes(s);
    const more: string[] = [];
    for (let i = 1; i <= last; i++) more.push(formatFrame('evt.update', '', goJson(updateJson(upd(i))), true));
    if (this.rev > s.rev) s.rev = this.rev;
    return { body: updateJson(first), more };
  }

  private unsub(s: Sub, tops: string[]): boolean {
    const known = s.tops.size > 0 || s.mons.size > 0;
    if (tops.length === 0) s.tops.clear(); else for (const t of tops) s.tops.delete(t);
    s.buf = s.buf.filter((e) => s.tops.has(e.top) || s.tops.has(ALL));
    return known;
  }

  private mon(s: Sub, watch: Watch[]): number {
    this.checkTopics(watch.map((w) => w.top));
    if (s.mons.size >= LEDGER_MAX_MONITORS_PER_CONN) throw new PlexusError('TOO_LARGE', `more than ${LEDGER_MAX_MONITORS_PER_CONN} monitors`);
    const id = ++s.monSeq;
    s.mons.set(id, { id, watch, buf: [] });
    return id;
  }

  private unmon(s: Sub, id: number): boolean {
    return s.mons.delete(id);
  }

  /** evt.sat: publish each pending transaction (idempotent by tid), report each result, then (re)subscribe. */
  private async sat(s: Sub, token: string, body: string | undefined): Promise<void> {
    const req = decodeSat(decodeBody(body));
    this.checkTopics(req.tops);
    const results: SatResult[] = [];
    const own: Event[] = [];
    const ignoreRevs: Rev[] = [];
    for (const t of req.trans) {
      const tid = t.tid ?? '';
      try {
        // without a tid (a Go satellite) the transaction is published as evt does: not idempotent
        delete t.rev; // a local revision means nothing on the hub
        const r = await this.doPublish(s, t, { ignoreRevs });
        own.push(...r.evs);
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
    // the satellite gets its own events in the reply (they are newer than req.rev), others by push
    await this.catchUp(new Set(own.map((e) => e.id)), s.id);
    s.buf = [];
    const { body: u, more } = await this.sub(s, { rev: req.rev, tops: req.tops }, true);
    this.reply(s, 'evt.sat', token, { ...u, sat: results.map((r) => (r.rev !== undefined ? { tid: r.tid, rev: updateJson({ rev: r.rev }).rev } : r)) });
    for (const f of more) this.send(s, f);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.unlisten?.();
    await this.queue;
  }
}
