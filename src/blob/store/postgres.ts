import pg from 'pg';
import { PlexusError } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refFromBytes, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';
import { decodeHistory, encodeHistory } from './history-json.js';
import { renameLegacyTables, type LegacyTable } from '../../pg-tables.js';

const PAGE = 1000;
/** Advisory lock key serialising schema creation when several servers start at once. */
const SCHEMA_LOCK = 0x706c7862; // 'plxb'
/** The tables before they were prefixed: renamed on open (see pg-tables.ts). */
const LEGACY_TABLES: readonly LegacyTable[] = [
  { from: 'blobs', to: 'plexus_blobs', columns: { ref: 'bytea', data: 'bytea' } },
  { from: 'anchors', to: 'plexus_anchors', columns: { name: 'text', version: 'bigint', history: 'jsonb' } },
];

/**
 * PostgreSQL store (`pg`). Several servers may share one database: blobs are idempotent inserts and
 * anchors are compare-and-swap updates on a version column.
 */
export class PgStore extends AnchorStore implements BlobStore {
  #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    super();
    this.#pool = pool;
  }

  /** Connect and create the tables if needed. */
  static async open(url: string, opts: { max?: number } = {}): Promise<PgStore> {
    const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
    pool.on('error', () => { /* idle client lost; the pool replaces it */ });
    try {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await renameLegacyTables(c, LEGACY_TABLES);
        await c.query(`
          CREATE TABLE IF NOT EXISTS plexus_blobs (ref BYTEA PRIMARY KEY, data BYTEA NOT NULL);
          CREATE TABLE IF NOT EXISTS plexus_anchors (name TEXT PRIMARY KEY, version BIGINT NOT NULL, history JSONB NOT NULL);
        `);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    } catch (err) {
      await pool.end().catch(() => {});
      throw new PlexusError('UNAVAILABLE', `cannot open PostgreSQL store: ${(err as Error).message}`, { cause: err });
    }
    return new PgStore(pool);
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const r = await this.#pool.query<{ data: Buffer }>('SELECT data FROM plexus_blobs WHERE ref = $1', [refToBytes(parseRef(ref))]);
    const data = r.rows[0]?.data;
    if (!data) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    verifyRef(ref, data);
    return data;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    const r = await this.#pool.query('INSERT INTO plexus_blobs (ref, data) VALUES ($1, $2) ON CONFLICT DO NOTHING', [refToBytes(ref), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    return { ref, added: (r.rowCount ?? 0) > 0 };
  }

  async has(ref: Ref): Promise<boolean> {
    const r = await this.#pool.query('SELECT 1 FROM plexus_blobs WHERE ref = $1', [refToBytes(parseRef(ref))]);
    return (r.rowCount ?? 0) > 0;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    let cursor = refToBytes(parseRef(after));
    for (;;) {
      const { rows } = await this.#pool.query<{ ref: Buffer }>('SELECT ref FROM plexus_blobs WHERE ref > $1 ORDER BY ref LIMIT $2', [cursor, PAGE]);
      for (const r of rows) yield refFromBytes(r.ref);
      if (rows.length < PAGE) return;
      cursor = rows[rows.length - 1]!.ref;
    }
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const { rows } = await this.#pool.query<{ version: string; history: unknown }>('SELECT version, history FROM plexus_anchors WHERE name = $1', [name]);
    const row = rows[0];
    return row ? { version: Number(row.version), history: decodeHistory(row.history) } : { version: 0, history: [] };
  }

  async writeAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
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
    const b = await this.#pool.query<{ n: string; bytes: string }>('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM plexus_blobs');
    const a = await this.#pool.query<{ n: string }>('SELECT count(*) AS n FROM plexus_anchors');
    return { blobs: Number(b.rows[0]!.n), bytes: Number(b.rows[0]!.bytes), anchors: Number(a.rows[0]!.n) };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
