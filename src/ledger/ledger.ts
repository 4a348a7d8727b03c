import { PlexusError } from '../errors.js';
import { applyAction, nextRev, sigKey, type Action, type Arg, type Audit, type Event, type Rec, type Sig, type Trans, type TransInput } from './event.js';
import { now, ZERO_TIME, type Rev, type Time } from './time.js';
import type { EncodedEvent, TextPage } from './codec.js';

/** Result of a publish: the transaction's revision and its events (with ids), in action order. */
export interface PublishResult { rev: Rev; evs: Event[] }

/** An audit row as stored (with the transaction id when one was given). */
export interface AuditRow extends Audit { tid?: string }

/** A read-only event ledger with a projection of the latest state of every record. */
export interface Ledger {
  /** Latest event revision, ZERO_TIME when empty (for a satellite: the replicated hub revision). */
  rev(): Promise<Rev>;
  /** Events with rev > since, only of `tops` (all when empty), ordered by id. */
  events(since: Rev, tops?: readonly string[]): AsyncIterable<Event>;
  /** Optional: events() for a wire, each possibly with its JSON pre-encoded and no `arg` (see StoreLedger.eventsEncoded). */
  eventsEncoded?(since: Rev, tops?: readonly string[]): AsyncIterable<EncodedEvent>;
  /**
   * Optional: the events of events(since, tops) with afterId < id <= lastId, up to `limit`, as one text
   * (undefined when there are none): long catch-ups stream these pages without an object per event.
   */
  eventsTextPage?(since: Rev, tops: readonly string[], afterId: number, lastId: number, limit: number): Promise<TextPage | undefined>;
  /** Up to `limit` events with id > afterId, ordered by id (hubs catch up with this). */
  eventsAfterId(afterId: number, limit?: number): Promise<Event[]>;
  /** The highest event id (0 when empty). */
  lastEventId(): Promise<number>;
  /** The projected record, or undefined when absent (reads do not replay history). */
  get(top: string, key: string): Promise<Rec | undefined>;
  /** Every projected record of a topic, ordered by key. */
  list(top: string): Promise<Rec[]>;
  /** The state at revision `rev`, rebuilt from the events (ordered by topic, key). */
  at(rev: Rev, tops?: readonly string[]): Promise<Rec[]>;
  /** The audit row of a revision. */
  audit(rev: Rev): Promise<AuditRow | undefined>;
  /** Topics this ledger accepts (undefined = any). */
  readonly topics?: readonly string[];
  /** Called when another process appended events (PostgreSQL NOTIFY); returns an unsubscribe function. */
  onAppend?(fn: () => void): () => void;
  close(): Promise<void>;
}

/** A ledger that accepts transactions. */
export interface Publisher extends Ledger {
  /** Publish atomically (events, projection, audit row) or throw: INVALID_TRANS, CONFLICT, NOT_FOUND, DUPLICATE (known tid; detail.rev). */
  publish(trans: TransInput, opts?: PublishOptions): Promise<PublishResult>;
  /**
   * Optional: publish at once, synchronously, where a commit costs nothing (memory) and no other operation
   * is under way; undefined when it cannot (then use publish). Throws what publish would reject with.
   */
  publishNow?(trans: TransInput, opts?: PublishOptions): PublishResult | undefined;
}

export interface PublishOptions {
  /** Revisions whose events do not count as conflicts (a satellite's own earlier transactions of one batch). */
  ignoreRevs?: readonly Rev[];
  /**
   * The transaction's values are the ledger's from now on, and the caller will not change the events it
   * gets back either (the hub, for transactions it decoded from the wire): an in-memory store keeps
   * them as they are instead of copying them in and out.
   */
  owned?: boolean;
}

/** How a replicate call settles pending local transactions. */
export interface ReplicateResult {
  /** Pending local transactions that no longer apply on top of the hub state; they were rolled back. */
  rejected: Array<{ trans: Trans; error: PlexusError }>;
}

/** A ledger that applies events another ledger (the hub) already assigned. */
export interface Replicator extends Ledger {
  /**
   * Apply hub events (keeping hub ids and revisions) and advance the replicated rev to `rev`.
   * Pending locals listed in `settled` are dropped (accepted or rejected by the hub); the others are
   * re-applied on top (rebase) and reported as rejected when they no longer apply.
   */
  replicate(rev: Rev, evs: readonly Event[], settled?: readonly string[]): Promise<ReplicateResult>;
}

/** A replicator that also publishes locally while the hub is unreachable. */
export interface LocalPublisher extends Replicator {
  /** Latest local revision (>= rev()). */
  localRev(): Promise<Rev>;
  /** Apply to the local projection and queue as pending; events carry id 0 and the local revision. */
  publishLocal(trans: TransInput): Promise<PublishResult & { trans: Trans }>;
  /** Pending local transactions, oldest first (each with a tid). */
  locals(): Promise<Trans[]>;
}

/** A pending local transaction as stored, with the records it overwrote (to roll it back). */
export interface LocalRow { id: number; trans: Trans; undo: Array<{ top: string; key: string; prev: Rec | null }> }

/** Everything written by one ledger operation; a store applies it atomically. */
export interface WriteBatch {
  events?: Array<Omit<Event, 'id'> & { id?: number }>;
  audit?: AuditRow;
  recs?: Map<string, Rec | Sig & { gone: true }>;
  addLocal?: Omit<LocalRow, 'id'>;
  dropLocals?: number[];
  updateLocals?: LocalRow[];
  hubRev?: Rev;
  /** Its values belong to the store now (PublishOptions.owned): stored and returned as they are, not copied. */
  owned?: boolean;
}

/** Reads a store answers inside (or outside) a write transaction. */
export interface StoreReader {
  maxRev(): Promise<Rev>;
  auditByTid(tid: string): Promise<Rev | undefined>;
  /** True if (top,key) has an event with rev > base whose rev is not in `ignore`. */
  changedSince(sig: Sig, base: Rev, ignore: readonly Rev[]): Promise<boolean>;
  getRec(top: string, key: string): Promise<Rec | undefined>;
  /** Several records in one query (optional; stores with round trips implement it). */
  getRecs?(sigs: readonly Sig[]): Promise<Rec[]>;
  hasEvent(id: number): Promise<boolean>;
  locals(): Promise<LocalRow[]>;
  hubRev(): Promise<Rev>;
}

/** The reads one publish makes, answered synchronously (an embedded store, or a snapshot taken under the lock). */
export interface PublishReader {
  maxRev(): Rev;
  auditByTid(tid: string): Rev | undefined;
  changedSince(sig: Sig, base: Rev, ignore: readonly Rev[]): boolean;
  getRec(top: string, key: string): Rec | undefined;
}

/** The storage behind StoreLedger: one adapter per database. */
export interface LedgerStore {
  /** Run fn with exclusive write access (DB lock across processes where needed); fn ends with at most one write. */
  tx<T>(fn: (r: StoreReader, write: (b: WriteBatch) => Promise<Event[]>) => Promise<T>, hint?: { sigs: readonly Sig[] }): Promise<T>;
  reader(): StoreReader;
  eventsPage(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]>;
  /**
   * Optional: eventsPage with each event's wire JSON built from the stored JSON text (`json`, see
   * codec.eventText) instead of a parsed `arg` (the events carry no `arg`): catch-ups stream them as is.
   */
  eventsPageEncoded?(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<EncodedEvent[]>;
  /** Optional: Ledger.eventsTextPage. */
  eventsTextPage?(since: Rev, tops: readonly string[], afterId: number, lastId: number, limit: number): Promise<TextPage | undefined>;
  lastEventId(): Promise<number>;
  eventsUpTo(rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]>;
  listRecs(top: string): Promise<Rec[]>;
  /** Run fn so that a throw undoes only its own writes (SAVEPOINT); enables group commit. */
  savepoint?<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Optional synchronous tx (embedded stores): fn runs with exclusive write access and commits when it
   * returns, rolls back when it throws. With `savepointSync`, publishes run without awaiting the store.
   */
  txSync?<T>(fn: (r: PublishReader, write: (b: WriteBatch) => Event[]) => T): T;
  /** savepoint's synchronous twin (inside txSync). */
  savepointSync?<T>(fn: () => T): T;
  /**
   * Optional: true when a txSync commit costs nothing (memory): a publish then commits at once rather
   * than wait to share a group commit (StoreLedger.publishNow).
   */
  readonly freeCommit?: boolean;
  /**
   * Optional: a promise to await before the next write while the store catches up (SQLite: its WAL is
   * over its bound and a background checkpoint must run first); undefined when writes may go ahead.
   */
  room?(): Promise<void> | undefined;
  /** Optional one-round-trip publish with exactly StoreLedger.publish's rules (PostgreSQL: a stored function). */
  publish?(t: TransInput, now: Time, ignoreRevs: readonly Rev[]): Promise<Event[] & { rev?: Rev }>;
  /**
   * Optional group commit for `publish`: several publishes in one round trip and one commit, each atomic
   * and checked against the ones before it; one outcome per item, in order (a failed one wrote nothing).
   */
  publishGroup?(items: ReadonlyArray<{ t: TransInput; now: Time; ignoreRevs: readonly Rev[] }>): Promise<Array<{ ok: true; v: Event[] & { rev?: Rev } } | { ok: false; e: unknown }>>;
  audit(rev: Rev): Promise<AuditRow | undefined>;
  onAppend?(fn: () => void): () => void;
  close(): Promise<void>;
}

export interface LedgerOptions {
  /** Accept only these topics (others: NOT_FOUND "no model found for topic X"). Default: any. */
  topics?: readonly string[];
  /** Clock (tests). */
  clock?: () => Time;
}

const PAGE = 1000;
/** Most publishes one group commit takes (SQLite). */
const GROUP_COMMIT_MAX = 256;

function randomTid(): string {
  const b = new Uint8Array(12);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Records touched by one operation, read through to the store and overlaid with pending writes. */
class Overlay {
  readonly m = new Map<string, Rec | null>();
  constructor(private readonly r: StoreReader) {}
  async get(top: string, key: string): Promise<Rec | undefined> {
    const k = sigKey({ top, key });
    if (this.m.has(k)) return this.m.get(k) ?? undefined;
    const rec = await this.r.getRec(top, key);
    this.m.set(k, rec ?? null);
    return rec;
  }
  /** Load every record the actions touch in one query where the store can. */
  async prefetch(acts: readonly Sig[]): Promise<void> {
    if (!this.r.getRecs) return;
    const want = acts.filter((a) => !this.m.has(sigKey(a)));
    if (want.length < 1) return;
    for (const a of want) this.m.set(sigKey(a), null);
    for (const rec of await this.r.getRecs(want)) this.m.set(sigKey(rec), rec);
  }
  set(top: string, key: string, rec: Rec | null): void { this.m.set(sigKey({ top, key }), rec); }
  async apply(act: Action, rev: Rev): Promise<Rec | null> {
    const prev = await this.get(act.top, act.key);
    const next = applyAction(prev?.data, act);
    const rec = next === undefined ? null : { top: act.top, key: act.key, rev, data: next };
    this.set(act.top, act.key, rec);
    return prev ?? null;
  }
  /** Force a hub event onto the state (the hub is authoritative even where the local state disagrees). */
  async force(ev: Event): Promise<void> {
    const prev = await this.get(ev.top, ev.key);
    let data: Arg | undefined;
    try { data = applyAction(prev?.data, ev); } catch {
      data = ev.cmd === 'del' ? undefined : { ...(ev.cmd === 'mod' ? prev?.data : {}), ...(ev.arg ?? {}) };
    }
    this.set(ev.top, ev.key, data === undefined ? null : { top: ev.top, key: ev.key, rev: ev.rev, data });
  }
  batch(): Map<string, Rec | Sig & { gone: true }> { return recBatch(this.m); }
}

/** Touched records (null = absent) as a write batch's `recs`. */
function recBatch(m: Map<string, Rec | null>): Map<string, Rec | Sig & { gone: true }> {
  const out = new Map<string, Rec | Sig & { gone: true }>();
  for (const [k, v] of m) {
    if (v) out.set(k, v);
    else { const i = k.indexOf('\n'); out.set(k, { top: k.slice(0, i), key: k.slice(i + 1), gone: true }); }
  }
  return out;
}

/** True when applyDelta({}, d) would only copy d (no `k-` field deletes): a new record may then share it. */
function isPlainDelta(d: Arg): boolean {
  for (const k in d) if (k.length > 1 && k.endsWith('-') && Object.hasOwn(d, k)) return false;
  return true;
}

/** A publish with a non-zero base older than the ledger checks its records for later events. */
function needsConflictCheck(base: Rev, last: Rev): boolean {
  return base !== ZERO_TIME && base < last;
}

/** Everything StoreLedger.decide reads, read up front from an async store (inside its write transaction). */
async function snapshot(r: StoreReader, input: TransInput, opts: PublishOptions): Promise<PublishReader> {
  const tidRev = input.tid === undefined ? undefined : await r.auditByTid(input.tid);
  const last = await r.maxRev();
  const base = input.base ?? ZERO_TIME;
  const changed = new Set<string>();
  const recs = new Map<string, Rec | undefined>();
  const snap: PublishReader = {
    maxRev: () => last,
    auditByTid: () => tidRev,
    changedSince: (sig) => changed.has(sigKey(sig)),
    getRec: (top, key) => recs.get(sigKey({ top, key })),
  };
  if (tidRev !== undefined || base > last) return snap; // decide throws before it reads more
  if (needsConflictCheck(base, last)) {
    const checked = new Set<string>();
    for (const a of input.acts) {
      const k = sigKey(a);
      if (checked.has(k)) continue;
      checked.add(k);
      if (await r.changedSince(a, base, opts.ignoreRevs ?? [])) { changed.add(k); return snap; }
    }
  }
  const want: Sig[] = [];
  for (const a of input.acts) { const k = sigKey(a); if (!recs.has(k)) { recs.set(k, undefined); want.push({ top: a.top, key: a.key }); } }
  if (r.getRecs) { for (const rec of await r.getRecs(want)) recs.set(sigKey(rec), rec); }
  else for (const w of want) recs.set(sigKey(w), await r.getRec(w.top, w.key));
  return snap;
}

/** A publish waiting for the group commit, and what became of one inside a group. */
type Queued = { input: TransInput; opts: PublishOptions; resolve: (r: PublishResult) => void; reject: (e: unknown) => void };
type Outcome = { ok: true; v: PublishResult } | { ok: false; e: unknown };

/**
 * True for an error the database server reported for the statement (a five-character SQLSTATE, not a
 * connection failure): the statement, and with it its autocommit transaction, did not commit.
 */
function refusedByServer(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57') && !code.startsWith('58');
}

/** Resolve or reject each publish of a committed group with its own outcome. */
function settle(batch: Queued[], results: Outcome[]): void {
  batch.forEach((p, k) => { const x = results[k]!; if (x.ok) p.resolve(x.v); else p.reject(x.e); });
}

/**
 * The ledger logic (publish with optimistic concurrency and idempotent tids, projection, replication,
 * local publishing with rebase) written once over a LedgerStore. Adapters only store and query.
 */
export class StoreLedger implements Publisher, LocalPublisher {
  readonly topics?: readonly string[];
  private readonly topicSet?: Set<string>;
  private readonly clock: () => Time;
  private chain: Promise<unknown> = Promise.resolve();
  /** Operations queued on `chain` and not yet settled. */
  private busy = 0;
  private closed = false;

  constructor(protected readonly store: LedgerStore, opts: LedgerOptions = {}) {
    if (opts.topics) { this.topics = [...opts.topics]; this.topicSet = new Set(opts.topics); }
    this.clock = opts.clock ?? now;
    if (store.onAppend) this.onAppend = (fn) => store.onAppend!(fn);
    if (store.eventsTextPage) this.eventsTextPage = (since, tops, afterId, lastId, limit) => store.eventsTextPage!(since, tops, afterId, lastId, limit);
  }

  onAppend?(fn: () => void): () => void;
  eventsTextPage?(since: Rev, tops: readonly string[], afterId: number, lastId: number, limit: number): Promise<TextPage | undefined>;

  /** One operation at a time per process (the store adds a cross-process lock where needed). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PlexusError('CLOSED', 'ledger closed'));
    this.busy++;
    const p = this.chain.then(fn, fn);
    this.chain = p.then(() => { this.busy--; }, () => { this.busy--; });
    return p;
  }

  private checkActs(acts: readonly Action[]): void {
    if (!acts || acts.length === 0) throw new PlexusError('INVALID_TRANS', 'no actions');
    for (const a of acts) {
      if (this.topicSet && !this.topicSet.has(a.top)) throw new PlexusError('NOT_FOUND', `no model found for topic ${a.top}`, { detail: { top: a.top } });
      if (a.cmd !== 'new' && a.cmd !== 'mod' && a.cmd !== 'del') throw new PlexusError('INVALID_TRANS', `unexpected command ${a.cmd}`);
    }
  }

  /** True when the ledger accepts this topic. */
  knowsTopic(top: string): boolean {
    return !this.topicSet || this.topicSet.has(top);
  }

  rev(): Promise<Rev> { return this.store.reader().hubRev(); }

  async localRev(): Promise<Rev> {
    const r = this.store.reader();
    let rev = await r.hubRev();
    for (const l of await r.locals()) if (l.trans.rev > rev) rev = l.trans.rev;
    return rev;
  }

  async *events(since: Rev, tops: readonly string[] = []): AsyncIterable<Event> {
    let after = 0;
    for (;;) {
      const page = await this.store.eventsPage(since, tops, after, PAGE);
      for (const e of page) yield e;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.id;
    }
  }

  /**
   * events(), each with its wire JSON already encoded (`json`) and without `arg` where the store can
   * build it from stored text (SQLite); else the plain events. For streaming to a wire, not for reading.
   */
  async *eventsEncoded(since: Rev, tops: readonly string[] = []): AsyncIterable<EncodedEvent> {
    if (!this.store.eventsPageEncoded) { yield* this.events(since, tops); return; }
    let after = 0;
    for (;;) {
      const page = await this.store.eventsPageEncoded(since, tops, after, PAGE);
      for (const e of page) yield e;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.id;
    }
  }

  eventsAfterId(afterId: number, limit = PAGE): Promise<Event[]> {
    return this.store.eventsPage(ZERO_TIME - 1, [], afterId, limit);
  }

  lastEventId(): Promise<number> { return this.store.lastEventId(); }

  get(top: string, key: string): Promise<Rec | undefined> { return this.store.reader().getRec(top, key); }
  list(top: string): Promise<Rec[]> { return this.store.listRecs(top); }
  audit(rev: Rev): Promise<AuditRow | undefined> { return this.store.audit(rev); }

  async at(rev: Rev, tops: readonly string[] = []): Promise<Rec[]> {
    const state = new Map<string, Rec>();
    let after = 0;
    for (;;) {
      const page = await this.store.eventsUpTo(rev, tops, after, PAGE);
      for (const e of page) {
        const k = sigKey(e);
        const prev = state.get(k);
        let data: Arg | undefined;
        try { data = applyAction(prev?.data, e); } catch { data = e.cmd === 'del' ? undefined : { ...(prev?.data ?? {}), ...(e.arg ?? {}) }; }
        if (data === undefined) state.delete(k); else state.set(k, { top: e.top, key: e.key, rev: e.rev, data });
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    return [...state.values()].sort((a, b) => (a.top < b.top ? -1 : a.top > b.top ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  publish(input: TransInput, opts: PublishOptions = {}): Promise<PublishResult> {
    if (this.closed) return Promise.reject(new PlexusError('CLOSED', 'ledger closed'));
    try { this.checkActs(input.acts); } catch (err) { return Promise.reject(err); }
    const st = this.store;
    if (st.publish && st.publishGroup) {
      // group commit over round trips: publishes that arrive while a group is in flight go in the next one
      return new Promise<PublishResult>((resolve, reject) => {
        this.queued.push({ input, opts, resolve, reject });
        if (this.queued.length === 1) void this.serial(() => this.drainGroups()).catch(() => undefined);
      });
    }
    if (st.publish) {
      const fast = st.publish.bind(st);
      return this.serial(async () => {
        const evs = await fast(input, this.clock(), opts.ignoreRevs ?? []);
        return { rev: evs.rev!, evs: [...evs] };
      });
    }
    const sync = st.txSync !== undefined && st.savepointSync !== undefined;
    if (st.savepoint || sync) {
      // group commit: publishes queued while a commit is running (or in the same tick) share the next
      // commit, each in a savepoint; a lone one commits alone without a savepoint
      return new Promise<PublishResult>((resolve, reject) => {
        this.queued.push({ input, opts, resolve, reject });
        if (this.queued.length !== 1) return;
        // nothing else running: drain in a microtask, synchronously (no other operation can interleave)
        if (sync && this.busy === 0 && !st.room?.()) queueMicrotask(() => { if (this.drainSync()) void this.serial(() => this.drain()).catch(() => undefined); });
        else void this.serial(() => this.drain()).catch(() => undefined);
      });
    }
    return this.serial(() => this.store.tx((r, write) => this.publishIn(r, write, input, opts), { sigs: input.acts }));
  }

  /**
   * publish, done synchronously where the store's commits cost nothing (txSync and freeCommit) and no
   * other operation is queued or running; undefined otherwise (nothing done: call publish).
   */
  publishNow(input: TransInput, opts: PublishOptions = {}): PublishResult | undefined {
    const st = this.store;
    if (this.closed || !st.freeCommit || !st.txSync || this.busy !== 0 || this.queued.length !== 0) return undefined;
    this.checkActs(input.acts);
    return st.txSync((r, write) => this.publishSync(r, write, input, opts));
  }

  private queued: Queued[] = [];

  /**
   * Commit every queued publish through the store's one-round-trip publish: a lone one alone, more in
   * groups of at most GROUP_COMMIT_MAX (publishGroup). The queue is taken when the drain runs, so
   * publishes arriving while a group is in flight wait for the next group.
   */
  private async drainGroups(): Promise<void> {
    const st = this.store;
    while (this.queued.length) {
      const batch = this.queued.splice(0, GROUP_COMMIT_MAX);
      if (batch.length === 1) {
        const p = batch[0]!;
        try { const evs = await st.publish!(p.input, this.clock(), p.opts.ignoreRevs ?? []); p.resolve({ rev: evs.rev!, evs: [...evs] }); } catch (e) { p.reject(e); }
        continue;
      }
      let out;
      try { out = await st.publishGroup!(batch.map((p) => ({ t: p.input, now: this.clock(), ignoreRevs: p.opts.ignoreRevs ?? [] }))); } catch (e) {
        // the database refused the group as a whole (a value one of them holds that it cannot store): it
        // wrote nothing, so each is published alone and only the culprit fails; any other failure (the
        // connection) may have come after the commit, so none is retried
        if (!refusedByServer(e)) { for (const p of batch) p.reject(e); continue; }
        for (const p of batch) {
          try { const evs = await st.publish!(p.input, this.clock(), p.opts.ignoreRevs ?? []); p.resolve({ rev: evs.rev!, evs: [...evs] }); } catch (err) { p.reject(err); }
        }
        continue;
      }
      settle(batch, out.map((x) => (x.ok ? { ok: true as const, v: { rev: x.v.rev!, evs: [...x.v] } } : x)));
    }
  }

  /** Commit every queued publish, in groups of at most GROUP_COMMIT_MAX (async stores: one group per store tx). */
  private async drain(): Promise<void> {
    const st = this.store;
    if (st.txSync && st.savepointSync) {
      // wait while the store catches up (before the first group, and whenever drainSync stops for it)
      do { const wait = st.room?.(); if (wait) await wait; } while (this.drainSync());
      return;
    }
    while (this.queued.length) {
      const batch = this.queued.splice(0, GROUP_COMMIT_MAX);
      if (batch.length === 1) {
        // a lone publish needs no savepoint: a throw rolls the whole transaction back
        const p = batch[0]!;
        try { p.resolve(await st.tx((r, write) => this.publishIn(r, write, p.input, p.opts), { sigs: p.input.acts })); } catch (e) { p.reject(e); }
        continue;
      }
      const results: Outcome[] = [];
      try {
        await st.tx(async (r, write) => {
          for (const p of batch) {
            try { results.push({ ok: true, v: await st.savepoint!(() => this.publishIn(r, write, p.input, p.opts)) }); } catch (e) { results.push({ ok: false, e }); }
          }
        });
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      settle(batch, results);
    }
  }

  /**
   * drain for embedded stores: each group is one synchronous DB transaction (nothing awaited between
   * BEGIN and COMMIT). Returns true when it stopped after a group because the store asks writers to wait
   * (`room()`), with publishes still queued: the caller awaits it and drains again.
   */
  private drainSync(): boolean {
    const st = this.store;
    for (let first = true; this.queued.length; first = false) {
      if (!first && st.room?.()) return true;
      const batch = this.queued.splice(0, GROUP_COMMIT_MAX);
      if (batch.length === 1) {
        const p = batch[0]!;
        try { p.resolve(st.txSync!((r, write) => this.publishSync(r, write, p.input, p.opts))); } catch (e) { p.reject(e); }
        continue;
      }
      const results: Outcome[] = [];
      try {
        st.txSync!((r, write) => {
          for (const p of batch) {
            try { results.push({ ok: true, v: st.savepointSync!(() => this.publishSync(r, write, p.input, p.opts)) }); } catch (e) { results.push({ ok: false, e }); }
          }
        });
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      settle(batch, results);
    }
    return false;
  }

  /** One publish inside an open (async) store transaction: read what the rules need, then decide. */
  private async publishIn(r: StoreReader, write: (b: WriteBatch) => Promise<Event[]>, input: TransInput, opts: PublishOptions): Promise<PublishResult> {
    const { rev, batch } = this.decide(await snapshot(r, input, opts), input, opts);
    return { rev, evs: await write(batch) };
  }

  /** One publish inside an open synchronous store transaction. */
  private publishSync(r: PublishReader, write: (b: WriteBatch) => Event[], input: TransInput, opts: PublishOptions): PublishResult {
    const { rev, batch } = this.decide(r, input, opts);
    return { rev, evs: write(batch) };
  }

  /** The publish rules (written once): the revision and everything to write, or a typed error. */
  private decide(r: PublishReader, input: TransInput, opts: PublishOptions): { rev: Rev; batch: WriteBatch } {
    if (input.tid !== undefined) {
      const had = r.auditByTid(input.tid);
      if (had !== undefined) throw new PlexusError('DUPLICATE', `transaction ${input.tid} was already published`, { detail: { tid: input.tid, rev: had } });
    }
    const last = r.maxRev();
    const base = input.base ?? ZERO_TIME;
    if (base > last) throw new PlexusError('INVALID_TRANS', 'sanity check publish future base revision');
    const t = this.clock();
    const rev = nextRev(last, t);
    if (needsConflictCheck(base, last)) {
      const seen = new Set<string>();
      for (const a of input.acts) {
        const k = sigKey(a);
        if (seen.has(k)) continue;
        seen.add(k);
        if (r.changedSince(a, base, opts.ignoreRevs ?? [])) {
          throw new PlexusError('CONFLICT', `${a.top} ${a.key} changed after base revision`, { detail: { top: a.top, key: a.key } });
        }
      }
    }
    const recs = new Map<string, Rec | Sig & { gone: true }>();
    const events: WriteBatch['events'] & object = [];
    const owned = opts.owned === true;
    for (const a of input.acts) {
      const k = sigKey(a);
      const had = recs.get(k);
      const prev = had === undefined ? r.getRec(a.top, a.key) : 'gone' in had ? undefined : had;
      // an owned new record's data is its action's arg itself when applying it would only copy it
      const next = owned && a.cmd === 'new' && prev === undefined && a.arg !== undefined && isPlainDelta(a.arg) ? a.arg : applyAction(prev?.data, a);
      recs.set(k, next === undefined ? { top: a.top, key: a.key, gone: true } : { top: a.top, key: a.key, rev, data: next });
      // in the stored event's shape (id first), so an owned batch's events are stored as they are
      const e: Omit<Event, 'id'> & { id?: number } = { id: undefined, rev, top: a.top, key: a.key, cmd: a.cmd };
      if (a.arg !== undefined) e.arg = a.arg;
      events.push(e);
    }
    const audit: AuditRow = { rev, created: input.created ?? t, arrived: input.arrived ?? t };
    if (input.usr) audit.usr = input.usr;
    if (input.extra !== undefined) audit.extra = input.extra;
    if (input.tid !== undefined) audit.tid = input.tid;
    const batch: WriteBatch = { events, audit, recs, hubRev: rev };
    if (opts.owned) batch.owned = true;
    return { rev, batch };
  }

  replicate(rev: Rev, evs: readonly Event[], settled: readonly string[] = []): Promise<ReplicateResult> {
    return this.serial(() => this.store.tx(async (r, write) => {
      const locals = await r.locals();
      const ov = new Overlay(r);
      // roll back every pending local (newest first) ...
      for (let i = locals.length - 1; i >= 0; i--) {
        const undo = locals[i]!.undo;
        for (let j = undo.length - 1; j >= 0; j--) ov.set(undo[j]!.top, undo[j]!.key, undo[j]!.prev);
      }
      // ... apply the hub's events ...
      const fresh: Event[] = [];
      let hubRev = await r.hubRev();
      for (const e of [...evs].sort((a, b) => a.id - b.id)) {
        if (await r.hasEvent(e.id)) continue;
        await ov.force(e);
        fresh.push(e);
        if (e.rev > hubRev) hubRev = e.rev;
      }
      if (rev > hubRev) hubRev = rev;
      // ... and re-apply what is still pending (rebase).
      const drop = new Set(settled);
      const rejected: ReplicateResult['rejected'] = [];
      const dropLocals: number[] = [];
      const updateLocals: LocalRow[] = [];
      for (const l of locals) {
        if (l.trans.tid !== undefined && drop.has(l.trans.tid)) { dropLocals.push(l.id); continue; }
        const snapshot = new Map(ov.m);
        try {
          const undo: LocalRow['undo'] = [];
          for (const a of l.trans.acts) {
            const prev = await ov.apply(a, l.trans.rev);
            undo.push({ top: a.top, key: a.key, prev });
          }
          updateLocals.push({ ...l, undo });
        } catch (err) {
          ov.m.clear();
          for (const [k, v] of snapshot) ov.m.set(k, v);
          dropLocals.push(l.id);
          rejected.push({ trans: l.trans, error: err instanceof PlexusError ? err : new PlexusError('INTERNAL', String(err)) });
        }
      }
      await write({ events: fresh, recs: ov.batch(), dropLocals, updateLocals, hubRev });
      return { rejected };
    }));
  }

  async publishLocal(input: TransInput): Promise<PublishResult & { trans: Trans }> {
    this.checkActs(input.acts);
    return this.serial(() => this.store.tx(async (r, write) => {
      const hubRev = await r.hubRev();
      const locals = await r.locals();
      let last = hubRev;
      for (const l of locals) if (l.trans.rev > last) last = l.trans.rev;
      const t = this.clock();
      const rev = nextRev(last, t);
      const ov = new Overlay(r);
      const undo: LocalRow['undo'] = [];
      for (const a of input.acts) undo.push({ top: a.top, key: a.key, prev: await ov.apply(a, rev) });
      const trans: Trans = {
        id: 0, base: input.base ?? hubRev, rev, created: input.created ?? t, arrived: ZERO_TIME,
        acts: input.acts.map(copyAct), tid: input.tid ?? randomTid(),
      };
      if (input.usr) trans.usr = input.usr;
      if (input.extra !== undefined) trans.extra = input.extra;
      await write({ recs: ov.batch(), addLocal: { trans, undo } });
      return { rev, evs: trans.acts.map((a) => ({ id: 0, rev, ...a })), trans };
    }));
  }

  async locals(): Promise<Trans[]> {
    return (await this.store.reader().locals()).map((l) => l.trans);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.store.close();
  }
}

function copyAct(a: Action): Action {
  const o: Action = { top: a.top, key: a.key, cmd: a.cmd };
  if (a.arg !== undefined) o.arg = a.arg;
  return o;
}
