import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Dedup } from '../../src/graph/dedup.js';

/** The plain model: a Map kept in remember order, expired and over-capacity ids dropped from its front. */
function model(windowMs: number, maxIds: number) {
  const m = new Map<string, number>();
  return (id: string, now: number): boolean => {
    const prev = m.get(id);
    m.delete(id);
    m.set(id, now + windowMs);
    for (const [k, exp] of m) { if (exp > now && m.size <= maxIds) break; m.delete(k); }
    return prev !== undefined && prev > now;
  };
}

describe('graph relay dedup', () => {
  it('an id is a duplicate within the window after it was last seen, not after', () => {
    const d = new Dedup(100, 10);
    assert.equal(d.remember('a', 0), false);
    assert.equal(d.remember('a', 99), true);
    assert.equal(d.remember('a', 198), true, 'refreshed at 99');
    assert.equal(d.remember('a', 298), false);
    assert.equal(d.remember('b', 1000), false);
    assert.equal(d.size, 1, 'a expired');
  });

  it('keeps at most maxIds, forgetting the least recently seen first', () => {
    const d = new Dedup(1e9, 2);
    d.remember('a', 1); d.remember('b', 2); d.remember('a', 3); d.remember('c', 4);
    assert.equal(d.size, 2);
    assert.equal(d.remember('a', 5), true);
    assert.equal(d.remember('b', 6), false, 'b was the least recently seen');
  });

  it('an id resent over and over stays remembered, and its FIFO stays bounded', () => {
    const d = new Dedup(1e9, 3);
    d.remember('a', 0);
    for (let i = 1; i < 20_000; i++) assert.equal(d.remember('b', i), i > 1);
    assert.equal(d.remember('a', 20_000), true);
    assert.equal(d.size, 2);
  });

  it('property: answers as the plain model for any sequence (300 runs)', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    try {
      fc.assert(fc.property(
        fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 10 })), { maxLength: 3000, size: 'large' }),
        (windowMs, maxIds, steps) => {
          const d = new Dedup(windowMs, maxIds), ref = model(windowMs, maxIds);
          let now = 0;
          for (const [id, dt] of steps) {
            now += dt;
            assert.equal(d.remember(`m${id}`, now), ref(`m${id}`, now));
          }
        }), { seed, numRuns: 300 });
    } catch (err) { console.error(`dedup property failed, seed=${seed}`); throw err; }
  });
});
