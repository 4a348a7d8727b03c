import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PlexusError } from '../../errors.js';
import { parseRef, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { PutResult } from '../store.js';
import { RootPointerStore, rootFromColumn } from '../bs/anchor-map.js';
import { anchorCount } from './bs-layout.js';
import { pagedRefs } from './paged.js';

const PAGE = 1000;

/**
 * bs v0.4.5's store/sqlite3 schema, as its `Schema` constant creates it: blobs whole in `blobs`, the
 * anchor map's root ref in the one-row `anchor_map_ref`.
 */
export const BS_SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  ref BLOB PRIMARY KEY NOT NULL,
  data BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS anchor_map_ref (
  ref BLOB NOT NULL,
  singleton INT NOT NULL UNIQUE DEFAULT 1 CHECK (singleton = 1)
);
`;

/** Whether the SQLite file at `path` was written by bs's store/sqlite3 (it has bs's `anchor_map_ref` table). */
export function isBsSqlite(path: string): boolean {
  if (path === ':memory:' || !existsSync(path)) return false;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'anchor_map_ref'").get() !== undefined;
  } catch {
    return false; // not a SQLite file (or unreadable): the caller's SqliteStore reports it
  } finally {
    db?.close();
  }
}

/**
 * A SQLite file in bs's own layout (github.com/bobg/bs v0.4.5, store/sqlite3): a Go bs program and
 * plexus open the same file and see the same blobs and anchors. Blobs are stored whole (bs reads them
 * so); anchors live in bs's anchor map, its root in `anchor_map_ref`, swapped by compare-and-swap
 * (`UPDATE … WHERE ref = old`, or the insert of the one row), the same check bs's own store makes, so
 * plexus and bs writers never lose each other's anchors. The journal mode is left as the file has it
 * (bs's is SQLite's default rollback journal). `openStore` picks this adapter for a file bs wrote.
 */
export class BsSqliteStore extends RootPointerStore {
  readonly path: string;
  #db: Database.Database;
  #get: Database.Statement<[Buffer], { data: Buffer }>;
  #has: Database.Statement<[Buffer], { one: number }>;
  #put: Database.Statement<[Buffer, Buffer]>;
  #list: Database.Statement<[Buffer, number], { ref: Buffer }>;
  #root: Database.Statement<[], { ref: Buffer }>;
  #insRoot: Database.Statement<[Buffer]>;
  #updRoot: Database.Statement<[Buffer, Buffer]>;

  /** Open (or create, with bs's schema) the file at `path`. */
  constructor(path: string) {
    super();
    this.path = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('busy_timeout = 10000');
    this.#db.exec(BS_SQLITE_SCHEMA);
    this.#get = this.#db.prepare('SELECT data FROM blobs WHERE ref = ?');
    this.#has = this.#db.prepare('SELECT 1 AS one FROM blobs WHERE ref = ?');
    this.#put = this.#db.prepare('INSERT INTO blobs (ref, data) VALUES (?, ?) ON CONFLICT DO NOTHING');
    this.#list = this.#db.prepare('SELECT ref FROM blobs WHERE ref > ? ORDER BY ref LIMIT ?');
    this.#root = this.#db.prepare('SELECT ref FROM anchor_map_ref');
    this.#insRoot = this.#db.prepare('INSERT INTO anchor_map_ref (ref) VALUES (?) ON CONFLICT DO NOTHING');
    this.#updRoot = this.#db.prepare('UPDATE anchor_map_ref SET ref = ? WHERE ref = ?');
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const row = this.#get.get(refToBytes(parseRef(ref)));
    if (!row) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    verifyRef(ref, row.data);
    return row.data;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    const info = this.#put.run(refToBytes(ref), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { ref, added: info.changes > 0 };
  }

  async has(ref: Ref): Promise<boolean> {
    return this.#has.get(refToBytes(parseRef(ref))) !== undefined;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    yield* pagedRefs(after, PAGE, (cursor, n) => this.#list.all(cursor, n));
  }

  async anchorMapRef(): Promise<Ref | undefined> {
    const row = this.#root.get();
    return row ? rootFromColumn(row.ref) : undefined;
  }

  protected async casRoot(prev: Ref, next: Ref): Promise<void> {
    const n = refToBytes(next);
    // "No map yet" is no row (bs) or, should a writer have left one, a row holding the zero ref.
    const changed = prev === ZERO_REF ? this.#insRoot.run(n).changes || this.#updRoot.run(n, refToBytes(ZERO_REF)).changes : this.#updRoot.run(n, refToBytes(prev)).changes;
    if (changed === 0) throw new PlexusError('CONFLICT', 'anchor map root changed concurrently');
  }

  /** Number of blobs and their total size (for /healthz). */
  async stats(): Promise<{ blobs: number; bytes: number; anchors: number }> {
    const b = this.#db.prepare('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM blobs').get() as { n: number; bytes: number };
    return { blobs: b.n, bytes: b.bytes, anchors: await anchorCount(this) };
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
