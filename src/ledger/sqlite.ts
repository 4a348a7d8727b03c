import Database from 'better-sqlite3';
import { PlexusError } from '../errors.js';
import { LEDGER_SQLITE_CHECKPOINT_PAGES, LEDGER_SQLITE_WAL_MAX_PAGES } from '../limits.js';
import { SqliteCheckpointer } from '../sqlite-checkpointer.js';
import type { Arg, Event, Rec } from './event.js';
import { StoreLedger, type AuditRow, type LedgerOptions, type LedgerStore, type LocalRow, type PublishReader, type StoreReader, type WriteBatch } from './ledger.js';
import { formatTime, ZERO_TIME, type Rev } from './time.js';
import type { EncodedEvent, TextPage } from './codec.js';

// The audit fields of a published transaction live on its first event row (created is NOT NULL exactly
// there): one b-tree less to write per publish than a separate audit table. Replicated hub events carry
// no audit fields, as before.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS evt_event (id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, top TEXT NOT NULL, key TEXT NOT NULL, cmd TEXT NOT NULL, arg TEXT,
  created REAL, arrived REAL, usr TEXT, extra TEXT, tid TEXT);
CREATE INDEX IF NOT EXISTS evt_event_sig ON evt_event (top, key);
CREATE TABLE IF NOT EXISTS evt_record (top TEXT NOT NULL, key TEXT NOT NULL, rev INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (top, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evt_local (id INTEGER PRIMARY KEY AUTOINCREMENT, trans TEXT NOT NULL, undo TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evt_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/**
 * An event row's wire JSON (codec.eventText) in SQL: NULL when its revision is not whole milliseconds
 * within years 0001-9999 (formatTime's range). `rev` is ms since 1970; the fraction is Go's (trailing zeros trimmed).
 */
const EVENT_JSON_SQL = `CASE WHEN typeof(rev) = 'integer' AND rev BETWEEN -62135596800000 AND 253402300799999 THEN
  '{"id":' || id || ',"rev":"' || strftime('%Y-%m-%dT%H:%M:%S', (rev - (rev % 1000 + 1000) % 1000) / 1000, 'unixepoch')
  || CASE WHEN (rev % 1000 + 1000) % 1000 = 0 THEN 'Z' ELSE rtrim(printf('.%03d', (rev % 1000 + 1000) % 1000), '0') || 'Z' END
  || '","top":' || json_quote(top) || ',"key":' || json_quote(key) || ',"cmd":' || json_quote(cmd) || coalesce(',"arg":' || arg, '') || '}' END`;
/**
 * A page of events in id order (parameters: after id, up to id, `n` topics, limit). `+top`: walk the ids
 * (the page order) instead of the (top, key) index, which would sort every matching event of the topic
 * for each page: a catch-up of a big topic would be quadratic.
 */
function pageSql(n: number, columns: string): string {
  const topCond = n ? ` AND +top IN (${Array.from({ length: n }, () => '?').join(',')})` : '';
  return `SELECT ${columns} FROM evt_event WHERE id > ? AND id <= ?${topCond} ORDER BY id LIMIT ?`;
}
/** Created after the migration below (a file from before has evt_event without the tid column). */
const TID_INDEX = 'CREATE UNIQUE INDEX IF NOT EXISTS evt_event_tid ON evt_event (tid) WHERE tid IS NOT NULL';
const AUDIT_COLUMNS = ['created REAL', 'arrived REAL', 'usr TEXT', 'extra TEXT', 'tid TEXT'];

/**
 * Bring a ledger file written before audit rows moved onto events up to date (once, under the write
 * lock): add the columns, copy each evt_audit row onto its transaction's first event, drop evt_audit.
 * Returns true when evt_audit rows without events remain (never written by plexus; still readable).
 */
function migrate(db: Database.Database): boolean {
  db.prepare('BEGIN IMMEDIATE').run();
  try {
    const cols = new Set((db.prepare('PRAGMA table_info(evt_event)').all() as Array<{ name: string }>).map((c) => c.name));
    for (const c of AUDIT_COLUMNS) if (!cols.has(c.split(' ')[0]!)) db.exec(`ALTER TABLE evt_event ADD COLUMN ${c}`);
    db.exec(TID_INDEX);
    let legacy = false;
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evt_audit'").get()) {
      db.exec(`UPDATE evt_event SET created = a.created, arrived = a.arrived, usr = a.usr, extra = a.extra, tid = a.tid
        FROM (SELECT min(id) AS id, rev FROM evt_event GROUP BY rev) f JOIN evt_audit a ON a.rev = f.rev WHERE evt_event.id = f.id`);
      db.exec('DELETE FROM evt_audit WHERE rev IN (SELECT rev FROM evt_event WHERE created IS NOT NULL)');
      if (db.prepare('SELECT 1 FROM evt_audit LIMIT 1').get()) legacy = true;
      else db.exec('DROP TABLE evt_audit');
    }
    db.prepare('COMMIT').run();
    return legacy;
  } catch (err) {
    if (db.inTransaction) db.prepare('ROLLBACK').run();
    throw err;
  }
}

interface EventRow { id: number; rev: number; top: string; key: string; cmd: string; arg: string | null }

function toEvent(r: EventRow): Event {
  const e: Event = { id: r.id, rev: r.rev, top: r.top, key: r.key, cmd: r.cmd };
  if (r.arg !== null) e.arg = JSON.parse(r.arg) as Arg;
  return e;
}

/** SqliteLedger tuning (tests, benchmarks); the defaults are the limits in src/limits.ts. */
export interface SqliteLedgerOptions extends LedgerOptions {
  /**
   * SQLite's synchronous setting. NORMAL (default): a committed publish survives a crash of the process,
   * a power loss may undo the last ones. FULL: the WAL is fsynced at every commit (one per group), so an
   * acknowledged publish survives a power loss too.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** Pages committed after which a background WAL checkpoint starts (LEDGER_SQLITE_CHECKPOINT_PAGES). */
  checkpointPages?: number;
  /** WAL pages after which publishes wait for a checkpoint (LEDGER_SQLITE_WAL_MAX_PAGES). */
  walMaxPages?: number;
}

/**
 * Pages a write batch dirties, estimated (the checkpointer measures the WAL at each checkpoint): per
 * event its row and its (top, key) index entry, the tid index entry, the projection rows, the local rows,
 * and one for the b-tree and header pages a commit touches now and then (measured: ~4.25 a publish).
 */
function pagesOf(b: WriteBatch): number {
  const evs = b.events?.length ?? 0;
  return 1 + 2 * evs + (b.audit?.tid !== undefined ? 1 : 0) + (b.recs?.size ?? 0) + (b.addLocal ? 1 : 0)
    + (b.dropLocals?.length ?? 0) + (b.updateLocals?.length ?? 0) + (b.hubRev !== undefined && !b.audit ? 1 : 0);
}

/**
 * SQLite storage (better-sqlite3, WAL). One write transaction at a time across processes (BEGIN IMMEDIATE).
 * A file's WAL checkpoints run on a worker thread (SqliteCheckpointer), not inside a publish's COMMIT.
 */
class SqliteStore implements LedgerStore {
  private readonly db: Database.Database;
  /** Background checkpoints (file databases only: ':memory:' has no WAL). */
  private readonly ckpt: SqliteCheckpointer | undefined;
  private readonly q;
  private readonly r: StoreReader;
  private readonly s: PublishReader;
  /** evt_audit rows that could not be moved onto events remain (see migrate); read them too. */
  private readonly legacyAudit: boolean;

  constructor(path: string, opts: SqliteLedgerOptions = {}) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 10000');
    if (path !== ':memory:' && path !== '') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.ckpt = new SqliteCheckpointer(path, {
        checkpointPages: opts.checkpointPages ?? LEDGER_SQLITE_CHECKPOINT_PAGES,
        walMaxPages: opts.walMaxPages ?? LEDGER_SQLITE_WAL_MAX_PAGES,
      });
    }
    this.db.exec(SCHEMA);
    this.legacyAudit = migrate(this.db);
    const p = (s: string) => this.db.prepare(s);
    this.q = {
      begin: p('BEGIN IMMEDIATE'), commit: p('COMMIT'), rollback: p('ROLLBACK'),
      save: p('SAVEPOINT evt_pub'), release: p('RELEASE evt_pub'), undo: p('ROLLBACK TO evt_pub'),
      // revisions increase with ids in every ledger (publish computes them under the write lock; a
      // replica applies hub events in hub id order), so the latest is the last row's and a revision
      // bound is found by binary search over ids: no index on rev to maintain on every append
      maxRev: p('SELECT rev AS r FROM evt_event ORDER BY id DESC LIMIT 1'),
      idAtOrAfter: p('SELECT id, rev FROM evt_event WHERE id >= ? ORDER BY id LIMIT 1'),
      maxId: p('SELECT max(id) AS m FROM evt_event'),
      meta: p("SELECT value FROM evt_meta WHERE name = 'hubRev'"),
      setMeta: p("INSERT INTO evt_meta (name, value) VALUES ('hubRev', ?) ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)"),
      tid: p('SELECT rev FROM evt_event WHERE tid = ?'),
      legacyTid: this.legacyAudit ? p('SELECT rev FROM evt_audit WHERE tid = ?') : undefined,
      changed: p('SELECT rev FROM evt_event WHERE top = ? AND key = ? AND rev > ?'),
      getRec: p('SELECT rev, data FROM evt_record WHERE top = ? AND key = ?'),
      hasEvent: p('SELECT 1 FROM evt_event WHERE id = ?'),
      locals: p('SELECT id, trans, undo FROM evt_local ORDER BY id'),
      insEvent: p('INSERT INTO evt_event (id, rev, top, key, cmd, arg) VALUES (?, ?, ?, ?, ?, ?)'),
      insAudited: p('INSERT INTO evt_event (rev, top, key, cmd, arg, created, arrived, usr, extra, tid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      putRec: p('INSERT INTO evt_record (top, key, rev, data) VALUES (?, ?, ?, ?) ON CONFLICT (top, key) DO UPDATE SET rev = excluded.rev, data = excluded.data'),
      delRec: p('DELETE FROM evt_record WHERE top = ? AND key = ?'),
      insLocal: p('INSERT INTO evt_local (trans, undo) VALUES (?, ?)'),
      setLocalTrans: p('UPDATE evt_local SET trans = ? WHERE id = ?'),
      updLocal: p('UPDATE evt_local SET undo = ? WHERE id = ?'),
      delLocal: p('DELETE FROM evt_local WHERE id = ?'),
      listRecs: p('SELECT top, key, rev, data FROM evt_record WHERE top = ? ORDER BY key'),
      // the first event at or after the bound is the transaction's first one (it holds the audit fields)
      audit: p('SELECT rev, created, arrived, usr, extra, tid FROM evt_event WHERE id >= ? ORDER BY id LIMIT 1'),
      legacyAudit: this.legacyAudit ? p('SELECT rev, created, arrived, usr, extra, tid FROM evt_audit WHERE rev = ?') : undefined,
    };
    const q = this.q;
    const s: PublishReader = this.s = {
      // inside the write transaction nobody else writes: read once, then kept by write
      maxRev: () => {
        if (this.txRev !== undefined) return this.txRev;
        const r = (q.maxRev.get() as { r: number } | undefined)?.r ?? ZERO_TIME;
        if (this.db.inTransaction) this.txRev = r;
        return r;
      },
      auditByTid: (tid) => ((q.tid.get(tid) ?? q.legacyTid?.get(tid)) as { rev: number } | undefined)?.rev,
      changedSince: (sig, base, ignore) => (q.changed.all(sig.top, sig.key, base) as Array<{ rev: number }>).some((x) => !ignore.includes(x.rev)),
      getRec: (top, key) => {
        const row = q.getRec.get(top, key) as { rev: number; data: string } | undefined;
        return row ? { top, key, rev: row.rev, data: JSON.parse(row.data) as Arg } : undefined;
      },
    };
    this.r = {
      maxRev: async () => s.maxRev(),
      auditByTid: async (tid) => s.auditByTid(tid),
      changedSince: async (sig, base, ignore) => s.changedSince(sig, base, ignore),
      getRec: async (top, key) => s.getRec(top, key),
      hasEvent: async (id) => q.hasEvent.get(id) !== undefined,
      locals: async () => (q.locals.all() as Array<{ id: number; trans: string; undo: string }>).map((l) => ({ id: l.id, trans: { ...JSON.parse(l.trans), id: l.id }, undo: JSON.parse(l.undo) }) as LocalRow),
      hubRev: async () => {
        const m = (q.meta.get() as { value: number } | undefined)?.value ?? ZERO_TIME;
        const e = (q.maxRev.get() as { r: number } | undefined)?.r ?? ZERO_TIME;
        return m > e ? m : e;
      },
    };
  }

  reader(): StoreReader { return this.r; }

  room(): Promise<void> | undefined { return this.ckpt?.room(); }

  async tx<T>(fn: (r: StoreReader, write: (b: WriteBatch) => Promise<Event[]>) => Promise<T>): Promise<T> {
    const wait = this.room();
    if (wait) await wait;
    this.begin();
    try {
      const out = await fn(this.r, async (b) => this.write(b));
      this.commit();
      return out;
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  txSync<T>(fn: (r: PublishReader, write: (b: WriteBatch) => Event[]) => T): T {
    this.begin();
    try {
      const out = fn(this.s, (b) => this.write(b));
      this.commit();
      return out;
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** BEGIN, counting the pages this transaction writes for the checkpointer. */
  private begin(): void {
    this.q.begin.run();
    this.pages = 0;
    this.txRev = undefined;
  }

  /** The latest event's revision while a write transaction is open (see the publish reader's maxRev); undefined: read it. */
  private txRev: Rev | undefined;

  /** COMMIT, then tell the checkpointer what went into the WAL. */
  private commit(): void {
    this.txRev = undefined;
    this.q.commit.run();
    this.ckpt?.wrote(this.pages);
  }

  private abort(): void {
    this.txRev = undefined;
    if (this.db.inTransaction) this.q.rollback.run();
  }

  savepointSync<T>(fn: () => T): T {
    this.q.save.run();
    try {
      const out = fn();
      this.q.release.run();
      return out;
    } catch (err) {
      this.txRev = undefined;
      this.q.undo.run();
      this.q.release.run();
      throw err;
    }
  }

  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    this.q.save.run();
    try {
      const out = await fn();
      this.q.release.run();
      return out;
    } catch (err) {
      this.txRev = undefined;
      this.q.undo.run();
      this.q.release.run();
      throw err;
    }
  }

  /** Pages the open transaction wrote (estimated, see pagesOf; a rolled-back savepoint's count too). */
  private pages = 0;

  private write(b: WriteBatch): Event[] {
    const q = this.q;
    if (this.ckpt) this.pages += pagesOf(b);
    const out: Event[] = [];
    const evs = b.events ?? [];
    const a = b.audit;
    if (a && (evs.length === 0 || evs[0]!.rev !== a.rev || evs[0]!.id !== undefined)) throw new PlexusError('INTERNAL', 'an audit row needs its new events');
    for (let i = 0; i < evs.length; i++) {
      const e = evs[i]!;
      const arg = e.arg === undefined ? null : JSON.stringify(e.arg);
      const r = i === 0 && a
        ? q.insAudited.run(e.rev, e.top, e.key, e.cmd, arg, a.created, a.arrived, a.usr ?? null, a.extra === undefined ? null : JSON.stringify(a.extra), a.tid ?? null)
        : q.insEvent.run(e.id ?? null, e.rev, e.top, e.key, e.cmd, arg);
      const ev: Event = { id: Number(r.lastInsertRowid), rev: e.rev, top: e.top, key: e.key, cmd: e.cmd };
      if (e.arg !== undefined) ev.arg = e.arg;
      out.push(ev);
    }
    // events with new ids are the last rows now; one with an id of its own may not be (read maxRev again)
    if (evs.length) this.txRev = evs.some((e) => e.id !== undefined) ? undefined : evs[evs.length - 1]!.rev;
    for (const v of (b.recs ?? new Map()).values()) {
      if ('gone' in v) q.delRec.run(v.top, v.key);
      else q.putRec.run(v.top, v.key, v.rev, JSON.stringify(v.data));
    }
    for (const id of b.dropLocals ?? []) q.delLocal.run(id);
    for (const l of b.updateLocals ?? []) q.updLocal.run(JSON.stringify(l.undo), l.id);
    if (b.addLocal) {
      const r = q.insLocal.run(JSON.stringify(b.addLocal.trans), JSON.stringify(b.addLocal.undo));
      b.addLocal.trans.id = Number(r.lastInsertRowid);
    }
    if (b.hubRev !== undefined && !a) q.setMeta.run(b.hubRev);
    return out;
  }

  /** The smallest id whose event has rev > `rev` (maxId + 1 when none), by binary search over ids. */
  private firstIdAfterRev(rev: Rev): number {
    const maxId = (this.q.maxId.get() as { m: number | null }).m ?? 0;
    let lo = 0, hi = maxId + 1; // invariant: every event with id < lo has rev <= rev; id >= hi has rev > rev
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.q.idAtOrAfter.get(mid) as { id: number; rev: number } | undefined;
      if (!row || row.id >= hi) { hi = mid; continue; }
      if (row.rev > rev) hi = row.id; else lo = row.id + 1;
    }
    return lo;
  }

  async eventsPage(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    const from = Math.max(afterId, this.firstIdAfterRev(since) - 1);
    return this.scan(from, Infinity, tops, limit);
  }

  /** firstIdAfterRev, remembered: the pages of one catch-up share `since`, so its first id is searched once. */
  private firstIdAfter(since: Rev): number {
    if (since === this.firstAfter.rev) return this.firstAfter.id;
    const first = this.firstIdAfterRev(since);
    if (first <= ((this.q.maxId.get() as { m: number | null }).m ?? 0)) this.firstAfter = { rev: since, id: first };
    return first;
  }

  /** The last firstIdAfterRev answer that found an event (stable: later events have later ids and revisions). */
  private firstAfter = { rev: NaN, id: 0 };

  async eventsPageEncoded(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<EncodedEvent[]> {
    const from = Math.max(afterId, this.firstIdAfter(since) - 1);
    // the stored arg is JSON.stringify output, which encoding the parsed value again reproduces exactly;
    // rows as arrays (raw): half the cost of row objects for a long catch-up
    const rows = this.statement(tops.length, true).all(from, Number.MAX_SAFE_INTEGER, ...tops, limit) as Array<[number, number, string, string, string, string | null]>;
    const out: EncodedEvent[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const [id, rev, top, key, cmd, arg] = rows[i]!;
      out[i] = { id, rev, top, key, cmd, json: '{"id":' + id + ',"rev":"' + formatTime(rev) + '","top":' + JSON.stringify(top) + ',"key":' + JSON.stringify(key)
        + ',"cmd":' + JSON.stringify(cmd) + (arg === null ? '' : ',"arg":' + arg) + '}' };
    }
    return out;
  }

  /** The page statements of eventsTextPage by number of topics. */
  private readonly textScans = new Map<number, Database.Statement>();

  async eventsTextPage(since: Rev, tops: readonly string[], afterId: number, lastId: number, limit: number): Promise<TextPage | undefined> {
    const from = Math.max(afterId, this.firstIdAfter(since) - 1);
    const n = tops.length;
    let st = this.textScans.get(n);
    if (!st) {
      // each event's wire JSON built by SQLite, as eventsPageEncoded builds it (a property test holds the
      // two equal); a revision formatTime would write differently (not whole ms in 0001-9999) gives NULL
      st = this.db.prepare(`SELECT group_concat(j, ',' ORDER BY id), count(j), count(*), max(id), rev FROM (${pageSql(n, `id, rev, ${EVENT_JSON_SQL} AS j`)})`).raw(true);
      if (n <= 8) this.textScans.set(n, st);
    }
    const [json, built, count, last, lastRev] = st.get(from, lastId, ...tops, limit) as [string | null, number, number, number | null, number | null];
    if (count === 0 || last === null || lastRev === null) return undefined;
    if (built === count) return { json: json!, count, lastId: last, lastRev };
    // a revision SQL does not format: the same page built event by event
    const evs = await this.eventsPageEncoded(since, tops, from, count);
    return { json: evs.map((e) => e.json!).join(','), count, lastId: last, lastRev };
  }

  async eventsUpTo(rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan(afterId, this.firstIdAfterRev(rev) - 1, tops, limit);
  }

  /** Page statements by number of topics. */
  private readonly scans = new Map<number, Database.Statement>();

  private scan(afterId: number, lastId: number, tops: readonly string[], limit: number): Event[] {
    return this.rows(afterId, lastId, tops, limit).map(toEvent);
  }

  private rows(afterId: number, lastId: number, tops: readonly string[], limit: number): EventRow[] {
    return this.statement(tops.length, false).all(afterId, Number.isFinite(lastId) ? lastId : Number.MAX_SAFE_INTEGER, ...tops, limit) as EventRow[];
  }

  /** The page statement for `n` topics (rows as objects, or as arrays when `raw`). */
  private statement(n: number, raw: boolean): Database.Statement {
    const k = raw ? -1 - n : n;
    let st = this.scans.get(k);
    if (!st) {
      st = this.db.prepare(pageSql(n, 'id, rev, top, key, cmd, arg'));
      if (raw) st.raw(true);
      if (n <= 8) this.scans.set(k, st);
    }
    return st;
  }

  async lastEventId(): Promise<number> { return (this.db.prepare('SELECT max(id) AS m FROM evt_event').get() as { m: number | null }).m ?? 0; }

  async listRecs(top: string): Promise<Rec[]> {
    return (this.q.listRecs.all(top) as Array<{ top: string; key: string; rev: number; data: string }>).map((r) => ({ top: r.top, key: r.key, rev: r.rev, data: JSON.parse(r.data) as Arg }));
  }

  async audit(rev: Rev): Promise<AuditRow | undefined> {
    type Row = { rev: number; created: number | null; arrived: number; usr: string | null; extra: string | null; tid: string | null };
    let r = this.q.audit.get(this.firstIdAfterRev(rev - 1)) as Row | undefined;
    if (!r || r.rev !== rev || r.created === null) r = this.q.legacyAudit?.get(rev) as Row | undefined;
    if (!r || r.created === null) return undefined;
    const a: AuditRow = { rev: r.rev, created: r.created, arrived: r.arrived };
    if (r.usr) a.usr = r.usr;
    if (r.extra !== null) a.extra = JSON.parse(r.extra) as Arg;
    if (r.tid !== null) a.tid = r.tid;
    return a;
  }

  async close(): Promise<void> {
    await this.ckpt?.close();
    this.db.close();
  }
}

/** The embedded default ledger: SQLite file at `path` (`:memory:` for tests). */
export class SqliteLedger extends StoreLedger {
  constructor(path: string, opts: SqliteLedgerOptions = {}) {
    super(new SqliteStore(path, opts), opts);
  }
}
