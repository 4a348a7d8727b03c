import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { PlexusError } from '../../errors.js';
import type { ConflictResolution } from '../ham.js';
import { resolveBatch, type FieldRef, type GraphStore } from '../store.js';
import type { FieldState, FieldWrite, NodeFields, Value } from '../value.js';
import { renameLegacyTablesInTx, type LegacyTable } from '../../pg-tables.js';

/** The tables before they were prefixed: renamed on open (see pg-tables.ts). */
const LEGACY_TABLES: readonly LegacyTable[] = [
  { from: 'graph_fields', to: 'plexus_graph_fields', columns: { soul: 'text', field: 'text', value: 'text', state: 'double precision' } },
  { from: 'graph_deferred', to: 'plexus_graph_deferred', columns: { id: 'bigint', soul: 'text', field: 'text', value: 'text', state: 'double precision' } },
];

const CHANNEL = 'plexus_graph';
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_NOTIFY_BYTES = 7000;

export interface PgGraphStoreOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Called when the LISTEN connection fails (it is re-dialed). */
  onError?(err: unknown): void;
}

/**
 * PostgreSQL GraphStore. HAM runs in the transaction under per-soul advisory locks, so several
 * processes (several relays) can share one database; every committed change is announced with
 * NOTIFY so the other relays forward it live (`onExternalChange`).
 */
export class PgGraphStore implements GraphStore {
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #id = randomUUID();
  readonly #listeners = new Set<(c: FieldRef[]) => void>();
  readonly #onError?: (err: unknown) => void;
  #listen: pg.Client | undefined;
  #listenRetry: ReturnType<typeof setTimeout> | undefined;
  #listenUp: Promise<void> = Promise.resolve();
  #listenUpResolve: () => void = () => {};
  #ready: Promise<void>;
  #closed = false;

  constructor(url: string, opts: PgGraphStoreOptions = {}) {
    this.#url = url;
    this.#onError = opts.onError;
    this.#pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
    this.#pool.on('error', (e) => this.#onError?.(e));
    this.#ready = this.#init();
    this.#ready.catch(() => {});
  }

  async #init(): Promise<void> {
    const c = await this.#pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock(7357001)');
      await renameLegacyTablesInTx(c, LEGACY_TABLES);
      await c.query(`
        CREATE TABLE IF NOT EXISTS plexus_graph_fields (soul text NOT NULL, field text NOT NULL, value text NOT NULL, state double precision NOT NULL, PRIMARY KEY (soul, field));
        CREATE TABLE IF NOT EXISTS plexus_graph_deferred (id bigserial PRIMARY KEY, soul text NOT NULL, field text NOT NULL, value text NOT NULL, state double precision NOT NULL);
        CREATE INDEX IF NOT EXISTS plexus_graph_deferred_state ON plexus_graph_deferred (state);
      `);
    } finally {
      await c.query('SELECT pg_advisory_unlock(7357001)').catch(() => {});
      c.release();
    }
  }

  async #q<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new PlexusError('CLOSED', 'graph store is closed');
    await this.#ready;
    try {
      return await this.#pool.query<R>(text, values);
    } catch (err) {
      throw new PlexusError('UNAVAILABLE', `postgres: ${(err as Error).message}`, { cause: err });
    }
  }

  async recentSouls(limit: number): Promise<string[]> {
    const r = await this.#q<{ soul: string }>('SELECT soul FROM (SELECT soul, state FROM plexus_graph_fields ORDER BY state DESC LIMIT $1) t GROUP BY soul ORDER BY max(state) DESC LIMIT $2', [limit * 16, limit]);
    return r.rows.map((x) => x.soul);
  }

  async get(soul: string): Promise<NodeFields | undefined> {
    const r = await this.#q<{ field: string; value: string; state: number }>('SELECT field, value, state FROM plexus_graph_fields WHERE soul = $1', [soul]);
    if (r.rows.length === 0) return undefined;
    const out: NodeFields = new Map();
    for (const row of r.rows) out.set(row.field, { value: JSON.parse(row.value) as Value, state: row.state });
    return out;
  }

  async getField(soul: string, field: string): Promise<FieldState | undefined> {
    const r = await this.#q<{ value: string; state: number }>('SELECT value, state FROM plexus_graph_fields WHERE soul = $1 AND field = $2', [soul, field]);
    const row = r.rows[0];
    return row && { value: JSON.parse(row.value) as Value, state: row.state };
  }

  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new PlexusError('CLOSED', 'graph store is closed');
    await this.#ready;
    let c: pg.PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (err) {
      throw new PlexusError('UNAVAILABLE', `postgres: ${(err as Error).message}`, { cause: err });
    }
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err instanceof PlexusError ? err : new PlexusError('UNAVAILABLE', `postgres: ${(err as Error).message}`, { cause: err });
    } finally {
      c.release();
    }
  }

  async #lockAndRead(c: pg.PoolClient, writes: readonly FieldWrite[]): Promise<Map<string, FieldState>> {
    const souls = [...new Set(writes.map((w) => w.soul))].sort();
    await c.query('SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(s, 7357) AS h FROM unnest($1::text[]) AS s ORDER BY 1) AS x', [souls]);
    const r = await c.query<{ soul: string; field: string; value: string; state: number }>(
      'SELECT g.soul, g.field, g.value, g.state FROM plexus_graph_fields g JOIN unnest($1::text[], $2::text[]) AS w(soul, field) ON g.soul = w.soul AND g.field = w.field',
      [writes.map((w) => w.soul), writes.map((w) => w.field)],
    );
    const m = new Map<string, FieldState>();
    for (const row of r.rows) m.set(`${row.soul.length}:${row.soul}${row.field}`, { value: JSON.parse(row.value) as Value, state: row.state });
    return m;
  }

  async #write(c: pg.PoolClient, updates: FieldWrite[]): Promise<void> {
    if (updates.length === 0) return;
    await c.query(
      'INSERT INTO plexus_graph_fields (soul, field, value, state) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) ON CONFLICT (soul, field) DO UPDATE SET value = excluded.value, state = excluded.state',
      [updates.map((w) => w.soul), updates.map((w) => w.field), updates.map((w) => JSON.stringify(w.value)), updates.map((w) => w.state)],
    );
    let batch: [string, string][] = [], size = 0;
    const flush = async () => {
      if (batch.length) await c.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ o: this.#id, c: batch })]);
      batch = []; size = 0;
    };
    for (const w of updates) {
      const n = Buffer.byteLength(w.soul) + Buffer.byteLength(w.field) + 16;
      if (size + n > MAX_NOTIFY_BYTES) await flush();
      batch.push([w.soul, w.field]); size += n;
    }
    await flush();
  }

  async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    if (writes.length === 0) return [];
    return this.#tx(async (c) => {
      const existing = await this.#lockAndRead(c, writes);
      const { resolutions, updates, deferred } = resolveBatch(writes, machineState, (s, f) => existing.get(`${s.length}:${s}${f}`));
      await this.#write(c, updates);
      if (deferred.length) {
        await c.query('INSERT INTO plexus_graph_deferred (soul, field, value, state) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])',
          [deferred.map((w) => w.soul), deferred.map((w) => w.field), deferred.map((w) => JSON.stringify(w.value)), deferred.map((w) => w.state)]);
      }
      return resolutions;
    });
  }

  async applyDue(machineState: number): Promise<FieldWrite[]> {
    return this.#tx(async (c) => {
      const r = await c.query<{ id: string; soul: string; field: string; value: string; state: number }>(
        'DELETE FROM plexus_graph_deferred WHERE id IN (SELECT id FROM plexus_graph_deferred WHERE state <= $1 ORDER BY state, id FOR UPDATE SKIP LOCKED) RETURNING id, soul, field, value, state', [machineState]);
      if (r.rows.length === 0) return [];
      const due = r.rows.sort((a, b) => a.state - b.state || Number(a.id) - Number(b.id)).map((row) => ({ soul: row.soul, field: row.field, value: JSON.parse(row.value) as Value, state: row.state }));
      const existing = await this.#lockAndRead(c, due);
      const { updates } = resolveBatch(due, machineState, (s, f) => existing.get(`${s.length}:${s}${f}`));
      await this.#write(c, updates);
      return updates;
    });
  }

  async nextDue(): Promise<number | undefined> {
    const r = await this.#q<{ s: number | null }>('SELECT MIN(state) AS s FROM plexus_graph_deferred');
    return r.rows[0]?.s ?? undefined;
  }

  onExternalChange(cb: (changes: FieldRef[]) => void): () => void {
    this.#listeners.add(cb);
    if (!this.#listen && !this.#listenRetry) void this.#dialListen();
    return () => { this.#listeners.delete(cb); };
  }

  async #dialListen(): Promise<void> {
    if (this.#closed) return;
    const c = new pg.Client({ connectionString: this.#url });
    this.#listen = c;
    if (!this.#listenRetry) this.#listenUp = new Promise((r) => { this.#listenUpResolve = r; });
    const retry = (err: unknown) => {
      if (this.#closed || this.#listen !== c) return;
      this.#onError?.(err);
      this.#listen = undefined;
      c.end().catch(() => {});
      this.#listenRetry = setTimeout(() => { this.#listenRetry = undefined; void this.#dialListen(); }, 1000);
    };
    c.on('error', retry);
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      try {
        const p = JSON.parse(n.payload) as { o: string; c: [string, string][] };
        if (p.o === this.#id) return;
        const changes = p.c.map(([soul, field]) => ({ soul, field }));
        for (const l of this.#listeners) l(changes);
      } catch (err) {
        this.#onError?.(err);
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      this.#listenUpResolve();
    } catch (err) {
      retry(err);
    }
  }

  /** Resolves once the LISTEN connection is up (tests). */
  listening(): Promise<void> {
    return this.#listenUp;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#listenRetry);
    const l = this.#listen;
    this.#listen = undefined;
    await Promise.allSettled([l?.end(), this.#ready.then(() => this.#pool.end(), () => this.#pool.end())]);
  }
}
