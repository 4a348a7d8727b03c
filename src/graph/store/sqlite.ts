import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PlexusError } from '../../errors.js';
import { isUpdate, resolveStored, type ConflictResolution } from '../ham.js';
import { inSoulRange, resolveBatch, type GraphStore, type SoulRange, type StoredFieldText, type TextRead } from '../store.js';
import type { FieldState, FieldWrite, NodeFields, Value } from '../value.js';
import { RECENT_FIELDS_PER_SOUL, RECENT_SOULS_SQL, recentSoulsOffThread } from './sqlite-recent.js';
import { ROW_RESOLUTIONS, SqliteGraphWriter, type FlatRows, type GraphRow } from './sqlite-writer.js';

interface Row { field: string; value: string; state: number }

/** An accepted field not durable yet: its value, state and JSON text (what HAM compares on a state tie). */
interface Held extends FieldState { json: string }

/** gun's HAM order of two versions of a field (see resolveConflict): true when (state, json) wins over (curState, curJson). */
const beats = (state: number, json: string, curState: number, curJson: string) => isUpdate(resolveStored(state, json, curState, curJson));

/**
 * SQLite GraphStore (better-sqlite3), the embedded default of `plexus serve`. WAL + synchronous=FULL:
 * a batch is on disk when `put` resolves, so an acked write survives a crash (process or power).
 * A file store commits on a worker thread (SqliteGraphWriter): `accept` keeps the accepted fields in
 * memory until their commit is durable (reads see them, HAM applied against the stored field as they
 * read) and hands them to the worker, which resolves conflicts against its own connection and commits,
 * so the relay answers reads while the fsync runs and never reads the files to find that a soul is new.
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
  #closed = false;
  /** Commits off the event loop (file stores; `worker: false` or ':memory:' commit inline). */
  #writer: SqliteGraphWriter | undefined;
  /** Accepted fields whose commit is not durable yet, by soul and field: of several, the one HAM ranks highest. */
  #pending = new Map<string, Map<string, Held>>();

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
    this.#recent = this.#db.prepare(RECENT_SOULS_SQL).pluck() as Database.Statement<[number, number], string>;
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

  /** The stored field, or the accepted one not durable yet where HAM ranks it higher. */
  #read(soul: string, field: string): FieldState | undefined {
    const p = this.#pending.get(soul)?.get(field);
    const r = this.#getField.get(soul, field);
    if (p && (!r || beats(p.state, p.json, r.state, r.value))) return { value: p.value, state: p.state };
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
    if (!p) return out;
    const at = new Map<string, Row>();
    for (const r of rows) at.set(r.field, r);
    for (const [f, h] of p) {
      const r = at.get(f);
      if (!r || beats(h.state, h.json, r.state, r.value)) out.set(f, { value: h.value, state: h.state });
    }
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
      const row = this.#fieldText.get(r.soul, r.field);
      if (held && (!row || beats(held.state, held.json, row[1], row[0]))) return [[r.field, held.json, held.state]];
      return row && [[r.field, row[0], row[1]]];
    }
    const rows: StoredFieldText[] = this.#nodeText.all(r.soul);
    if (!p) return rows.length ? rows : undefined;
    // as getSync: stored fields in their order, a held field that wins replaces its row in place, new ones follow
    const at = new Map<string, number>();
    rows.forEach((x, i) => at.set(x[0], i));
    for (const [f, h] of p) {
      const i = at.get(f);
      if (i === undefined) rows.push([f, h.json, h.state]);
      else if (beats(h.state, h.json, rows[i]![2], rows[i]![1])) rows[i] = [f, h.json, h.state];
    }
    return rows.length ? rows : undefined;
  }

  /** A file store reads them on a thread of its own (a scan of every field); ':memory:' inline. */
  async recentSouls(limit: number): Promise<string[]> {
    this.#check();
    if (this.#writer) return recentSoulsOffThread(this.path, limit);
    return this.#recent.all(limit * RECENT_FIELDS_PER_SOUL, limit);
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

  accept(writes: readonly FieldWrite[], machineState: number): { durable: Promise<ConflictResolution[]> } {
    this.#check();
    if (!this.#writer) return { durable: Promise.resolve(this.#putTx(writes, machineState)) };
    // a state beyond the machine's is deferred whatever is stored (resolveConflict's first rule); every other
    // write goes to the worker, which resolves it against the stored field and the writes handed over before it
    const resolutions = new Array<ConflictResolution>(writes.length);
    const rows: FlatRows = [], drows: GraphRow[] = [], sent: number[] = [];
    const held: Array<[string, string, Held]> = [];
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!, json = JSON.stringify(w.value);
      if (w.state > machineState) { resolutions[i] = 'too-future-deferred'; drows.push([w.soul, w.field, json, w.state]); continue; }
      rows.push(w.soul, w.field, json, w.state);
      sent.push(i);
      let m = this.#pending.get(w.soul);
      if (!m) this.#pending.set(w.soul, (m = new Map()));
      const cur = m.get(w.field);
      if (cur && !beats(w.state, json, cur.state, cur.json)) continue;
      const h: Held = { value: w.value, state: w.state, json };
      m.set(w.field, h);
      held.push([w.soul, w.field, h]);
    }
    // once committed (or failed) the stored row is the truth again, unless a later write replaced it
    const release = () => {
      for (const [s, f, h] of held) {
        const m = this.#pending.get(s);
        if (m?.get(f) === h) { m.delete(f); if (m.size === 0) this.#pending.delete(s); }
      }
    };
    if (!rows.length && !drows.length) return { durable: Promise.resolve(resolutions) };
    const durable = this.#writer.write(rows, drows).then((codes) => {
      release();
      for (let j = 0; j < sent.length; j++) resolutions[sent[j]!] = ROW_RESOLUTIONS[codes[j]!]!;
      return resolutions;
    }, (err: unknown) => { release(); throw err; });
    return { durable };
  }

  async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    return this.accept(writes, machineState).durable;
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
    if (this.#writer) {
      // on the worker, in its place after the batches handed over before (never an fsync on this thread)
      const flat = await this.#writer.applyDue(machineState);
      const out: FieldWrite[] = [];
      for (let i = 0; i < flat.length; i += 4) out.push({ soul: flat[i] as string, field: flat[i + 1] as string, value: JSON.parse(flat[i + 2] as string) as Value, state: flat[i + 3] as number });
      return out;
    }
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
    if (this.#writer) return this.#writer.nextDue(); // after the deferred rows handed over before are stored
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
