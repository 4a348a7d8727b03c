import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isPlexusError } from '../../src/errors.js';
import type { Event } from '../../src/ledger/event.js';
import type { LedgerOptions, StoreLedger } from '../../src/ledger/ledger.js';
import { parseTime, ZERO_TIME } from '../../src/ledger/time.js';

/** Makes a fresh, empty ledger; `done` releases what the factory made (schemas, files). */
export type MakeLedger = (opts: LedgerOptions) => Promise<StoreLedger>;

async function all(it: AsyncIterable<Event>): Promise<Event[]> {
  const out: Event[] = [];
  for await (const e of it) out.push(e);
  return out;
}

const T0 = parseTime('2024-02-10T17:02:51.456789Z');

/** The conformance suite every Ledger adapter (memory, SQLite, PostgreSQL) passes. */
export function ledgerConformance(name: string, make: MakeLedger, done: () => Promise<void> = async () => {}): void {
  describe(`${name} ledger conformance`, () => {
    const open: StoreLedger[] = [];
    let clockNow = T0;
    const L = async (opts: LedgerOptions = {}) => { const l = await make({ clock: () => clockNow, ...opts }); open.push(l); return l; };
    after(async () => { for (const l of open) await l.close(); await done(); });
    before(() => { clockNow = T0; });

    it('starts empty', async () => {
      const l = await L();
      assert.equal(await l.rev(), ZERO_TIME);
      assert.deepEqual(await all(l.events(ZERO_TIME)), []);
      assert.equal(await l.get('prod.cat', '1'), undefined);
    });

    it('publishes one revision per transaction, ids in action order, with an audit row', async () => {
      const l = await L();
      clockNow = T0;
      const r = await l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'new', arg: { name: 'a' } }, { top: 'prod.cat', key: '2', cmd: 'new', arg: { name: 'b' } }], usr: 'bob', extra: { why: 'x' }, tid: 't1' });
      assert.equal(r.rev, parseTime('2024-02-10T17:02:51.456Z'));
      assert.deepEqual(r.evs.map((e) => [e.id, e.rev, e.key]), [[1, r.rev, '1'], [2, r.rev, '2']]);
      assert.equal(await l.rev(), r.rev);
      const a = await l.audit(r.rev);
      assert.deepEqual(a, { rev: r.rev, created: T0, arrived: T0, usr: 'bob', extra: { why: 'x' }, tid: 't1' });
      // same clock: strictly increasing revisions
      const r2 = await l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'mod', arg: { n: 1 } }] });
      assert.equal(r2.rev, r.rev + 1);
      assert.equal(r2.evs[0]!.id, 3);
      assert.deepEqual(await all(l.events(ZERO_TIME)), [...r.evs, ...r2.evs]);
      assert.deepEqual((await all(l.events(r.rev))).map((e) => e.id), [3]);
      assert.deepEqual((await l.eventsAfterId(1)).map((e) => e.id), [2, 3]);
    });

    it('projects the latest state (get/list) and rebuilds past states (at)', async () => {
      const l = await L();
      clockNow = T0;
      const r1 = await l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'new', arg: { name: 'a', n: 1 } }, { top: 'prod.cat', key: '2', cmd: 'new', arg: { name: 'b' } }, { top: 'prod.prod', key: '9', cmd: 'new', arg: { x: true } }] });
      const r2 = await l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'mod', arg: { name: 'c', 'n-': null } }] });
      const r3 = await l.publish({ acts: [{ top: 'prod.cat', key: '2', cmd: 'del' }] });
      assert.deepEqual(await l.get('prod.cat', '1'), { top: 'prod.cat', key: '1', rev: r2.rev, data: { name: 'c' } });
      assert.equal(await l.get('prod.cat', '2'), undefined);
      assert.deepEqual((await l.list('prod.cat')).map((x) => x.key), ['1']);
      assert.deepEqual((await l.at(r1.rev)).map((x) => [x.top, x.key, x.data]), [['prod.cat', '1', { name: 'a', n: 1 }], ['prod.cat', '2', { name: 'b' }], ['prod.prod', '9', { x: true }]]);
      assert.deepEqual((await l.at(r2.rev, ['prod.cat'])).map((x) => x.data), [{ name: 'c' }, { name: 'b' }]);
      assert.deepEqual((await l.at(r3.rev, ['prod.cat'])).map((x) => x.key), ['1']);
      assert.deepEqual(await l.at(ZERO_TIME), []);
      assert.deepEqual((await all(l.events(ZERO_TIME, ['prod.prod']))).map((e) => e.key), ['9']);
    });

    it('rejects bad transactions and writes nothing', async () => {
      const l = await L({ topics: ['prod.cat'] });
      const r1 = await l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'new', arg: { name: 'a' } }] });
      const code = (c: string, m?: RegExp) => (e: unknown) => isPlexusError(e) && e.code === c && (!m || m.test(e.message));
      await assert.rejects(() => l.publish({ acts: [] }), code('INVALID_TRANS', /no actions/));
      await assert.rejects(() => l.publish({ acts: [{ top: 'nope', key: '1', cmd: 'new' }] }), code('NOT_FOUND', /no model found for topic nope/));
      await assert.rejects(() => l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'zap' }] }), code('INVALID_TRANS'));
      await assert.rejects(() => l.publish({ base: r1.rev + 60_000, acts: [{ top: 'prod.cat', key: '1', cmd: 'del' }] }), code('INVALID_TRANS', /future base/));
      // second action fails: the first is not applied either
      await assert.rejects(() => l.publish({ acts: [{ top: 'prod.cat', key: '2', cmd: 'new', arg: {} }, { top: 'prod.cat', key: '3', cmd: 'mod', arg: { a: 1 } }] }), code('NOT_FOUND'));
      await assert.rejects(() => l.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'new', arg: {} }] }), code('CONFLICT', /new action for existing/));
      assert.equal(await l.rev(), r1.rev);
      assert.equal(await l.get('prod.cat', '2'), undefined);
      assert.equal((await all(l.events(ZERO_TIME))).length, 1);
      const after = await l.publish({ acts: [{ top: 'prod.cat', key: '2', cmd: 'new', arg: {} }] });
      assert.equal(after.evs[0]!.id, 2, 'no id was burnt... or at least ids stay increasing');
    });

    it('optimistic concurrency: a stale base touching a changed record is a CONFLICT, atomically', async () => {
      const l = await L();
      clockNow = T0;
      const r1 = await l.publish({ acts: [{ top: 't', key: '1', cmd: 'new', arg: { v: 1 } }, { top: 't', key: '2', cmd: 'new', arg: { v: 1 } }] });
      const r2 = await l.publish({ base: r1.rev, acts: [{ top: 't', key: '1', cmd: 'mod', arg: { v: 2 } }] });
      await assert.rejects(() => l.publish({ base: r1.rev, acts: [{ top: 't', key: '2', cmd: 'mod', arg: { v: 3 } }, { top: 't', key: '1', cmd: 'mod', arg: { v: 3 } }] }), (e: unknown) => isPlexusError(e, 'CONFLICT'));
      assert.deepEqual((await l.get('t', '2'))!.data, { v: 1 });
      assert.equal(await l.rev(), r2.rev);
      assert.equal(await l.audit(r2.rev + 1), undefined);
      // untouched record with the same stale base: fine; base zero: no check
      await l.publish({ base: r1.rev, acts: [{ top: 't', key: '2', cmd: 'mod', arg: { v: 4 } }] });
      await l.publish({ acts: [{ top: 't', key: '1', cmd: 'mod', arg: { v: 5 } }] });
      assert.deepEqual((await l.get('t', '1'))!.data, { v: 5 });
      // a deleted record still conflicts (checked against events, not the projection)
      const r5 = await l.publish({ acts: [{ top: 't', key: '2', cmd: 'del' }] });
      await assert.rejects(() => l.publish({ base: r5.rev - 1, acts: [{ top: 't', key: '2', cmd: 'new', arg: {} }] }), (e: unknown) => isPlexusError(e, 'CONFLICT'));
    });

    it('transaction ids are idempotent: the same tid is applied once', async () => {
      const l = await L();
      const r1 = await l.publish({ tid: 'sat1:1', acts: [{ top: 't', key: '1', cmd: 'new', arg: { v: 1 } }] });
      await assert.rejects(() => l.publish({ tid: 'sat1:1', acts: [{ top: 't', key: '1', cmd: 'new', arg: { v: 1 } }] }),
        (e: unknown) => isPlexusError(e, 'DUPLICATE') && e.detail?.rev === r1.rev);
      await assert.rejects(() => l.publish({ tid: 'sat1:1', acts: [{ top: 't', key: '9', cmd: 'new' }] }), (e: unknown) => isPlexusError(e, 'DUPLICATE'));
      assert.equal((await all(l.events(ZERO_TIME))).length, 1);
      assert.equal(await l.get('t', '9'), undefined);
    });

    it('events(since) and at(rev) page through long ledgers', async () => {
      const l = await L();
      const revs: number[] = [];
      for (let t = 0; t < 3; t++) revs.push((await l.publish({ acts: Array.from({ length: 700 }, (_, i) => ({ top: t === 1 ? 'b' : 'a', key: `${t}-${i}`, cmd: 'new', arg: { i } })) })).rev);
      assert.equal((await all(l.events(ZERO_TIME))).length, 2100);
      const after0 = await all(l.events(revs[0]!));
      assert.equal(after0.length, 1400);
      assert.equal(after0[0]!.id, 701);
      assert.equal((await all(l.events(revs[1]!))).length, 700);
      assert.equal((await all(l.events(revs[2]!))).length, 0);
      assert.equal((await all(l.events(revs[0]! - 1, ['b']))).length, 700);
      assert.equal((await l.at(revs[0]!)).length, 700);
      assert.equal((await l.at(revs[1]!, ['a'])).length, 700);
      assert.equal((await l.at(revs[2]!)).length, 2100);
      assert.equal(await l.lastEventId(), 2100);
    });

    it('concurrent publishes: failures among them leave nothing, the others commit', async () => {
      const l = await L();
      await l.publish({ tid: 'old', acts: [{ top: 'g', key: 'x', cmd: 'new', arg: {} }] });
      const outcomes = await Promise.allSettled([
        l.publish({ acts: [{ top: 'g', key: '1', cmd: 'new', arg: { v: 1 } }] }),
        l.publish({ acts: [{ top: 'g', key: '2', cmd: 'new', arg: {} }, { top: 'g', key: 'missing', cmd: 'mod', arg: { v: 1 } }] }),
        l.publish({ tid: 'old', acts: [{ top: 'g', key: '3', cmd: 'new', arg: {} }] }),
        l.publish({ acts: [{ top: 'g', key: '1', cmd: 'mod', arg: { v: 2 } }] }),
        l.publish({ acts: [{ top: 'g', key: '1', cmd: 'new', arg: { v: 3 } }] }),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code), ['ok', 'NOT_FOUND', 'DUPLICATE', 'ok', 'CONFLICT']);
      assert.deepEqual((await l.list('g')).map((x) => [x.key, x.data]), [['1', { v: 2 }], ['x', {}]]);
      assert.equal((await all(l.events(ZERO_TIME))).length, 3);
    });

    it('concurrent publishes get distinct increasing revisions', async () => {
      const l = await L();
      clockNow = T0;
      const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => l.publish({ acts: [{ top: 't', key: String(i), cmd: 'new', arg: { i } }] })));
      const evs = await all(l.events(ZERO_TIME));
      assert.equal(evs.length, 30);
      for (let i = 1; i < evs.length; i++) assert.ok(evs[i]!.rev > evs[i - 1]!.rev && evs[i]!.id > evs[i - 1]!.id);
      assert.equal(new Set(rs.map((r) => r.rev)).size, 30);
    });

    it('replicates hub events (keeping hub ids), publishes locally, rebases and rejects', async () => {
      const l = await L();
      clockNow = T0;
      const h1 = Math.floor(T0) - 1000;
      let res = await l.replicate(h1, [{ id: 5, rev: h1, top: 't', key: '1', cmd: 'new', arg: { v: 1 } }, { id: 6, rev: h1, top: 't', key: '2', cmd: 'new', arg: { v: 1 } }]);
      assert.deepEqual(res.rejected, []);
      assert.equal(await l.rev(), h1);
      assert.deepEqual((await all(l.events(ZERO_TIME))).map((e) => e.id), [5, 6]);
      // replicating the same events again changes nothing
      await l.replicate(h1, [{ id: 5, rev: h1, top: 't', key: '1', cmd: 'new', arg: { v: 1 } }]);
      assert.equal((await all(l.events(ZERO_TIME))).length, 2);

      const p1 = await l.publishLocal({ acts: [{ top: 't', key: '1', cmd: 'mod', arg: { v: 2 } }] });
      const p2 = await l.publishLocal({ acts: [{ top: 't', key: '2', cmd: 'del' }] });
      const p3 = await l.publishLocal({ acts: [{ top: 't', key: '3', cmd: 'new', arg: { v: 3 } }] });
      assert.ok(p1.rev > h1 && p2.rev > p1.rev && p3.rev > p2.rev, 'local revisions increase');
      assert.equal(await l.localRev(), p3.rev);
      assert.equal(await l.rev(), h1, 'local publishes do not advance the hub revision');
      assert.equal(p1.trans.base, h1);
      assert.deepEqual((await l.locals()).map((t) => t.tid), [p1.trans.tid, p2.trans.tid, p3.trans.tid]);
      assert.deepEqual((await l.get('t', '1'))!.data, { v: 2 });
      assert.equal(await l.get('t', '2'), undefined);
      assert.equal((await all(l.events(ZERO_TIME))).length, 2, 'local events are not hub events');

      // the hub accepted p1 (as event 8), someone else deleted record 3's slot first (new on key 3 by other) -> p3 no longer applies
      const h2 = Math.floor(T0) + 5000;
      res = await l.replicate(h2, [
        { id: 7, rev: h2 - 1, top: 't', key: '3', cmd: 'new', arg: { other: true } },
        { id: 8, rev: h2, top: 't', key: '1', cmd: 'mod', arg: { v: 2 } },
      ], [p1.trans.tid!]);
      assert.deepEqual(res.rejected.map((r) => [r.trans.tid, r.error.code]), [[p3.trans.tid, 'CONFLICT']]);
      assert.deepEqual((await l.locals()).map((t) => t.tid), [p2.trans.tid]);
      assert.equal(await l.rev(), h2);
      assert.deepEqual((await l.get('t', '3'))!.data, { other: true });
      assert.equal(await l.get('t', '2'), undefined, 'p2 still pending and applied');
      // hub rejects p2: it is settled without events -> rolled back
      res = await l.replicate(h2, [], [p2.trans.tid!]);
      assert.deepEqual(await l.locals(), []);
      assert.deepEqual((await l.get('t', '2'))!.data, { v: 1 });
      assert.deepEqual((await l.get('t', '1'))!.data, { v: 2 });
    });
  });
}
