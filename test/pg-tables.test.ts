import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgStore } from '../src/blob/store/postgres.js';
import { parseRef } from '../src/blob/ref.js';
import { PgGraphStore } from '../src/graph/store/postgres.js';
import { PgLedger } from '../src/ledger/postgres.js';
import { freshPgSchema } from './helpers/pg.js';

/** Every relation (table, index, sequence) of the current schema. */
async function relations(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ relname: string }>("SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'i', 'S') ORDER BY 1");
  return r.rows.map((x) => x.relname);
}

describe('PostgreSQL tables are prefixed plexus_', () => {
  it('an app\'s own blobs, anchors and graph_fields tables are left alone', async () => {
    const s = await freshPgSchema('pgt');
    const c = new pg.Client({ connectionString: s.url });
    await c.connect();
    try {
      await c.query(`
        CREATE TABLE blobs (id serial PRIMARY KEY, name text NOT NULL, body bytea);
        CREATE TABLE anchors (ref bytea PRIMARY KEY, data bytea NOT NULL, extra text);
        CREATE TABLE graph_fields (soul text, field text);
        INSERT INTO blobs (name, body) VALUES ('mine', 'x');`);
      const store = await PgStore.open(s.url);
      const graph = new PgGraphStore(s.url);
      const ledger = new PgLedger(s.url);
      try {
        const { ref } = await store.put(new TextEncoder().encode('hello'));
        assert.equal(new TextDecoder().decode(await store.get(ref)), 'hello');
        await store.putAnchor('site/main', ref);
        await graph.put([{ soul: 'a', field: 'x', value: 1, state: 1 }], 10);
        assert.deepEqual(await graph.getField('a', 'x'), { value: 1, state: 1 });
        await ledger.publish({ acts: [{ top: 'todo', key: 'a', cmd: 'new' }] });
      } finally {
        await store.close();
        await graph.close();
        await ledger.close();
      }
      assert.deepEqual((await c.query('SELECT name, body FROM blobs')).rows, [{ name: 'mine', body: Buffer.from('x') }]);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM anchors')).rows[0].n, 0);
      const rels = await relations(c);
      for (const t of ['plexus_blobs', 'plexus_anchors', 'plexus_graph_fields', 'plexus_graph_deferred', 'plexus_evt_event', 'plexus_evt_record', 'plexus_evt_local', 'plexus_evt_meta']) assert.ok(rels.includes(t), t);
      assert.deepEqual(rels.filter((n) => !n.startsWith('plexus_')).sort(), ['anchors', 'anchors_pkey', 'blobs', 'blobs_id_seq', 'blobs_pkey', 'graph_fields']);
    } finally {
      await c.end();
      await s.drop();
    }
  });

  it('tables of a plexus from before the prefix are renamed on open, data kept, names freed', async () => {
    const s = await freshPgSchema('pgt');
    const c = new pg.Client({ connectionString: s.url });
    await c.connect();
    try {
      // The schema the unprefixed stores created, with data in it.
      const ref = parseRef('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'); // sha256('hello')
      await c.query(`
        CREATE TABLE blobs (ref BYTEA PRIMARY KEY, data BYTEA NOT NULL);
        CREATE TABLE anchors (name TEXT PRIMARY KEY, version BIGINT NOT NULL, history JSONB NOT NULL);
        CREATE TABLE graph_fields (soul text NOT NULL, field text NOT NULL, value text NOT NULL, state double precision NOT NULL, PRIMARY KEY (soul, field));
        CREATE TABLE graph_deferred (id bigserial PRIMARY KEY, soul text NOT NULL, field text NOT NULL, value text NOT NULL, state double precision NOT NULL);
        CREATE INDEX graph_deferred_state ON graph_deferred (state);
        INSERT INTO blobs VALUES ('\\x${ref}', 'hello');
        INSERT INTO graph_fields VALUES ('a', 'x', '"old"', 5);
        INSERT INTO graph_deferred (soul, field, value, state) VALUES ('a', 'later', '2', 1e15);`);
      const store = await PgStore.open(s.url);
      const again = await PgStore.open(s.url); // a second open finds everything in place
      const graph = new PgGraphStore(s.url);
      try {
        assert.equal(new TextDecoder().decode(await store.get(ref)), 'hello');
        await store.putAnchor('n', ref, 1000);
        assert.deepEqual(await again.getAnchor('n'), { at: 1000, ref });
        assert.deepEqual(await graph.getField('a', 'x'), { value: 'old', state: 5 });
        assert.equal(await graph.nextDue(), 1e15);
        await graph.put([{ soul: 'a', field: 'y', value: true, state: 6 }], 10);
      } finally {
        await store.close();
        await again.close();
        await graph.close();
      }
      const rels = await relations(c);
      assert.deepEqual(rels.filter((n) => !n.startsWith('plexus_')), [], 'tables, indexes and sequences all renamed');
      assert.ok(rels.includes('plexus_graph_deferred_state') && rels.includes('plexus_graph_deferred_id_seq') && rels.includes('plexus_blobs_pkey'), rels.join());
      // The old names are free for the app now.
      await c.query('CREATE TABLE blobs (id serial PRIMARY KEY, ref text); CREATE TABLE graph_deferred (id bigserial PRIMARY KEY)');
    } finally {
      await c.end();
      await s.drop();
    }
  });
});
