import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PlexusError } from '../../errors.js';
import type { ConflictResolution } from '../ham.js';
import { inSoulRange, resolveBatch, type GraphStore, type SoulRange, type StoredFieldText, type TextRead } from '../store.js';
import type { FieldState, FieldWrite, NodeFields, Value } from '../value.js';
import { SqliteGraphWriter, type GraphRow } from './sqlite-writer.js';

interface Row { field: string; value: string; state: number }

/**
 * SQLite GraphStore (better-sqlite3), the embedded default of `plexus serve`. WAL + synchronous=FULL:
 * a batch is on disk when `put` resolves, so an acked write survives a crash (process or power).
 * A file store commits on a worker thread (SqliteGraphWriter): `accept` resolves conflicts here at
 * once, keeps the accepted fields in memory until their commit is durable (reads see them) and lets the
 * relay answer reads while the fsync runs.
 */
export class SqliteGraphStore implements GraphStore {
  readonly path: string;
  #db: Database.Database;
  #getNode: Database.Statement<[string], Row>;
  #recent: Database.Statement<[number, number], string>;
  #getField: Database.Statement<[string, string], { value: string; state: number }>;
  #hasSoul: Database.Statement<[string], number>;
  #upsert: Database.Statement<[string, string, string, number]>;
  #defer: Database.Statement<[string, string, string, number]>;
  #due: Database.Statement<[number], { id: number; soul: string; field: string; value: string; state: number }>;
  #undefer: Database.Statement<[number]>;
  #next: Database.Statement<[], { s: number | null }>;
  /** readText: rows as arrays (cheaper than row objects), and a batch of reads in one read transaction. */
  #nodeText: Database.Statement<[string], [string, string, number]>;
  #fieldText: Database.Statement<[string, string], [string, number]>;
  #readTextTx: (reads: readonly TextRead[]) => (StoredFieldText[] | undefined)[];
  #putTx: (writes: readonly FieldWrite[], m: number) => ConflictResolution[];
  /** resolveBatch inside one read transaction: the store probes of a batch share one snapshot (one WAL read lock, not one per probe). */
  #resolveTx: (writes: readonly FieldWrite[], m: number, lookup: (s: string, f: string) => FieldState | undefined) => ReturnType<typeof resolveBatch>;
  #closed = false;
  /** Commits off the event loop (file stores; `worker: false` or ':memory:' commit inline). */
  #writer: SqliteGraphWriter | undefined;
  /** Accepted fields whose commit is not durable yet, by soul and field. */
  #pending = new Map<string, Map<string, FieldState>>();

  constructor(path: string, opts: { synchronous?: 'FULL' | 'NORMAL'; worker?: boolean } = {}) {
    this.path = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    this.#db.pragma('busy_timeout = 10000');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS graph_fields (soul TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, state REAL NOT NULL, PRIMARY KEY (soul, field)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS graph_deferred (id INTEGER PRIMARY KEY AUTOINCREMENT, soul TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, state REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS graph_deferred_state ON graph_deferred (state);
    `);
    this.#recent = this.#db.prepare('SELECT soul FROM (SELECT soul, state FROM graph_fields ORDER BY state DESC LIMIT ?) GROUP BY soul ORDER BY max(state) DESC LIMIT ?').pluck() as Database.Statement<[number, number], string>;
    this.#getNode = this.#db.prepare('SELECT field, value, state FROM graph_fields WHERE soul = ?');
    this.#getField = this.#db.prepare('SELECT value, state FROM graph_fields WHERE soul = ? AND field = ?');
    this.#hasSoul = this.#db.prepare('SELECT 1 FROM graph_fields WHERE soul = ? LIMIT 1').pluck() as Database.Statement<[string], number>;
    this.#upsert = this.#db.prepare('INSERT INTO graph_fields (soul, field, value, state) VALUES (?, ?, ?, ?) ON CONFLICT (soul, field) DO UPDATE SET value = excluded.value, state = excluded.state');
    this.#defer = this.#db.prepare('INSERT INTO graph_deferred (soul, field, value, state) VALUES (?, ?, ?, ?)');
    this.#due = this.#db.prepare('SELECT id, soul, field, value, state FROM graph_deferred WHERE state <= ? ORDER BY state, id');
    this.#undefer = this.#db.prepare('DELETE FROM graph_deferred WHERE id = ?');
    this.#next = this.#db.prepare('SELECT MIN(state) AS s FROM graph_deferred');
    this.#nodeText = (this.#db.prepare('SELECT field, value, state FROM graph_fields WHERE soul = ?') as Database.Statement<[string], [string, string, number]>).raw(true);
    this.#fieldText = (this.#db.prepare('SELECT value, state FROM graph_fields WHERE soul = ? AND field = ?') as Database.Statement<[string, string], [string, number]>).raw(true);
    this.#readTextTx = this.#db.transaction((reads: readonly TextRead[]) => reads.map((r) => this.#text(r)));
    this.#resolveTx = this.#db.transaction((writes: readonly FieldWrite[], m: number, lookup: (s: string, f: string) => FieldState | undefined) => resolveBatch(writes, m, lookup));
    if (path !== ':memory:' && path !== '' && opts.worker !== false) this.#writer = new SqliteGraphWriter(path, opts.synchronous ?? 'FULL');
    this.#putTx = this.#db.transaction((writes: readonly FieldWrite[], m: number) => {
      // one index probe per soul first: a soul with no stored field (a new node) needs no per-field reads
      const known = new Map<string, boolean>();
      const lookup = (s: string, f: string) => {
        let has = known.get(s);
        if (has === undefined) known.set(s, (has = this.#hasSoul.get(s) !== undefined));
        return has ? this.#read(s, f) : undefined;
      };
      const { resolutions, updates, deferred } = resolveBatch(writes, m, lookup);
      for (const w of updates) this.#upsert.run(w.soul, w.field, JSON.stringify(w.value), w.state);
      for (const w of deferred) this.#defer.run(w.soul, w.field, JSON.stringify(w.value), w.state);
      return resolutions;
    });
  }

  #check(): void {
    if (this.#closed) throw new PlexusError('CLOSED', 'graph store is closed');
  }

  #read(soul: string, field: string): FieldState | undefined {
    const p = this.#pending.get(soul)?.get(field);
    if (p) return p;
    const r = this.#getField.get(soul, field);
    return r && { value: JSON.parse(r.value) as Value, state: r.state };
  }

  /** Synchronous reads/writes (better-sqlite3 is synchronous; the relay uses these to skip a microtask). */
  getSync(soul: string): NodeFields | undefined {
    this.#check();
    const rows = this.#getNode.all(soul);
    const p = this.#pending.get(soul);
    if (rows.length === 0 && !p) return undefined;
    const out: NodeFields = new Map();
    for (const r of rows) out.set(r.field, { value: JSON.parse(r.value) as Value, state: r.state });
    if (p) for (const [f, st] of p) out.set(f, st);
    return out;
  }

  readText(reads: readonly TextRead[]): (StoredFieldText[] | undefined)[] {
    this.#check();
    // one read transaction for the batch: a snapshot, and the WAL read lock taken once rather than per statement
    return reads.length === 1 ? [this.#text(reads[0]!)] : this.#readTextTx(reads);
  }

  /** One read of readText: the stored rows as they are, with accepted fields not yet durable laid over them. */
  #text(r: TextRead): StoredFieldText[] | undefined {
    const p = this.#pending.get(r.soul);
    if (r.field !== undefined) {
      const held = p?.get(r.field);
      if (held) return [[r.field, JSON.stringify(held.value), held.state]];
      const row = this.#fieldText.get(r.soul, r.field);
      return row && [[r.field, row[0], row[1]]];
    }
    const rows: StoredFieldText[] = this.#nodeText.all(r.soul);
    if (!p) return rows.length ? rows : undefined;
    // as getSync: stored fields in their order, a held field replaces its row in place, new ones follow
    const at = new Map<string, number>();
    rows.forEach((x, i) => at.set(x[0], i));
    for (const [f, st] of p) {
      const x: StoredFieldText = [f, JSON.stringify(st.value), st.state];
      const i = at.get(f);
      if (i === undefined) rows.push(x); else rows[i] = x;
    }
    return rows;
  }

  async recentSouls(limit: number): Promise<string[]> {
    return this.#recent.all(limit * 16, limit);
  }

  async get(soul: string): Promise<NodeFields | undefined> {
    return this.getSync(soul);
  }

  async getField(soul: string, field: string): Promise<FieldState | undefined> {
    this.#check();
    return this.#read(soul, field);
  }

  /** Resolve and commit inline (only while no worker commit is pending: it would land after this one). */
  putSync(writes: readonly FieldWrite[], machineState: number): ConflictResolution[] {
    this.#check();
    if (this.#writer?.busy) throw new PlexusError('UNSUPPORTED', 'putSync while worker commits are pending; use put');
    return this.#putTx(writes, machineState);
  }

  accept(writes: readonly FieldWrite[], machineState: number): { resolutions: ConflictResolution[]; durable: Promise<void> } {
    this.#check();
    if (!this.#writer) return { resolutions: this.#putTx(writes, machineState), durable: Promise.resolve() };
    const known = new Map<string, boolean>();
    const lookup = (s: string, f: string) => {
      let has = known.get(s);
      if (has === undefined) known.set(s, (has = this.#pending.has(s) || this.#hasSoul.get(s) !== undefined));
      return has ? this.#read(s, f) : undefined;
    };
    const { resolutions, updates, deferred } = writes.length > 1 && writes[0]!.soul !== writes[writes.length - 1]!.soul ? this.#resolveTx(writes, machineState, lookup) : resolveBatch(writes, machineState, lookup);
    const rows: GraphRow[] = [];
    const held: Array<[string, string, FieldState]> = [];
    for (const w of updates) {
      rows.push([w.soul, w.field, JSON.stringify(w.value), w.state]);
      const st: FieldState = { value: w.value, state: w.state };
      let m = this.#pending.get(w.soul);
      if (!m) this.#pending.set(w.soul, (m = new Map()));
      m.set(w.field, st);
      held.push([w.soul, w.field, st]);
    }
    const drows: GraphRow[] = deferred.map((w) => [w.soul, w.field, JSON.stringify(w.value), w.state]);
    // once committed (or failed) the stored row is the truth again, unless a later write replaced it
    const release = () => {
      for (const [s, f, st] of held) {
        const m = this.#pending.get(s);
        if (m?.get(f) === st) { m.delete(f); if (m.size === 0) this.#pending.delete(s); }
      }
    };
    const durable = rows.length || drows.length ? this.#writer.write(rows, drows).then(release, (err: unknown) => { release(); throw err; }) : Promise.resolve();
    return { resolutions, durable };
  }

  async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    const { resolutions, durable } = this.accept(writes, machineState);
    await durable;
    return resolutions;
  }

  async souls(q: SoulRange): Promise<string[]> {
    this.#check();
    // SQLite compares TEXT as UTF-8 bytes; the final filter and sort are JavaScript's (UTF-16) order
    const where: string[] = [], args: (string | number)[] = [];
    const lo = [q.prefix, q.from, q.reverse ? undefined : q.after].filter((x): x is string => x !== undefined);
    if (q.prefix !== undefined) { where.push('substr(soul, 1, length(?)) = ?'); args.push(q.prefix, q.prefix); }
    for (const b of lo) { where.push('soul >= ?'); args.push(b); }
    if (q.to !== undefined) { where.push('soul <= ?'); args.push(q.to); }
    if (q.reverse && q.after !== undefined) { where.push('soul <= ?'); args.push(q.after); }
    const sql = `SELECT DISTINCT soul FROM graph_fields${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY soul ${q.reverse ? 'DESC' : 'ASC'} LIMIT ?`;
    const rows = this.#db.prepare(sql).all(...args, Math.max(0, q.limit) + 1) as { soul: string }[];
    const out = rows.map((r) => r.soul).filter((s) => inSoulRange(q, s)).sort();
    if (q.reverse) out.reverse();
    return out.slice(0, Math.max(0, q.limit));
  }

  async applyDue(machineState: number): Promise<FieldWrite[]> {
    this.#check();
    await this.#writer?.idle(); // deferred rows handed to the worker are in the table first
    this.#check();
    return this.#db.transaction(() => {
      const rows = this.#due.all(machineState);
      if (rows.length === 0) return [];
      const due = rows.map((r) => ({ soul: r.soul, field: r.field, value: JSON.parse(r.value) as Value, state: r.state }));
      const { updates } = resolveBatch(due, machineState, (s, f) => this.#read(s, f));
      for (const w of updates) this.#upsert.run(w.soul, w.field, JSON.stringify(w.value), w.state);
      for (const r of rows) this.#undefer.run(r.id);
      return updates;
    })();
  }

  async nextDue(): Promise<number | undefined> {
    this.#check();
    await this.#writer?.idle();
    this.#check();
    return this.#next.get()?.s ?? undefined;
  }

  /** Number of stored nodes (for stats). */
  countSouls(): number {
    return (this.#db.prepare('SELECT COUNT(DISTINCT soul) AS n FROM graph_fields').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer?.close();
    this.#db.close();
  }
}
