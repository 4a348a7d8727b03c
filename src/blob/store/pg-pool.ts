import pg from 'pg';
import { PlexusError } from '../../errors.js';

/**
 * Connect a pool of at most `max` clients and run `setup` (creating or checking tables) in one
 * transaction holding the advisory lock `lock`, so servers opening one database at once do not race.
 * A PlexusError from `setup` is thrown as it is; any other failure is UNAVAILABLE, naming `what`.
 */
export async function openPgPool(url: string, max: number, lock: number, what: string, setup: (c: pg.PoolClient) => Promise<void>): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => { /* idle client lost; the pool replaces it */ });
  try {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [lock]);
      await setup(c);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    if (err instanceof PlexusError) throw err;
    throw new PlexusError('UNAVAILABLE', `cannot open ${what}: ${(err as Error).message}`, { cause: err });
  }
  return pool;
}
