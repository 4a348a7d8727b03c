import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createStateClock, isUpdate, resolveConflict, type ConflictResolution } from '../../src/graph/ham.js';
import { MemoryGraphStore } from '../../src/graph/store/memory.js';
import type { FieldWrite, Value } from '../../src/graph/value.js';

const M = 1e13; // machine state ahead of every vector's state

describe('graph HAM: resolveConflict (gun.md §6.3 vectors)', () => {
  const vectors: [number, Value | undefined, number | undefined, Value, number, Value | undefined, ConflictResolution][] = [
    [1, 'a', 1000, 'b', 1001, 'b', 'newer-update'],
    [2, 'a', 1001, 'b', 1000, 'a', 'older-historical'],
    [3, 'a', 1000, 'b', 1000, 'b', 'same-update'],
    [4, 'b', 1000, 'a', 1000, 'b', 'same-keep'],
    [5, '5', 1000, 5, 1000, 5, 'same-update'],
    [6, 5, 1000, '5', 1000, 5, 'same-keep'],
    [7, 10, 1000, 9, 1000, 9, 'same-update'],
    [8, 9, 1000, 10, 1000, 9, 'same-keep'],
    [9, 'x', 1000, null, 1000, null, 'same-update'],
    [10, null, 1000, 'x', 1000, null, 'same-keep'],
    [11, 'zzz', 1000, { '#': 'a' }, 1000, { '#': 'a' }, 'same-update'],
    [12, false, 1000, true, 1000, true, 'same-update'],
    [13, 'a', 1000, 'B', 1000, 'a', 'same-keep'],
    [14, undefined, undefined, 'x', 1000, 'x', 'never-seen-update'],
    [15, 'a', 1000, 'b', 1000.001, 'b', 'newer-update'],
    [16, 'a', 1000, 'a', 1000, 'a', 'same-keep'],
  ];
  for (const [n, cur, cs, inc, is, want, res] of vectors) {
    it(`vector ${n}: ${JSON.stringify(cur)}@${cs} <- ${JSON.stringify(inc)}@${is} => ${JSON.stringify(want)} (${res})`, () => {
      const r = resolveConflict(cur, cs, inc, is, M);
      assert.equal(r, res);
      assert.deepEqual(isUpdate(r) ? inc : cur, want);
    });
  }

  it('vector 17: a future state is deferred (even for a never-seen field), applied when due, not before', async () => {
    assert.equal(resolveConflict('a', 1000, 'b', 1400, 1050), 'too-future-deferred');
    assert.equal(resolveConflict(undefined, undefined, 'b', 1400, 1050), 'too-future-deferred');
    const s = new MemoryGraphStore();
    await s.put([{ soul: 's', field: 'f', value: 'a', state: 1000 }], 1000);
    assert.deepEqual(await s.put([{ soul: 's', field: 'f', value: 'b', state: 1400 }], 1050), ['too-future-deferred']);
    assert.deepEqual(await s.getField('s', 'f'), { value: 'a', state: 1000 });
    assert.equal(await s.nextDue(), 1400);
    assert.deepEqual(await s.applyDue(1399), []);
    assert.deepEqual(await s.getField('s', 'f'), { value: 'a', state: 1000 });
    assert.equal((await s.applyDue(1400)).length, 1);
    assert.deepEqual(await s.getField('s', 'f'), { value: 'b', state: 1400 });
    assert.equal(await s.nextDue(), undefined);
  });

  it('state clock: ms, then +n/999 within one ms, monotonic when the wall clock goes back', () => {
    let t = 1000;
    const c = createStateClock(() => t);
    assert.equal(c(), 1000);
    assert.equal(c(), 1000 + 1 / 999);
    assert.equal(c(), 1000 + 2 / 999);
    t = 1001;
    assert.equal(c(), 1001);
    t = 900;
    const a = c();
    assert.ok(a > 1001);
    assert.ok(c() > a);
  });
});

describe('graph HAM: convergence property', () => {
  const value = fc.oneof(fc.constant(null), fc.string({ maxLength: 3 }), fc.integer({ min: -20, max: 20 }), fc.boolean(), fc.constantFrom('a', 'b').map((s) => ({ '#': s })));
  const write = fc.record({ soul: fc.constantFrom('s1', 's2'), field: fc.constantFrom('a', 'b', 'c'), value, state: fc.constantFrom(1, 2, 3, 3.5) });

  it('any delivery order (and duplication) of the same writes gives the same graph (200 runs)', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    try {
      fc.assert(fc.property(fc.array(write, { minLength: 1, maxLength: 25 }), fc.integer({ min: 0, max: 1e9 }), (writes, shuffleSeed) => {
        const graphs: string[] = [];
        for (let run = 0; run < 3; run++) {
          const order = [...writes, ...(run === 2 ? writes.slice(0, 3) : [])];
          let x = shuffleSeed + run * 7919;
          for (let i = order.length - 1; i > 0; i--) { x = (x * 1103515245 + 12345) % 2147483648; const j = x % (i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
          const s = new MemoryGraphStore();
          // deliver in random batch sizes
          let i = 0;
          while (i < order.length) { const n = 1 + (x % 3); s.putSync(order.slice(i, i + n) as FieldWrite[], 10); i += n; x = (x * 31 + 7) % 1000003; }
          const snap: Record<string, unknown> = {};
          for (const soul of ['s1', 's2']) for (const f of ['a', 'b', 'c']) {
            snap[`${soul}.${f}`] = s.getFieldSync(soul, f);
          }
          graphs.push(JSON.stringify(snap));
        }
        assert.equal(graphs[1], graphs[0]);
        assert.equal(graphs[2], graphs[0]);
      }), { numRuns: 200, seed });
    } catch (err) {
      console.error(`convergence property failed, seed=${seed}`);
      throw err;
    }
  });
});

