import pg from 'pg';
import { openPgPool } from './pg-pool.js';
import { PlexusError } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import { createHash } from 'node:crypto';
import { BLOB_PART_BYTES } from '../../limits.js';
import type { PutResult } from '../store.js';
import { fileParts, verifiedParts, type BlobReader, type StreamingBlobStore } from './stream.js';
import { decodeHistory, encodeHistory } from './history-json.js';
import { renameLegacyTables, type LegacyTable } from '../../pg-tables.js';
import { pagedRefs } from './paged.js';

const PAGE = 1000;
/** The ref of the empty blob: the only one whose `plexus_blobs.data` is legitimately empty without parts. */
const EMPTY_REF = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Advisory lock key serialising schema creation when several servers start at once. */
const SCHEMA_LOCK = 0x706c7862; // 'plxb'
/** The tables before they were prefixed: renamed on open (see pg-tables.ts). */
const LEGACY_TABLES: readonly LegacyTable[] = [
  { from: 'blobs', to: 'plexus_blobs', columns: { ref: 'bytea', data: 'bytea' } },
  { from: 'anchors', to: 'plexus_anchors', columns: { name: 'text', version: 'bigint', history: 'jsonb' } },
  { from: 'blob_parts', to: 'plexus_blob_parts', columns: { ref: 'bytea', seq: 'integer', data: 'bytea' } },
];

/**
 * PostgreSQL store (`pg`). Several servers may share one database: blobs are idempotent inserts and
 * anchors are compare-and-swap updates on a version column. A blob bigger than BLOB_PART_BYTES is kept
 * in `plexus_blob_parts` (its `plexus_blobs` row has empty data), read and written one part per query.
 */
export class PgStore extends AnchorStore implements StreamingBlobStore {
  #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    super();
    this.#pool = pool;
  }

  /** Connect and create the tables if needed. */
  static async open(url: string, opts: { max?: number } = {}): Promise<PgStore> {
    const pool = await openPgPool(url, opts.max ?? 10, SCHEMA_LOCK, 'PostgreSQL store', async (c) => {
      // bs's store/pg has a table `blobs` too (the name plexus's legacy rename looks for): never touch it.
      if ((await c.query<{ bs: boolean }>("SELECT to_regclass('anchor_map_ref') IS NOT NULL AS bs")).rows[0]!.bs) {
        throw new PlexusError('BAD_REQUEST', "this database holds bs's store/pg tables (anchor_map_ref): open it with openStore(url) or BsPgStore.open(url)");
      }
      await renameLegacyTables(c, LEGACY_TABLES);
      await c.query(`
        CREATE TABLE IF NOT EXISTS plexus_blobs (ref BYTEA PRIMARY KEY, data BYTEA NOT NULL);
        CREATE TABLE IF NOT EXISTS plexus_anchors (name TEXT PRIMARY KEY, version BIGINT NOT NULL, history JSONB NOT NULL);
        CREATE TABLE IF NOT EXISTS plexus_blob_parts (ref BYTEA NOT NULL, seq INTEGER NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (ref, seq));
      `);
    });
    return new PgStore(pool);
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const key = refToBytes(parseRef(ref));
    const r = await this.#pool.query<{ data: Buffer }>('SELECT data FROM plexus_blobs WHERE ref = $1', [key]);
    let data = r.rows[0]?.data;
    if (!data) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    if (data.length === 0 && ref !== EMPTY_REF) {
      const parts = await this.#pool.query<{ data: Buffer }>('SELECT data FROM plexus_blob_parts WHERE ref = $1 ORDER BY seq', [key]);
      data = Buffer.concat(parts.rows.map((p) => p.data));
    }
    verifyRef(ref, data);
    return data;
  }

  /** Read a blob one part per query, each run when the consumer asks for it. */
  async openRead(ref: Ref): Promise<BlobReader> {
    const key = refToBytes(parseRef(ref));
    const r = await this.#pool.query<{ n: number }>('SELECT length(data) AS n FROM plexus_blobs WHERE ref = $1', [key]);
    const n = r.rows[0]?.n;
    if (n === undefined) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    if (n > 0 || ref === EMPTY_REF) {
      const data = await this.get(ref); // a small blob (or one stored whole by an older version)
      const raw = (async function* () { for (let off = 0; off < data.length; off += BLOB_PART_BYTES) yield data.subarray(off, off + BLOB_PART_BYTES); })();
      return { size: data.length, parts: verifiedParts(ref, raw) };
    }
    const size = await this.#pool.query<{ bytes: string }>('SELECT coalesce(sum(length(data)), 0) AS bytes FROM plexus_blob_parts WHERE ref = $1', [key]);
    const pool = this.#pool;
    const raw = (async function* () {
      for (let seq = 0; ; seq++) {
        const p = await pool.query<{ data: Buffer }>('SELECT data FROM plexus_blob_parts WHERE ref = $1 AND seq = $2', [key, seq]);
        if (!p.rows[0]) return;
        yield p.rows[0].data;
      }
    })();
    return { size: Number(size.rows[0]!.bytes), parts: verifiedParts(ref, raw) };
  }

  /** Store `parts` under `ref` in one transaction (HASH_MISMATCH, rolled back, if they do not hash to it). */
  async #putParts(ref: Ref, parts: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<boolean> {
    const key = refToBytes(ref);
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const ins = await c.query('INSERT INTO plexus_blobs (ref, data) VALUES ($1, $2) ON CONFLICT DO NOTHING', [key, Buffer.alloc(0)]);
      if ((ins.rowCount ?? 0) === 0) { await c.query('ROLLBACK'); return false; }
      const h = createHash('sha256');
      let seq = 0;
      for await (const p of parts) {
        h.update(p);
        await c.query('INSERT INTO plexus_blob_parts (ref, seq, data) VALUES ($1, $2, $3)', [key, seq++, Buffer.from(p.buffer, p.byteOffset, p.byteLength)]);
      }
      const actual = h.digest('hex');
      if (actual !== ref) throw new PlexusError('HASH_MISMATCH', `content hashes to ${actual}, not ${ref}`, { detail: { ref, actual } });
      await c.query('COMMIT');
      return true;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  /** Store a staged file, reading and inserting it one part at a time. */
  async putFile(path: string, ref: Ref): Promise<PutResult> {
    parseRef(ref);
    return { ref, added: await this.#putParts(ref, fileParts(path)) };
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    if (bytes.byteLength > BLOB_PART_BYTES) {
      const parts: Uint8Array[] = [];
      for (let off = 0; off < bytes.byteLength; off += BLOB_PART_BYTES) parts.push(bytes.subarray(off, off + BLOB_PART_BYTES));
      return { ref, added: await this.#putParts(ref, parts) };
    }
    const r = await this.#pool.query('INSERT INTO plexus_blobs (ref, data) VALUES ($1, $2) ON CONFLICT DO NOTHING', [refToBytes(ref), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    return { ref, added: (r.rowCount ?? 0) > 0 };
  }

  async has(ref: Ref): Promise<boolean> {
    const r = await this.#pool.query('SELECT 1 FROM plexus_blobs WHERE ref = $1', [refToBytes(parseRef(ref))]);
    return (r.rowCount ?? 0) > 0;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    yield* pagedRefs(after, PAGE, async (cursor, n) => (await this.#pool.query<{ ref: Buffer }>('SELECT ref FROM plexus_blobs WHERE ref > $1 ORDER BY ref LIMIT $2', [cursor, n])).rows);
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const { rows } = await this.#pool.query<{ version: string; history: unknown }>('SELECT version, history FROM plexus_anchors WHERE name = $1', [name]);
    const row = rows[0];
    return row ? { version: Number(row.version), history: decodeHistory(row.history) } : { version: 0, history: [] };
  }

  protected async casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const text = encodeHistory(history);
    const r = version === 0
      ? await this.#pool.query('INSERT INTO plexus_anchors (name, version, history) VALUES ($1, 1, $2::jsonb) ON CONFLICT DO NOTHING', [name, text])
      : await this.#pool.query('UPDATE plexus_anchors SET version = $1, history = $2::jsonb WHERE name = $3 AND version = $4', [version + 1, text, name, version]);
    if ((r.rowCount ?? 0) === 0) throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} changed concurrently`);
    return version + 1;
  }

  async *anchorNames(): AsyncIterable<string> {
    let cursor = '';
    for (;;) {
      const { rows } = await this.#pool.query<{ name: string }>('SELECT name FROM plexus_anchors WHERE name > $1 ORDER BY name COLLATE "C" LIMIT $2', [cursor, PAGE]);
      for (const r of rows) yield r.name;
      if (rows.length < PAGE) return;
      cursor = rows[rows.length - 1]!.name;
    }
  }

  async stats(): Promise<{ blobs: number; bytes: number; anchors: number }> {
    const b = await this.#pool.query<{ n: string; bytes: string }>('SELECT count(*) AS n, coalesce(sum(length(data)), 0) + (SELECT coalesce(sum(length(data)), 0) FROM plexus_blob_parts) AS bytes FROM plexus_blobs');
    const a = await this.#pool.query<{ n: string }>('SELECT count(*) AS n FROM plexus_anchors');
    return { blobs: Number(b.rows[0]!.n), bytes: Number(b.rows[0]!.bytes), anchors: Number(a.rows[0]!.n) };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
