import pg from 'pg';
import { randomBytes } from 'node:crypto';

/** The test PostgreSQL (real server, trust auth). */
export const TEST_POSTGRES = process.env.PLEXUS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A fresh schema on the test database, so test files can run in parallel without seeing each other.
 * `url` connects with search_path set to the schema; `drop()` removes it and everything in it.
 */
export async function freshPgSchema(prefix = 't'): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: TEST_POSTGRES });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  const u = new URL(TEST_POSTGRES);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: u.toString(),
    schema,
    async drop() {
      const d = new pg.Client({ connectionString: TEST_POSTGRES });
      await d.connect();
      await d.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await d.end();
    },
  };
}
