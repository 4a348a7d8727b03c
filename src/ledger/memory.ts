import { sigKey, type Event, type Rec, type Sig } from './event.js';
import { StoreLedger, type AuditRow, type LedgerOptions, type LedgerStore, type LocalRow, type PublishReader, type StoreReader, type WriteBatch } from './ledger.js';
import { ZERO_TIME, type Rev } from './time.js';

/** A deep copy of plain JSON-like data (events, records, audit rows): much cheaper than structuredClone. */
function clone<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const o: Record<string, unknown> = {};
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) o[k] = clone((v as Record<string, unknown>)[k]);
  return o as T;
}

/** In-memory storage (browser-safe). Writes of one operation are applied at once, so a failure leaves nothing. */
export class MemoryStore implements LedgerStore {
  private evs: Event[] = [];
  private ids = new Set<number>();
  private bySig = new Map<string, Rev[]>();
  private audits = new Map<Rev, AuditRow>();
  private tids = new Map<string, Rev>();
  private recs = new Map<string, Rec>();
  private localRows: LocalRow[] = [];
  private nextLocal = 1;
  private lastRev: Rev = ZERO_TIME;
  private replicated: Rev = ZERO_TIME;

  private readonly r: StoreReader = {
    maxRev: async () => this.lastRev,
    auditByTid: async (tid) => this.tids.get(tid),
    changedSince: async (sig: Sig, base, ignore) => (this.bySig.get(sigKey(sig)) ?? []).some((rv) => rv > base && !ignore.includes(rv)),
    getRec: async (top, key) => clone(this.recs.get(sigKey({ top, key }))),
    hasEvent: async (id) => this.ids.has(id),
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
    changedSince: (sig, base, ignore) => (this.bySig.get(sigKey(sig)) ?? []).some((rv) => rv > base && !ignore.includes(rv)),
    getRec: (top, key) => this.recs.get(sigKey({ top, key })),
  };

  reader(): StoreReader { return this.r; }

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
    let last = this.evs.length ? this.evs[this.evs.length - 1]!.id : 0;
    for (const e of b.events ?? []) {
      const ev = clone({ ...e, id: e.id ?? ++last }) as Event;
      if (ev.id > last) last = ev.id;
      out.push(ev);
    }
    for (const ev of out) {
      this.evs.push(ev);
      this.ids.add(ev.id);
      const k = sigKey(ev);
      const l = this.bySig.get(k);
      if (l) l.push(ev.rev); else this.bySig.set(k, [ev.rev]);
      if (ev.rev > this.lastRev) this.lastRev = ev.rev;
    }
    if (out.some((e, i) => i > 0 && e.id < out[i - 1]!.id) || (this.evs.length > out.length && out.length && out[0]!.id < this.evs[this.evs.length - out.length - 1]!.id)) {
      this.evs.sort((a, c) => a.id - c.id);
    }
    if (b.audit) {
      this.audits.set(b.audit.rev, clone(b.audit));
      if (b.audit.tid !== undefined) this.tids.set(b.audit.tid, b.audit.rev);
    }
    for (const [k, v] of b.recs ?? []) {
      if ('gone' in v) this.recs.delete(k); else this.recs.set(k, clone(v));
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
    return out.map((e) => clone(e));
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
    return [...this.recs.values()].filter((r) => r.top === top).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(clone);
  }

  async audit(rev: Rev): Promise<AuditRow | undefined> { return clone(this.audits.get(rev)); }
  async close(): Promise<void> {}
}

/** A ledger in memory: the hub's test double and a browser satellite's local ledger. */
export class MemoryLedger extends StoreLedger {
  constructor(opts: LedgerOptions = {}) {
    super(new MemoryStore(), opts);
  }
}
