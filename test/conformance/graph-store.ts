import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { GraphStore } from '../../src/graph/store.js';
import type { FieldWrite } from '../../src/graph/value.js';

/** A fresh, empty graph store; `open` gives another handle on the same data (when the adapter has one). */
export type MakeGraphStore = () => Promise<{ store: GraphStore; cleanup(): Promise<void>; open?(): Promise<GraphStore> }>;

const M = 1e13;
const w = (soul: string, field: string, value: FieldWrite['value'], state: number): FieldWrite => ({ soul, field, value, state });

/**
 * The conformance suite every GraphStore adapter must pass. `sharedData: false` is for adapters whose
 * data lives in one handle only (memory): the second-handle test is then not registered at all, and for
 * every other adapter a missing `open` fails it.
 */
export function graphStoreConformance(name: string, make: MakeGraphStore, opts: { sharedData?: boolean } = {}): void {
  describe(`${name}: graph store conformance`, () => {
    let store: GraphStore;
    let cleanup: () => Promise<void>;
    let open: (() => Promise<GraphStore>) | undefined;
    before(async () => ({ store, cleanup, open } = await make()));
    after(async () => cleanup());

    it('get of an unknown soul / field is undefined; put then get returns every field with its state', async () => {
      assert.equal(await store.get('nobody'), undefined);
      assert.equal(await store.getField('nobody', 'x'), undefined);
      const r = await store.put([w('n1', 'a', 'x', 1000), w('n1', 'b', 5, 1000), w('n1', 'c', { '#': 'n2' }, 1001), w('n1', 'd', null, 1002), w('n1', 'e', false, 1000.5)], M);
      assert.deepEqual(r, Array(5).fill('never-seen-update'));
      const n = await store.get('n1');
      assert.deepEqual(Object.fromEntries(n!), { a: { value: 'x', state: 1000 }, b: { value: 5, state: 1000 }, c: { value: { '#': 'n2' }, state: 1001 }, d: { value: null, state: 1002 }, e: { value: false, state: 1000.5 } });
      assert.deepEqual(await store.getField('n1', 'c'), { value: { '#': 'n2' }, state: 1001 });
      assert.equal(await store.getField('n1', 'zz'), undefined);
    });

    it('HAM: older ignored, newer wins, ties by JSON text, identical keeps; within one batch too', async () => {
      await store.put([w('h', 'f', 'a', 1000)], M);
      assert.deepEqual(await store.put([w('h', 'f', 'b', 999)], M), ['older-historical']);
      assert.deepEqual(await store.put([w('h', 'f', 'a', 1000)], M), ['same-keep']);
      assert.deepEqual(await store.put([w('h', 'f', 'B', 1000)], M), ['same-keep']);
      assert.deepEqual(await store.put([w('h', 'f', null, 1000)], M), ['same-update']);
      assert.deepEqual(await store.getField('h', 'f'), { value: null, state: 1000 });
      assert.deepEqual(await store.put([w('h', 'g', 1, 5), w('h', 'g', 2, 7), w('h', 'g', 3, 6)], M), ['never-seen-update', 'newer-update', 'older-historical']);
      assert.deepEqual(await store.getField('h', 'g'), { value: 2, state: 7 });
    });

    it('deletes (null) stay deleted: a stale re-send of the old value cannot resurrect it', async () => {
      await store.put([w('d', 'x', 'alive', 100)], M);
      await store.put([w('d', 'x', null, 200)], M);
      assert.deepEqual(await store.put([w('d', 'x', 'alive', 100), w('d', 'x', 'zombie', 199)], M), ['older-historical', 'older-historical']);
      assert.deepEqual(await store.getField('d', 'x'), { value: null, state: 200 });
    });

    it('future states are deferred (persisted), applied when due and never early', async () => {
      const now = 50_000;
      assert.deepEqual(await store.put([w('fu', 'x', 'later', now + 300), w('fu', 'y', 'now', now)], now), ['too-future-deferred', 'never-seen-update']);
      assert.equal(await store.getField('fu', 'x'), undefined);
      assert.equal(await store.nextDue(), now + 300);
      if (open) {
        const other = await open();
        assert.equal(await other.nextDue(), now + 300);
        await other.close();
      }
      assert.deepEqual(await store.applyDue(now + 299), []);
      const applied = await store.applyDue(now + 300);
      assert.deepEqual(applied, [w('fu', 'x', 'later', now + 300)]);
      assert.deepEqual(await store.getField('fu', 'x'), { value: 'later', state: now + 300 });
      assert.equal(await store.nextDue(), undefined);
      assert.deepEqual(await store.applyDue(now + 1000), []);
    });

    it('awkward souls and fields round-trip (unicode, quotes, __proto__, long)', async () => {
      const souls = ['~a/b c', 'ü🙂"\'\\', '__proto__', 'x'.repeat(1000)];
      for (const s of souls) await store.put([w(s, '__proto__', 'p', 1), w(s, 'constructor', 'k', 1), w(s, '🙂', '🙂', 1)], M);
      for (const s of souls) assert.deepEqual(Object.fromEntries((await store.get(s))!), Object.fromEntries([['__proto__', { value: 'p', state: 1 }], ['constructor', { value: 'k', state: 1 }], ['🙂', { value: '🙂', state: 1 }]]));
    });

    it('converges like an in-order replay for random batches (100 runs)', async () => {
      const seed = Number(process.env.SEED ?? Date.now() % 1e9);
      let run = 0;
      const value = fc.oneof(fc.constant(null), fc.string({ maxLength: 2 }), fc.integer({ min: 0, max: 9 }), fc.boolean());
      const write = fc.record({ field: fc.constantFrom('a', 'b'), value, state: fc.constantFrom(1, 2, 3) });
      try {
        await fc.assert(fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 12 }), async (ws) => {
          const soul = `p${run++}`;
          const a = ws.map((x) => ({ soul, ...x }));
          await store.put(a.slice(0, Math.ceil(a.length / 2)), M);
          await store.put(a.slice(Math.ceil(a.length / 2)), M);
          const rev = a.map((x) => ({ ...x, soul: soul + 'r' })).reverse();
          for (const x of rev) await store.put([x], M);
          assert.deepEqual(Object.fromEntries((await store.get(soul))!), Object.fromEntries((await store.get(soul + 'r'))!));
        }), { numRuns: 100, seed });
      } catch (err) {
        console.error(`graph store convergence failed, seed=${seed}`);
        throw err;
      }
    });

    if (opts.sharedData !== false) it('a second handle on the same data sees committed writes', async () => {
      assert.ok(open, `${name} gives a second handle on the same data`);
      const other = await open();
      try {
        await store.put([w('shared', 'k', 'v1', 10)], M);
        assert.deepEqual(await other.getField('shared', 'k'), { value: 'v1', state: 10 });
        await other.put([w('shared', 'k', 'v2', 11)], M);
        assert.deepEqual(await store.getField('shared', 'k'), { value: 'v2', state: 11 });
      } finally {
        await other.close();
      }
    });

    it('souls(): lists stored souls by prefix, range and cursor, in order or reversed (property, 100 runs)', async () => {
      assert.ok(store.souls, `${name} lists souls`);
      let run = 0;
      const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
      await fc.assert(fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/', '1', 'é'), maxLength: 4 }), { maxLength: 12 }),
        fc.record({ prefix: fc.option(fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 }), { nil: undefined }),
          from: fc.option(fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), maxLength: 3 }), { nil: undefined }),
          to: fc.option(fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), maxLength: 3 }), { nil: undefined }),
          after: fc.option(fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 3 }), { nil: undefined }),
          reverse: fc.boolean(), limit: fc.integer({ min: 0, max: 14 }) }),
        async (names, q) => {
          const base = `lexsoul${run++}:`;
          if (names.length) await store.put(names.map((n) => w(base + n, 'f', 1, 5)), M);
          const scoped = { ...q, prefix: base + (q.prefix ?? ''), ...(q.from === undefined ? {} : { from: base + q.from }), ...(q.to === undefined ? {} : { to: base + q.to }), ...(q.after === undefined ? {} : { after: base + q.after }) };
          const rest = (s: string) => s.slice(base.length);
          const want = names.filter((n) => (q.prefix === undefined || n.startsWith(q.prefix)) && (q.from === undefined || n >= q.from) && (q.to === undefined || n <= q.to)
            && (q.after === undefined || (q.reverse ? n < q.after : n > q.after))).sort();
          if (q.reverse) want.reverse();
          assert.deepEqual((await store.souls!(scoped)).map(rest), want.slice(0, q.limit));
        }), { numRuns: 100, seed });
    });

    it('rejects use after close with CLOSED', async () => {
      const s = await make();
      await s.store.close();
      await assert.rejects(s.store.get('x'), (e: { code?: string }) => e.code === 'CLOSED');
      await s.cleanup();
    });
  });
}
