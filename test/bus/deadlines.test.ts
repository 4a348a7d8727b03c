// The shared deadline timer (src/bus/deadlines.ts) that replaced one setTimeout per call and per handler:
// never early, at most a bucket (plus a loop turn) late, cancelled ones never fire, nothing stays armed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEADLINE_RESOLUTION_MS, Deadlines } from '../../src/bus/deadlines.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
}

describe('bus deadlines (one timer for many)', () => {
  it('fires every uncancelled deadline once, never early, in deadline order; cancelled ones never', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    console.log(`deadlines seed ${seed}`);
    const r = rng(seed);
    // each deadline's due time is taken from the clock read the timer itself made when it was armed (a pause
    // between a read of our own and the timer's, a GC or a preemption, would move the timer's bucket, not ours)
    let read = 0;
    const d = new Deadlines(() => (read = performance.now()));
    const N = 300;
    const fired: { i: number; at: number; due: number }[] = [];
    const cancelled = new Set<number>();
    const handles = [];
    for (let i = 0; i < N; i++) {
      const ms = Math.floor(r() * 60);
      const f = { i, at: 0, due: 0 };
      handles.push(d.after(ms, () => { f.at = performance.now(); fired.push(f); }));
      f.due = read + ms;
    }
    // cancel a random third, some of them twice
    for (let i = 0; i < N; i++) if (r() < 0.33) { handles[i]!.cancel(); if (r() < 0.5) handles[i]!.cancel(); cancelled.add(i); }
    assert.equal(d.size, N - cancelled.size);
    // a deadline added while others wait, shorter than all of them
    let early = 0;
    d.after(0, () => { early = performance.now(); });
    await new Promise((res) => setTimeout(res, 150));
    assert.ok(early > 0);
    assert.equal(d.size, 0);
    assert.equal(fired.length, N - cancelled.size);
    assert.deepEqual(new Set(fired.map((f) => f.i)).size, fired.length, 'each fires once');
    for (const f of fired) {
      assert.ok(!cancelled.has(f.i), `cancelled deadline ${f.i} fired`);
      assert.ok(f.at >= f.due - 1, `deadline ${f.i} fired ${(f.due - f.at).toFixed(2)} ms early`); // -1: ms rounding of Date-free clocks
      assert.ok(f.at - f.due < DEADLINE_RESOLUTION_MS + 60, `deadline ${f.i} fired ${(f.at - f.due).toFixed(1)} ms late`);
    }
    for (let k = 1; k < fired.length; k++) assert.ok(fired[k]!.due >= fired[k - 1]!.due - DEADLINE_RESOLUTION_MS, 'fires in bucket order');
  });

  it('deadlines added while the timer waits for a later one fire on time; an idle timer does not keep the process alive', async () => {
    const d = new Deadlines();
    const got: number[] = [];
    d.after(30, () => got.push(3));
    d.after(5, () => got.push(1));
    d.after(9, () => got.push(2));
    await new Promise((res) => setTimeout(res, 60));
    assert.deepEqual(got, [1, 2, 3]);
    // all cancelled: size 0, and the test process still exits (the timer is unref'd)
    const h = d.after(10_000, () => assert.fail('cancelled'));
    h.cancel();
    assert.equal(d.size, 0);
  });
});
