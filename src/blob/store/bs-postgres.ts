import pg from 'pg';
import { openPgPool } from './pg-pool.js';
import { PlexusError } from '../../errors.js';
import { parseRef, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { PutResult } from '../store.js';
import { RootPointerStore, rootFromColumn } from '../bs/anchor-map.js';
import { anchorCount } from './bs-layout.js';
import { pagedRefs } from './paged.js';

const PAGE = 1000;
/** Advisory lock key serialising schema creation when several processes open one database at once. */
const SCHEMA_LOCK = 0x62737067; // 'bspg'

/**
 * bs v0.4.5's store/pg schema, as its `Schema` constant creates it: blobs whole in `blobs`, the anchor
 * map's root ref in the one-row `anchor_map_ref`.
 */
export const BS_PG_SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  ref BYTEA PRIMARY KEY NOT NULL,
  data BYTEA NOT NULL
);

CREATE TABLE IF NOT EXISTS anchor_map_ref (
  ref BYTEA NOT NULL,
  singleton BOOLEAN NOT NULL UNIQUE DEFAULT TRUE CHECK (singleton)
);
`;

/** Whether the database (in the connection's search_path) holds bs's store/pg tables: its `anchor_map_ref` table. */
export async function isBsPg(c: pg.Pool | pg.PoolClient | pg.Client): Promise<boolean> {
  const r = await c.query<{ bs: boolean }>("SELECT to_regclass('anchor_map_ref') IS NOT NULL AS bs");
  return r.rows[0]!.bs;
}

/** Whether the database at `url` (its search_path) holds bs's store/pg tables (UNAVAILABLE if it cannot be reached). */
export async function pgHoldsBsTables(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    return await isBsPg(c);
  } catch (err) {
    throw new PlexusError('UNAVAILABLE', `cannot open PostgreSQL store: ${(err as Error).message}`, { cause: err });
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * A PostgreSQL database in bs's own layout (github.com/bobg/bs v0.4.5, store/pg): a Go bs program and
 * plexus share the tables `blobs` (each blob whole) and `anchor_map_ref` (the anchor map's root).
 * Anchors live in bs's anchor map; the root is swapped by compare-and-swap (`UPDATE … WHERE ref = old`,
 * or the insert of the one row), the same check bs's own store makes, so several plexus servers and
 * Go programs sharing the database lose no anchor. `openStore` picks this adapter for a database bs wrote.
 */
export class BsPgStore extends RootPointerStore {
  #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    super();
    this.#pool = pool;
  }

  /** Connect and create bs's tables if needed. */
  static async open(url: string, opts: { max?: number } = {}): Promise<BsPgStore> {
    const pool = await openPgPool(url, opts.max ?? 10, SCHEMA_LOCK, 'bs PostgreSQL store', async (c) => {
      await c.query(BS_PG_SCHEMA);
    });
    return new BsPgStore(pool);
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const r = await this.#pool.query<{ data: Buffer }>('SELECT data FROM blobs WHERE ref = $1', [refToBytes(parseRef(ref))]);
    const data = r.rows[0]?.data;
    if (!data) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    verifyRef(ref, data);
    return data;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    const r = await this.#pool.query('INSERT INTO blobs (ref, data) VALUES ($1, $2) ON CONFLICT DO NOTHING', [refToBytes(ref), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    return { ref, added: (r.rowCount ?? 0) > 0 };
  }

  async has(ref: Ref): Promise<boolean> {
    const r = await this.#pool.query('SELECT 1 FROM blobs WHERE ref = $1', [refToBytes(parseRef(ref))]);
    return (r.rowCount ?? 0) > 0;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    yield* pagedRefs(after, PAGE, async (cursor, n) => (await this.#pool.query<{ ref: Buffer }>('SELECT ref FROM blobs WHERE ref > $1 ORDER BY ref LIMIT $2', [cursor, n])).rows);
  }

  async anchorMapRef(): Promise<Ref | undefined> {
    const { rows } = await this.#pool.query<{ ref: Buffer }>('SELECT ref FROM anchor_map_ref');
    return rows[0] ? rootFromColumn(rows[0].ref) : undefined;
  }

  protected async casRoot(prev: Ref, next: Ref): Promise<void> {
    const n = refToBytes(next);
    const upd = (old: Ref) => this.#pool.query('UPDATE anchor_map_ref SET ref = $1 WHERE ref = $2', [n, refToBytes(old)]);
    let changed: number;
    if (prev === ZERO_REF) {
      // "No map yet" is no row (bs) or, should a writer have left one, a row holding the zero ref.
      changed = (await this.#pool.query('INSERT INTO anchor_map_ref (ref) VALUES ($1) ON CONFLICT DO NOTHING', [n])).rowCount ?? 0;
      if (changed === 0) changed = (await upd(ZERO_REF)).rowCount ?? 0;
    } else {
      changed = (await upd(prev)).rowCount ?? 0;
    }
    if (changed === 0) throw new PlexusError('CONFLICT', 'anchor map root changed concurrently');
  }

  async stats(): Promise<{ blobs: number; bytes: number; anchors: number }> {
    const b = await this.#pool.query<{ n: string; bytes: string }>('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM blobs');
    return { blobs: Number(b.rows[0]!.n), bytes: Number(b.rows[0]!.bytes), anchors: await anchorCount(this) };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
