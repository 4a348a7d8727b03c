import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PlexusError } from '../../errors.js';
import type { ConflictResolution } from '../ham.js';
import { resolveBatch, type GraphStore } from '../store.js';
import type { FieldState, FieldWrite, NodeFields, Value } from '../value.js';

interface Row { field: string; value: string; state: number }

/**
 * SQLite GraphStore (better-sqlite3), the embedded default of `plexus serve`. WAL + synchronous=FULL:
 * a batch is on disk when `put` resolves, so an acked write survives a crash (process or power).
 */
export class SqliteGraphStore implements GraphStore {
  readonly path: string;
  #db: Database.Database;
  #getNode: Database.Statement<[string], Row>;
  #recent: Database.Statement<[number, number], string>;
  #getField: Database.Statement<[string, string], { value: string; state: number }>;
  #hasSoul: Database.Statement<[string], { x: number }>;
  #upsert: Database.Statement<[string, string, string, number]>;
  #defer: Database.Statement<[string, string, string, number]>;
  #due: Database.Statement<[number], { id: number; soul: string; field: string; value: string; state: number }>;
  #undefer: Database.Statement<[number]>;
  #next: Database.Statement<[], { s: number | null }>;
  #putTx: (writes: readonly FieldWrite[], m: number) => ConflictResolution[];
  #closed = false;

  constructor(path: string, opts: { synchronous?: 'FULL' | 'NORMAL' } = {}) {
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
    this.#hasSoul = this.#db.prepare('SELECT 1 AS x FROM graph_fields WHERE soul = ? LIMIT 1');
    this.#upsert = this.#db.prepare('INSERT INTO graph_fields (soul, field, value, state) VALUES (?, ?, ?, ?) ON CONFLICT (soul, field) DO UPDATE SET value = excluded.value, state = excluded.state');
    this.#defer = this.#db.prepare('INSERT INTO graph_deferred (soul, field, value, state) VALUES (?, ?, ?, ?)');
    this.#due = this.#db.prepare('SELECT id, soul, field, value, state FROM graph_deferred WHERE state <= ? ORDER BY state, id');
    this.#undefer = this.#db.prepare('DELETE FROM graph_deferred WHERE id = ?');
    this.#next = this.#db.prepare('SELECT MIN(state) AS s FROM graph_deferred');
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
    const r = this.#getField.get(soul, field);
    return r && { value: JSON.parse(r.value) as Value, state: r.state };
  }

  /** Synchronous reads/writes (better-sqlite3 is synchronous; the relay uses these to skip a microtask). */
  getSync(soul: string): NodeFields | undefined {
    this.#check();
    const rows = this.#getNode.all(soul);
    if (rows.length === 0) return undefined;
    const out: NodeFields = new Map();
    for (const r of rows) out.set(r.field, { value: JSON.parse(r.value) as Value, state: r.state });
    return out;
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

  putSync(writes: readonly FieldWrite[], machineState: number): ConflictResolution[] {
    this.#check();
    return this.#putTx(writes, machineState);
  }

  async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    return this.putSync(writes, machineState);
  }

  async applyDue(machineState: number): Promise<FieldWrite[]> {
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
    return this.#next.get()?.s ?? undefined;
  }

  /** Number of stored nodes (for stats). */
  countSouls(): number {
    return (this.#db.prepare('SELECT COUNT(DISTINCT soul) AS n FROM graph_fields').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
