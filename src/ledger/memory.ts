import { setField, type Arg, type Event, type Rec, type Sig } from './event.js';
import { StoreLedger, type AuditRow, type LedgerOptions, type LedgerStore, type LocalRow, type PublishReader, type StoreReader, type WriteBatch } from './ledger.js';
import { ZERO_TIME, type Rev } from './time.js';

/** A deep copy of plain JSON-like data (events, records, audit rows): much cheaper than structuredClone. */
function clone<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const o: Record<string, unknown> = {};
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) setField(o, k, clone((v as Record<string, unknown>)[k]));
  return o as T;
}

/**
 * What the memory store keeps per (top, key): its record's data and revision (data undefined: no record)
 * and the revisions of its events (conflict checks): the latest, and the earlier ones only when there are.
 */
interface SigState { data: Arg | undefined; rev: Rev; last: Rev; older: Rev[] | undefined }

/** SigState.last of a signature without events. */
const NO_REV = -Infinity;

/** The optional fields of an audit row (most rows have none). */
type AuditMore = Pick<AuditRow, 'usr' | 'extra' | 'tid'>;

/** Copy the optional audit fields `from` has into `to` (`extra` deep-copied when `cloneExtra`); returns `to`. */
function copyMore<T extends AuditMore>(from: AuditMore, to: T, cloneExtra: boolean): T {
  if (from.usr !== undefined) to.usr = from.usr;
  if (from.extra !== undefined) to.extra = cloneExtra ? clone(from.extra) : from.extra;
  if (from.tid !== undefined) to.tid = from.tid;
  return to;
}

/**
 * In-memory storage (browser-safe). Writes of one operation are applied at once, so a failure leaves nothing.
 * Events and audit rows are kept in columns (numbers unboxed, no object per event or row): everything a
 * memory ledger gets lives as long as it does, and each retained object costs the collector (it is
 * allocated in, or promoted to, the old generation); events and rows are built when read.
 */
export class MemoryStore implements LedgerStore {
  /** Every event, in id order, one column per field. */
  private ids: number[] = [];
  private revs: Rev[] = [];
  private tops: string[] = [];
  private keys: string[] = [];
  private cmds: string[] = [];
  private args: Array<Arg | undefined> = [];
  /**
   * Per topic, per key: its SigState. Two levels keyed by the strings as they came (no `top\nkey` string
   * built, flattened and hashed per look-up: a key's hash is computed once and kept by the string), and a
   * topic's records are listed without a scan.
   */
  private sigs = new Map<string, Map<string, SigState>>();
  /** Audit rows in revision order (publishes append: revisions only grow), one column per field. */
  private aRevs: Rev[] = [];
  private aCreated: number[] = [];
  private aArrived: number[] = [];
  private aMore: Array<AuditMore | undefined> = [];
  private tids = new Map<string, Rev>();
  private localRows: LocalRow[] = [];
  private nextLocal = 1;
  private lastRev: Rev = ZERO_TIME;
  private replicated: Rev = ZERO_TIME;

  private readonly r: StoreReader = {
    maxRev: async () => this.lastRev,
    auditByTid: async (tid) => this.tids.get(tid),
    changedSince: async (sig: Sig, base, ignore) => this.changed(sig, base, ignore),
    getRec: async (top, key) => { const r = this.rec(top, key); if (r) r.data = clone(r.data); return r; },
    hasEvent: async (id) => this.indexOfId(id) >= 0,
    locals: async () => this.localRows.map((l) => clone(l)),
    hubRev: async () => (this.replicated > this.lastRev ? this.replicated : this.lastRev),
  };

  /**
   * The synchronous reads of a publish (StoreLedger.decide only reads records, it never mutates them:
   * applyDelta copies, and apply clones what it stores), so the data is not copied here.
   */
  private readonly s: PublishReader = {
    maxRev: () => this.lastRev,
    auditByTid: (tid) => this.tids.get(tid),
    changedSince: (sig, base, ignore) => this.changed(sig, base, ignore),
    getRec: (top, key) => this.rec(top, key),
  };

  /** The record of (top, key) as a Rec sharing the stored data, or undefined. */
  private rec(top: string, key: string): Rec | undefined {
    const st = this.sigs.get(top)?.get(key);
    return st === undefined || st.data === undefined ? undefined : { top, key, rev: st.rev, data: st.data };
  }

  private changed(sig: Sig, base: Rev, ignore: readonly Rev[]): boolean {
    const st = this.sigs.get(sig.top)?.get(sig.key);
    if (st === undefined) return false;
    if (st.last > base && !ignore.includes(st.last)) return true;
    return st.older !== undefined && st.older.some((rv) => rv > base && !ignore.includes(rv));
  }

  /** The state of (top, key), made when missing. */
  private state(top: string, key: string): SigState {
    let byKey = this.sigs.get(top);
    if (byKey === undefined) this.sigs.set(top, (byKey = new Map()));
    let st = byKey.get(key);
    if (st === undefined) byKey.set(key, (st = { data: undefined, rev: ZERO_TIME, last: NO_REV, older: undefined }));
    return st;
  }

  /** The event at position i (its arg copied: the store never hands out its own). */
  private eventAt(i: number): Event {
    const e: Event = { id: this.ids[i]!, rev: this.revs[i]!, top: this.tops[i]!, key: this.keys[i]!, cmd: this.cmds[i]! };
    const arg = this.args[i];
    if (arg !== undefined) e.arg = clone(arg);
    return e;
  }

  /** Position of the first event with an id above `id` (ids ascending). */
  private after(id: number): number {
    let lo = 0, hi = this.ids.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.ids[mid]! <= id) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** Position of the event with this id, or -1. */
  private indexOfId(id: number): number {
    const i = this.after(id - 1);
    return i < this.ids.length && this.ids[i] === id ? i : -1;
  }

  /** Position of the audit row of this revision in the audit columns (sorted by rev), or where it goes. */
  private auditAt(rev: Rev): number {
    let lo = 0, hi = this.aRevs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.aRevs[mid]! < rev) lo = mid + 1; else hi = mid; }
    return lo;
  }

  reader(): StoreReader { return this.r; }

  /** A commit is a function call: publishes need not wait to share one. */
  readonly freeCommit = true;

  /**
   * Publishes run synchronously, so StoreLedger commits the ones queued in one turn as a group without a
   * promise each. A publish writes once, as its last step, and apply cannot fail half way (plain JSON
   * data), so there is nothing to roll back: a publish that throws has written nothing.
   */
  txSync<T>(fn: (r: PublishReader, write: (b: WriteBatch) => Event[]) => T): T {
    return fn(this.s, (b) => this.apply(b));
  }

  savepointSync<T>(fn: () => T): T { return fn(); }

  async tx<T>(fn: (r: StoreReader, write: (b: WriteBatch) => Promise<Event[]>) => Promise<T>): Promise<T> {
    return fn(this.r, async (b) => this.apply(b));
  }

  private apply(b: WriteBatch): Event[] {
    const out: Event[] = [];
    // an owned batch's values are the store's: kept as they are, and its events returned as they came
    const own = b.owned === true;
    const n = this.ids.length;
    let last = n ? this.ids[n - 1]! : 0;
    let sorted = true;
    for (const e of b.events ?? []) {
      const id = e.id ?? ++last;
      if (id > last) last = id;
      if (this.ids.length && id < this.ids[this.ids.length - 1]!) sorted = false;
      const arg = e.arg === undefined || own ? e.arg : clone(e.arg);
      this.ids.push(id); this.revs.push(e.rev); this.tops.push(e.top); this.keys.push(e.key); this.cmds.push(e.cmd); this.args.push(arg);
      let ev: Event;
      if (own) { e.id = id; ev = e as Event; } else {
        // a copy: the caller keeps its objects, the store never hands out its own
        ev = { id, rev: e.rev, top: e.top, key: e.key, cmd: e.cmd };
        if (arg !== undefined) ev.arg = clone(arg);
      }
      out.push(ev);
      const st = this.state(e.top, e.key);
      if (st.last !== NO_REV) (st.older ??= []).push(st.last);
      st.last = e.rev;
      if (e.rev > this.lastRev) this.lastRev = e.rev;
    }
    if (!sorted) this.sortEvents();
    if (b.audit) {
      const a = b.audit;
      const more: AuditMore | undefined = a.usr === undefined && a.extra === undefined && a.tid === undefined ? undefined : copyMore(a, {}, !own);
      const k = this.aRevs.length;
      if (k === 0 || this.aRevs[k - 1]! < a.rev) {
        this.aRevs.push(a.rev); this.aCreated.push(a.created); this.aArrived.push(a.arrived); this.aMore.push(more);
      } else {
        const i = this.auditAt(a.rev);
        const del = this.aRevs[i] === a.rev ? 1 : 0;
        this.aRevs.splice(i, del, a.rev); this.aCreated.splice(i, del, a.created); this.aArrived.splice(i, del, a.arrived); this.aMore.splice(i, del, more);
      }
      if (a.tid !== undefined) this.tids.set(a.tid, a.rev);
    }
    if (b.recs) for (const v of b.recs.values()) {
      if ('gone' in v) { const st = this.sigs.get(v.top)?.get(v.key); if (st) st.data = undefined; }
      else { const st = this.state(v.top, v.key); st.data = own ? v.data : clone(v.data); st.rev = v.rev; }
    }
    if (b.dropLocals?.length) { const d = new Set(b.dropLocals); this.localRows = this.localRows.filter((l) => !d.has(l.id)); }
    for (const u of b.updateLocals ?? []) {
      const i = this.localRows.findIndex((l) => l.id === u.id);
      if (i >= 0) this.localRows[i] = clone(u);
    }
    if (b.addLocal) {
      const id = this.nextLocal++;
      b.addLocal.trans.id = id;
      this.localRows.push(clone({ ...b.addLocal, id, trans: { ...b.addLocal.trans, id } }));
    }
    if (b.hubRev !== undefined && b.hubRev > this.replicated) this.replicated = b.hubRev;
    return out;
  }

  /** Put the event columns back in id order (after events with ids of their own came in out of order). */
  private sortEvents(): void {
    const order = this.ids.map((_, i) => i).sort((x, y) => this.ids[x]! - this.ids[y]!);
    const by = <T>(col: T[]): T[] => order.map((i) => col[i]!);
    this.ids = by(this.ids); this.revs = by(this.revs); this.tops = by(this.tops); this.keys = by(this.keys); this.cmds = by(this.cmds); this.args = by(this.args);
  }

  async eventsPage(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan(since, true, tops, afterId, limit);
  }

  async eventsUpTo(rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan(rev, false, tops, afterId, limit);
  }

  /** Events with id > afterId and rev > `rev` (above) or rev <= `rev` (not above), of `tops` (all when empty). */
  private scan(rev: Rev, above: boolean, tops: readonly string[], afterId: number, limit: number): Event[] {
    const t = tops.length ? new Set(tops) : undefined;
    const out: Event[] = [];
    for (let i = this.after(afterId); i < this.ids.length && out.length < limit; i++) {
      const r = this.revs[i]!;
      if ((above ? r > rev : r <= rev) && (!t || t.has(this.tops[i]!))) out.push(this.eventAt(i));
    }
    return out;
  }

  async lastEventId(): Promise<number> { return this.ids.length ? this.ids[this.ids.length - 1]! : 0; }

  async listRecs(top: string): Promise<Rec[]> {
    const out: Rec[] = [];
    for (const [key, st] of this.sigs.get(top) ?? []) if (st.data !== undefined) out.push({ top, key, rev: st.rev, data: st.data });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(clone);
  }

  async audit(rev: Rev): Promise<AuditRow | undefined> {
    const i = this.auditAt(rev);
    if (this.aRevs[i] !== rev) return undefined;
    const a: AuditRow = { rev, created: this.aCreated[i]!, arrived: this.aArrived[i]! };
    const more = this.aMore[i];
    return more ? copyMore(more, a, true) : a;
  }
  async close(): Promise<void> {}
}

/** A ledger in memory: the hub's test double and a browser satellite's local ledger. */
export class MemoryLedger extends StoreLedger {
  constructor(opts: LedgerOptions = {}) {
    super(new MemoryStore(), opts);
  }
}
