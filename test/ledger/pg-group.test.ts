import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgLedger } from '../../src/ledger/postgres.js';
import type { TransInput } from '../../src/ledger/event.js';
import { freshPgSchema } from '../helpers/pg.js';

type Group = Array<{ t: TransInput }>;

/** The ledger's store with its publishGroup calls recorded (group sizes). */
function spyGroups(l: PgLedger): number[] {
  const st = (l as unknown as { store: { publishGroup: (items: Group) => Promise<unknown> } }).store;
  const orig = st.publishGroup.bind(st);
  const sizes: number[] = [];
  st.publishGroup = (items) => { sizes.push(items.length); return orig(items); };
  return sizes;
}

const code = (r: PromiseSettledResult<unknown>): string => (r.status === 'fulfilled' ? 'ok' : String((r.reason as { code?: string }).code));

describe('postgres ledger: group commit of concurrent publishes', () => {
  let s: Awaited<ReturnType<typeof freshPgSchema>>;
  let c: pg.Client;
  before(async () => { s = await freshPgSchema('lgroup'); c = new pg.Client({ connectionString: s.url }); await c.connect(); });
  after(async () => { await c.end(); await s.drop(); });

  it('commits publishes queued together in one round trip, each atomic and checked on its own', async () => {
    const l = new PgLedger(s.url);
    try {
      const first = await l.publish({ acts: [{ top: 't', key: 'base', cmd: 'new', arg: { v: 0 } }], tid: 'seen' });
      await l.publish({ acts: [{ top: 't', key: 'base', cmd: 'mod', arg: { v: 1 } }] }); // base changes after `first`
      const sizes = spyGroups(l);
      const trans: TransInput[] = [
        { acts: [{ top: 't', key: 'a', cmd: 'new', arg: { v: 1 } }] },
        { acts: [{ top: 't', key: 'base', cmd: 'mod', arg: { v: 2 } }], base: first.rev }, // CONFLICT: base changed since
        { acts: [{ top: 't', key: 'b', cmd: 'new' }], tid: 'seen' }, // DUPLICATE
        { acts: [{ top: 't', key: 'c', cmd: 'new' }, { top: 't', key: 'missing', cmd: 'mod', arg: { x: 1 } }] }, // NOT_FOUND on its 2nd action: c must not exist
        { acts: [{ top: 't', key: 'd', cmd: 'new' }], base: Date.now() + 3_600_000 }, // INVALID_TRANS: future base
        { acts: [{ top: 't', key: 'a', cmd: 'new' }] }, // CONFLICT with the first of this group (sees its write)
        { acts: [{ top: 't', key: 'a', cmd: 'mod', arg: { w: 2 } }], usr: 'bob', extra: { why: 'x' }, tid: 'fresh' },
        ...Array.from({ length: 9 }, (_, i): TransInput => ({ acts: [{ top: 't', key: `k${i}`, cmd: 'new', arg: { i } }] })),
      ];
      const rs = await Promise.allSettled(trans.map((t) => l.publish(t)));
      assert.deepEqual(rs.map(code), ['ok', 'CONFLICT', 'DUPLICATE', 'NOT_FOUND', 'INVALID_TRANS', 'CONFLICT', 'ok', ...Array(9).fill('ok')]);
      assert.ok(sizes.some((n) => n > 1), `publishes went to the database in groups (sizes ${sizes.join(',')})`);
      assert.ok(sizes.length < trans.length, `fewer round trips than publishes (${sizes.length})`);
      const dup = rs[2] as PromiseRejectedResult;
      assert.deepEqual((dup.reason as { detail?: unknown }).detail, { tid: 'seen', rev: first.rev });
      // the accepted ones: strictly increasing revisions and ids, in submission order
      const ok = rs.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<PgLedger['publish']>>> => r.status === 'fulfilled').map((r) => r.value);
      for (let i = 1; i < ok.length; i++) {
        assert.ok(ok[i]!.rev > ok[i - 1]!.rev, 'revisions increase');
        assert.ok(ok[i]!.evs[0]!.id > ok[i - 1]!.evs[0]!.id, 'ids increase');
      }
      // what the database holds (read on another connection: acked means committed)
      const evs = (await c.query("SELECT key, cmd FROM plexus_evt_event WHERE key <> 'base' ORDER BY id")).rows.map((r: { key: string; cmd: string }) => `${r.key}:${r.cmd}`);
      assert.deepEqual(evs, ['a:new', 'a:mod', ...Array.from({ length: 9 }, (_, i) => `k${i}:new`)]);
      assert.equal((await c.query("SELECT count(*)::int AS n FROM plexus_evt_record WHERE key IN ('b', 'c', 'd', 'missing')")).rows[0].n, 0, 'failed publishes left no record');
      assert.deepEqual((await c.query("SELECT data FROM plexus_evt_record WHERE key = 'a'")).rows[0].data, { v: 1, w: 2 });
      assert.deepEqual((await c.query("SELECT data FROM plexus_evt_record WHERE key = 'base'")).rows[0].data, { v: 1 });
      assert.deepEqual(await l.audit(ok[1]!.rev), { rev: ok[1]!.rev, created: (await l.audit(ok[1]!.rev))!.created, arrived: (await l.audit(ok[1]!.rev))!.arrived, usr: 'bob', extra: { why: 'x' }, tid: 'fresh' });
    } finally { await l.close(); }
  });

  it('acks a grouped publish only once it is committed: every resolved publish is visible to another connection at once', async () => {
    const l = new PgLedger(s.url);
    try {
      const sizes = spyGroups(l);
      const seen: boolean[] = [];
      await Promise.all(Array.from({ length: 32 }, async (_, i) => {
        const r = await l.publish({ acts: [{ top: 'dur', key: `x${i}`, cmd: 'new' }] });
        const q = await c.query('SELECT 1 FROM plexus_evt_event WHERE id = $1', [r.evs[0]!.id]);
        seen.push(q.rows.length === 1);
      }));
      assert.equal(seen.length, 32);
      assert.ok(seen.every(Boolean));
      assert.ok(sizes.some((n) => n > 1));
    } finally { await l.close(); }
  });

  it('a group whose connection fails fails each of its publishes, none retried (it may have committed)', async () => {
    const l = new PgLedger(s.url);
    await l.publish({ acts: [{ top: 'down', key: 'warm', cmd: 'new' }] });
    const st = (l as unknown as { store: { publishGroup: (items: Group) => Promise<unknown> } }).store;
    st.publishGroup = async () => { throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }); };
    const rs = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => l.publish({ acts: [{ top: 'down', key: `y${i}`, cmd: 'new' }] })));
    await l.close();
    // the five were queued in one turn: one group, rejected as a whole, nothing written
    assert.deepEqual(rs.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'ok')), Array(5).fill('ECONNRESET'));
    assert.equal((await c.query("SELECT count(*)::int AS n FROM plexus_evt_event WHERE top = 'down'")).rows[0].n, 1);
  });

  it('a value the database refuses fails only the publish that holds it (the group is published one by one)', async () => {
    const l = new PgLedger(s.url);
    try {
      const sizes = spyGroups(l);
      // U+0000 is refused by jsonb (the hub's text check refuses it earlier; the library API does not)
      const rs = await Promise.allSettled([
        l.publish({ acts: [{ top: 'nul', key: 'a', cmd: 'new', arg: { v: 1 } }] }),
        l.publish({ acts: [{ top: 'nul', key: 'b', cmd: 'new', arg: { v: 'x\u0000y' } }] }),
        l.publish({ acts: [{ top: 'nul', key: 'c', cmd: 'new', arg: { v: 3 } }] }),
      ]);
      assert.deepEqual(sizes, [3]);
      assert.deepEqual(rs.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      const keys = (await c.query("SELECT key FROM plexus_evt_event WHERE top = 'nul' ORDER BY id")).rows.map((r: { key: string }) => r.key);
      assert.deepEqual(keys, ['a', 'c']);
    } finally { await l.close(); }
  });
});
