import Database from 'better-sqlite3';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { PlexusError } from '../../errors.js';
import { BLOB_PART_BYTES, BLOB_SQLITE_CHECKPOINT_BYTES, BLOB_SQLITE_WAL_MAX_BYTES } from '../../limits.js';
import { SqliteCheckpointer } from '../../sqlite-checkpointer.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { PutResult } from '../store.js';
import { verifiedParts, type BlobReader, type StreamingBlobStore } from './stream.js';
import { decodeHistory, encodeHistory } from './history-json.js';
import { pagedRefs } from './paged.js';

const PAGE = 1000;
/** The ref of the empty blob: the only one whose `blobs.data` is legitimately empty without parts. */
const EMPTY_REF = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The database's page size (set on a new file; big pages suit blobs). */
const PAGE_SIZE = 65536;

/** SqliteStore options. */
export interface SqliteStoreOptions {
  /**
   * 'normal' (default, WAL + synchronous=NORMAL, as every plexus SQLite store): an acknowledged put
   * survives a crash of the process; a power loss may lose the last puts but never corrupts the file.
   * 'full': synchronous=FULL, the WAL is fsynced at every commit, so puts survive a power loss too.
   */
  synchronous?: 'normal' | 'full';
  /** Tuning: blob bytes the WAL may hold before puts wait for a checkpoint (default BLOB_SQLITE_WAL_MAX_BYTES, 1 GiB). */
  walMaxBytes?: number;
}



/**
 * SQLite store (better-sqlite3), the embedded default. WAL mode: a crash of the process never loses a
 * committed put or anchor. Several stores (or processes) may open one file; anchors use CAS on a version.
 * Checkpoints (copying the WAL into the database, with its fsyncs) run on a worker thread with its own
 * connection instead of inside a put; puts wait for one only when the WAL holds `walMaxBytes`.
 * A blob bigger than BLOB_PART_BYTES is kept in `blob_parts` (its `blobs` row has empty data), so it can
 * be read and written one part at a time (SQLite's substr() would read the whole value per call).
 */
export class SqliteStore extends AnchorStore implements StreamingBlobStore {
  readonly path: string;
  #db: Database.Database;
  #get: Database.Statement<[Buffer], { data: Buffer }>;
  #has: Database.Statement<[Buffer], { one: number }>;
  #put: Database.Statement<[Buffer, Buffer]>;
  #list: Database.Statement<[Buffer, number], { ref: Buffer }>;
  #readA: Database.Statement<[string], { version: number; history: string }>;
  #insA: Database.Statement<[string, string]>;
  #updA: Database.Statement<[number, string, string, number]>;
  #names: Database.Statement<[string, number], { name: string }>;
  #len: Database.Statement<[Buffer], { n: number }>;
  #partsLen: Database.Statement<[Buffer], { n: number; bytes: number }>;
  #part: Database.Statement<[Buffer, number], { data: Buffer }>;
  #putPart: Database.Statement<[Buffer, number, Buffer]>;

  readonly synchronous: 'normal' | 'full';
  /** Background checkpoints (file databases only; ':memory:' has no WAL). */
  readonly #ckpt: SqliteCheckpointer | undefined;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    super();
    this.path = path;
    this.synchronous = opts.synchronous ?? 'normal';
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    // Big pages: blobs are large; 64 KiB pages make 1 MiB puts ~1.6x faster than the 4 KiB default.
    // (Takes effect only on a new database, before WAL mode is set.)
    this.#db.pragma(`page_size = ${PAGE_SIZE}`);
    // The check for bs's tables comes after page_size: run before it, it doubled the server's memory
    // under parallel uploads (test/server/blob-upload-memory.test.ts).
    if (this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'anchor_map_ref'").get() !== undefined) {
      this.#db.close();
      throw new PlexusError('BAD_REQUEST', `${path} was written by bs's store/sqlite3 (table anchor_map_ref): open it with openStore(path) or BsSqliteStore`);
    }
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${this.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma('busy_timeout = 10000');
    // In-memory databases have no WAL; files get their checkpoints on a worker thread (off the put path).
    if (path !== ':memory:') {
      this.#db.pragma('wal_autocheckpoint = 0');
      const walMaxPages = Math.ceil((opts.walMaxBytes ?? BLOB_SQLITE_WAL_MAX_BYTES) / PAGE_SIZE);
      this.#ckpt = new SqliteCheckpointer(path, {
        checkpointPages: Math.min(BLOB_SQLITE_CHECKPOINT_BYTES / PAGE_SIZE, walMaxPages),
        walMaxPages,
        synchronous: this.synchronous === 'full' ? 'FULL' : 'NORMAL',
      });
    }
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS blobs (ref BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS anchors (name TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, history TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS blob_parts (ref BLOB NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (ref, seq));
    `);
    this.#len = this.#db.prepare('SELECT length(data) AS n FROM blobs WHERE ref = ?');
    this.#partsLen = this.#db.prepare('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM blob_parts WHERE ref = ?');
    this.#part = this.#db.prepare('SELECT data FROM blob_parts WHERE ref = ? AND seq = ?');
    this.#putPart = this.#db.prepare('INSERT INTO blob_parts (ref, seq, data) VALUES (?, ?, ?)');
    this.#get = this.#db.prepare('SELECT data FROM blobs WHERE ref = ?');
    this.#has = this.#db.prepare('SELECT 1 AS one FROM blobs WHERE ref = ?');
    this.#put = this.#db.prepare('INSERT INTO blobs (ref, data) VALUES (?, ?) ON CONFLICT DO NOTHING');
    this.#list = this.#db.prepare('SELECT ref FROM blobs WHERE ref > ? ORDER BY ref LIMIT ?');
    this.#readA = this.#db.prepare('SELECT version, history FROM anchors WHERE name = ?');
    this.#insA = this.#db.prepare('INSERT INTO anchors (name, version, history) VALUES (?, 1, ?) ON CONFLICT DO NOTHING');
    this.#updA = this.#db.prepare('UPDATE anchors SET version = ?, history = ? WHERE name = ? AND version = ?');
    this.#names = this.#db.prepare('SELECT name FROM anchors WHERE name > ? ORDER BY name LIMIT ?');
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const key = refToBytes(parseRef(ref));
    const row = this.#get.get(key);
    if (!row) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    let data = row.data;
    if (data.length === 0 && ref !== EMPTY_REF) {
      const parts: Buffer[] = [];
      for (let seq = 0; ; seq++) { const p = this.#part.get(key, seq); if (!p) break; parts.push(p.data); }
      data = Buffer.concat(parts);
    }
    verifyRef(ref, data);
    return data;
  }

  /** Read a blob one part at a time (one query per part, run when the consumer asks for it). */
  async openRead(ref: Ref): Promise<BlobReader> {
    const key = refToBytes(parseRef(ref));
    const len = this.#len.get(key);
    if (!len) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    if (len.n > 0 || ref === EMPTY_REF) {
      // a small blob (or one stored whole by an older version): one row, read whole, cut into parts
      const data = this.#get.get(key)!.data;
      const raw = (async function* () { for (let off = 0; off < data.length; off += BLOB_PART_BYTES) yield data.subarray(off, off + BLOB_PART_BYTES); })();
      return { size: data.length, parts: verifiedParts(ref, raw) };
    }
    const { bytes } = this.#partsLen.get(key)!;
    const part = this.#part;
    const raw = (async function* () { for (let seq = 0; ; seq++) { const p = part.get(key, seq); if (!p) return; yield p.data; } })();
    return { size: bytes, parts: verifiedParts(ref, raw) };
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    const room = this.#ckpt?.room();
    if (room) await room;
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length > BLOB_PART_BYTES) {
      const added = this.#db.transaction(() => this.#insertParts(ref, (emit) => { for (let off = 0; off < buf.length; off += BLOB_PART_BYTES) emit(buf.subarray(off, off + BLOB_PART_BYTES)); }))();
      return { ref, added };
    }
    const info = this.#put.run(refToBytes(ref), buf);
    // the blob's overflow pages, its b-tree leaf and (roughly) the index page
    if (info.changes > 0) this.#ckpt?.wrote(Math.ceil(bytes.byteLength / PAGE_SIZE) + 2);
    return { ref, added: info.changes > 0 };
  }

  /** Inside a transaction: the `blobs` row (empty data) and the parts `each` emits; false when the blob was there. */
  #insertParts(ref: Ref, each: (emit: (part: Buffer) => void) => void): boolean {
    const key = refToBytes(ref);
    if (this.#put.run(key, Buffer.alloc(0)).changes === 0) return false;
    let seq = 0, total = 0;
    each((p) => { this.#putPart.run(key, seq++, p); total += p.length; });
    this.#ckpt?.wrote(Math.ceil(total / PAGE_SIZE) + 2 * seq + 2);
    return true;
  }

  /**
   * Store a staged file in parts, in one transaction, reading it BLOB_PART_BYTES at a time (the event
   * loop waits for the copy, as it does for a put of the same bytes). HASH_MISMATCH (rolled back) if
   * the file does not hash to `ref`.
   */
  async putFile(path: string, ref: Ref): Promise<PutResult> {
    parseRef(ref);
    const room = this.#ckpt?.room();
    if (room) await room;
    const fd = openSync(path, 'r');
    try {
      if (fstatSync(fd).size <= BLOB_PART_BYTES) {
        const one = readFileSync(fd);
        verifyRef(ref, one);
        const info = this.#put.run(refToBytes(ref), one);
        if (info.changes > 0) this.#ckpt?.wrote(Math.ceil(one.length / PAGE_SIZE) + 2);
        return { ref, added: info.changes > 0 };
      }
      const buf = Buffer.allocUnsafe(BLOB_PART_BYTES);
      const added = this.#db.transaction(() => {
        const h = createHash('sha256');
        const ok = this.#insertParts(ref, (emit) => {
          for (let pos = 0; ;) {
            const n = readSync(fd, buf, 0, buf.length, pos);
            if (n === 0) break;
            const p = buf.subarray(0, n);
            h.update(p);
            emit(p);
            pos += n;
          }
        });
        const actual = h.digest('hex');
        if (ok && actual !== ref) throw new PlexusError('HASH_MISMATCH', `content hashes to ${actual}, not ${ref}`, { detail: { ref, actual } });
        return ok;
      })();
      return { ref, added };
    } finally {
      closeSync(fd);
    }
  }

  async has(ref: Ref): Promise<boolean> {
    return this.#has.get(refToBytes(parseRef(ref))) !== undefined;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    yield* pagedRefs(after, PAGE, (cursor, n) => this.#list.all(cursor, n));
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const row = this.#readA.get(name);
    return row ? { version: row.version, history: decodeHistory(row.history) } : { version: 0, history: [] };
  }

  protected async casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const text = encodeHistory(history);
    const changed = version === 0 ? this.#insA.run(name, text).changes : this.#updA.run(version + 1, text, name, version).changes;
    if (changed === 0) throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} changed concurrently`);
    return version + 1;
  }

  async *anchorNames(): AsyncIterable<string> {
    let cursor = '';
    for (;;) {
      const rows = this.#names.all(cursor, PAGE);
      for (const r of rows) yield r.name;
      if (rows.length < PAGE) return;
      cursor = rows[rows.length - 1]!.name;
    }
  }

  /** Number of blobs and their total size (for /healthz). */
  async stats(): Promise<{ blobs: number; bytes: number; anchors: number }> {
    const b = this.#db.prepare('SELECT count(*) AS n, coalesce(sum(length(data)), 0) + (SELECT coalesce(sum(length(data)), 0) FROM blob_parts) AS bytes FROM blobs').get() as { n: number; bytes: number };
    const a = this.#db.prepare('SELECT count(*) AS n FROM anchors').get() as { n: number };
    return { blobs: b.n, bytes: b.bytes, anchors: a.n };
  }

  async close(): Promise<void> {
    await this.#ckpt?.close();
    if (this.#db.open) this.#db.close();
  }
}
