import { setField, type Event, type Rec, type Sig } from './event.js';
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

/** What the memory store keeps per (top, key). */
interface SigState { revs: Rev[]; rec?: Rec }

/** In-memory storage (browser-safe). Writes of one operation are applied at once, so a failure leaves nothing. */
export class MemoryStore implements LedgerStore {
  /** Every event, in id order. */
  private evs: Event[] = [];
  /**
   * Per topic, per key: the revisions of its events (conflict checks) and its current record. Two levels
   * keyed by the strings as they came (no `top\nkey` string built, flattened and hashed per look-up: a
   * key's hash is computed once and kept by the string), and a topic's records are listed without a scan.
   */
  private sigs = new Map<string, Map<string, SigState>>();
  /** Audit rows in revision order (publishes append: revisions only grow). */
  private audits: AuditRow[] = [];
  private tids = new Map<string, Rev>();
  private localRows: LocalRow[] = [];
  private nextLocal = 1;
  private lastRev: Rev = ZERO_TIME;
  private replicated: Rev = ZERO_TIME;

  private readonly r: StoreReader = {
    maxRev: async () => this.lastRev,
    auditByTid: async (tid) => this.tids.get(tid),
    changedSince: async (sig: Sig, base, ignore) => this.changed(sig, base, ignore),
    getRec: async (top, key) => clone(this.sigs.get(top)?.get(key)?.rec),
    hasEvent: async (id) => this.indexOfId(id) >= 0,
    locals: async () => this.localRows.map((l) => clone(l)),
    hubRev: async () => (this.replicated > this.lastRev ? this.replicated : this.lastRev),
  };

  /**
   * The synchronous reads of a publish (StoreLedger.decide only reads records, it never mutates them:
   * applyDelta copies, and apply clones what it stores), so no copy is made here.
   */
  private readonly s: PublishReader = {
    maxRev: () => this.lastRev,
    auditByTid: (tid) => this.tids.get(tid),
    changedSince: (sig, base, ignore) => this.changed(sig, base, ignore),
    getRec: (top, key) => this.sigs.get(top)?.get(key)?.rec,
  };

  private changed(sig: Sig, base: Rev, ignore: readonly Rev[]): boolean {
    const revs = this.sigs.get(sig.top)?.get(sig.key)?.revs;
    return revs !== undefined && revs.some((rv) => rv > base && !ignore.includes(rv));
  }

  /** The state of (top, key), made when missing. */
  private state(top: string, key: string): SigState {
    let byKey = this.sigs.get(top);
    if (byKey === undefined) this.sigs.set(top, (byKey = new Map()));
    let st = byKey.get(key);
    if (st === undefined) byKey.set(key, (st = { revs: [] }));
    return st;
  }

  /** Position of the event with this id in evs (sorted by id), or -1. */
  private indexOfId(id: number): number {
    let lo = 0, hi = this.evs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.evs[mid]!.id < id) lo = mid + 1; else hi = mid; }
    return lo < this.evs.length && this.evs[lo]!.id === id ? lo : -1;
  }

  /** Position of the audit row of this revision in audits (sorted by rev), or where it goes. */
  private auditAt(rev: Rev): number {
    let lo = 0, hi = this.audits.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.audits[mid]!.rev < rev) lo = mid + 1; else hi = mid; }
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
    const evs = this.evs;
    // an owned batch's values are the store's: kept as they are, and its events returned as stored
    const own = b.owned === true;
    let last = evs.length ? evs[evs.length - 1]!.id : 0;
    const first = evs.length;
    for (const e of b.events ?? []) {
      let ev: Event;
      if (own) { e.id ??= ++last; ev = e as Event; } else {
        // a copy: the caller keeps its objects, the store never hands out its own
        ev = { id: e.id ?? ++last, rev: e.rev, top: e.top, key: e.key, cmd: e.cmd };
        if (e.arg !== undefined) ev.arg = clone(e.arg);
      }
      if (ev.id > last) last = ev.id;
      out.push(ev);
      evs.push(ev);
      this.state(ev.top, ev.key).revs.push(ev.rev);
      if (ev.rev > this.lastRev) this.lastRev = ev.rev;
    }
    let sorted = true;
    for (let i = Math.max(first, 1); i < evs.length && sorted; i++) if (evs[i]!.id < evs[i - 1]!.id) sorted = false;
    if (!sorted) evs.sort((a, c) => a.id - c.id);
    if (b.audit) {
      const a = own ? b.audit : clone(b.audit);
      const n = this.audits.length;
      if (n === 0 || this.audits[n - 1]!.rev < a.rev) this.audits.push(a);
      else { const i = this.auditAt(a.rev); if (this.audits[i]?.rev === a.rev) this.audits[i] = a; else this.audits.splice(i, 0, a); }
      if (a.tid !== undefined) this.tids.set(a.tid, a.rev);
    }
    if (b.recs) for (const v of b.recs.values()) {
      if ('gone' in v) { const st = this.sigs.get(v.top)?.get(v.key); if (st) delete st.rec; }
      else this.state(v.top, v.key).rec = own ? v : clone(v);
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
    return own ? out : out.map((e) => clone(e));
  }

  async eventsPage(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan((e) => e.rev > since, tops, afterId, limit);
  }

  async eventsUpTo(rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan((e) => e.rev <= rev, tops, afterId, limit);
  }

  private scan(ok: (e: Event) => boolean, tops: readonly string[], afterId: number, limit: number): Event[] {
    const t = tops.length ? new Set(tops) : undefined;
    let lo = 0, hi = this.evs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.evs[mid]!.id <= afterId) lo = mid + 1; else hi = mid; }
    const out: Event[] = [];
    for (let i = lo; i < this.evs.length && out.length < limit; i++) {
      const e = this.evs[i]!;
      if (ok(e) && (!t || t.has(e.top))) out.push(clone(e));
    }
    return out;
  }

  async lastEventId(): Promise<number> { return this.evs.length ? this.evs[this.evs.length - 1]!.id : 0; }

  async listRecs(top: string): Promise<Rec[]> {
    const out: Rec[] = [];
    for (const st of this.sigs.get(top)?.values() ?? []) if (st.rec !== undefined) out.push(st.rec);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(clone);
  }

  async audit(rev: Rev): Promise<AuditRow | undefined> {
    const a = this.audits[this.auditAt(rev)];
    return a?.rev === rev ? clone(a) : undefined;
  }
  async close(): Promise<void> {}
}

/** A ledger in memory: the hub's test double and a browser satellite's local ledger. */
export class MemoryLedger extends StoreLedger {
  constructor(opts: LedgerOptions = {}) {
    super(new MemoryStore(), opts);
  }
}
