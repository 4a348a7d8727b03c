import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { PlexusError } from '../../src/errors.js';
import { PgLedger } from '../../src/ledger/postgres.js';
import { ledgerConformance } from '../conformance/ledger.js';
import { freshPgSchema } from '../helpers/pg.js';

const schemas: Array<Awaited<ReturnType<typeof freshPgSchema>>> = [];
ledgerConformance('postgres', async (opts) => {
  const s = await freshPgSchema('ledger');
  schemas.push(s);
  return new PgLedger(s.url, opts);
}, async () => { for (const s of schemas) await s.drop(); });

describe('postgres ledger storage', () => {
  it('moves the audit rows of a schema written before audit fields lived on events onto its events', async () => {
    const s = await freshPgSchema('lmig');
    try {
      const c = new pg.Client({ connectionString: s.url });
      await c.connect();
      await c.query(`
        CREATE TABLE evt_event (id bigserial PRIMARY KEY, rev bigint NOT NULL, top text NOT NULL, key text NOT NULL, cmd text NOT NULL, arg jsonb);
        CREATE INDEX evt_event_rev ON evt_event (rev);
        CREATE INDEX evt_event_top_key ON evt_event (top, key, rev);
        CREATE TABLE evt_audit (rev bigint PRIMARY KEY, created double precision NOT NULL, arrived double precision NOT NULL, usr text, extra jsonb, tid text UNIQUE);
        CREATE TABLE evt_record (top text NOT NULL, key text NOT NULL, rev bigint NOT NULL, data jsonb NOT NULL, PRIMARY KEY (top, key));
        INSERT INTO evt_event (rev, top, key, cmd, arg) VALUES (1000, 'todo', 'a', 'new', '{"t":"a"}'), (1000, 'todo', 'b', 'new', '{"t":"b"}'), (2000, 'todo', 'a', 'mod', '{"t":"A"}');
        INSERT INTO evt_audit VALUES (1000, 999.5, 1000.25, 'bob', '{"why":"x"}', 't1'), (2000, 2000, 2000, NULL, NULL, NULL);
        INSERT INTO evt_record VALUES ('todo', 'a', 2000, '{"t":"A"}'), ('todo', 'b', 1000, '{"t":"b"}');
      `);
      const l = new PgLedger(s.url, { clock: () => 3000 });
      try {
        assert.deepEqual(await l.audit(1000), { rev: 1000, created: 999.5, arrived: 1000.25, usr: 'bob', extra: { why: 'x' }, tid: 't1' });
        assert.deepEqual(await l.audit(2000), { rev: 2000, created: 2000, arrived: 2000 });
        await assert.rejects(l.publish({ acts: [{ top: 'todo', key: 'c', cmd: 'new' }], tid: 't1' }), (e: PlexusError) => e.code === 'DUPLICATE' && (e.detail as { rev: number }).rev === 1000);
        const r = await l.publish({ acts: [{ top: 'todo', key: 'c', cmd: 'new' }, { top: 'todo', key: 'd', cmd: 'new' }], tid: 't2' });
        assert.equal(r.rev, 3000);
        assert.deepEqual(await l.audit(3000), { rev: 3000, created: 3000, arrived: 3000, tid: 't2' });
      } finally { await l.close(); }
      assert.equal((await c.query("SELECT to_regclass('evt_audit') AS t")).rows[0].t, null);
      assert.equal((await c.query("SELECT to_regclass('plexus_evt_audit') AS t")).rows[0].t, null);
      // The unprefixed tables were renamed (indexes too), so an app may now create its own evt_event.
      const names = (await c.query("SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'i', 'S') ORDER BY 1")).rows.map((x: { relname: string }) => x.relname);
      assert.deepEqual(names.filter((n: string) => !n.startsWith('plexus_')), []);
      await c.query('CREATE TABLE evt_event (id serial PRIMARY KEY, note text)');
      await c.end();
    } finally { await s.drop(); }
  });
});
