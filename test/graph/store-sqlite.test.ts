import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteGraphStore } from '../../src/graph/store/sqlite.js';
import type { FieldWrite } from '../../src/graph/value.js';
import { graphStoreConformance } from '../conformance/graph-store.js';
import { tmpDir } from '../helpers/tmp.js';

graphStoreConformance('sqlite', async () => {
  const d = tmpDir();
  const store = new SqliteGraphStore(join(d.path, 'graph.db'));
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => new SqliteGraphStore(join(d.path, 'graph.db')) };
});

describe('sqlite: readText (the relay answers reads from it)', () => {
  const M = 1e13;
  const awkward: FieldWrite[] = [
    { soul: 'rt', field: 'a', value: 'x "quoted" \\ ü 😀', state: 1000.017 },
    { soul: 'rt', field: '__proto__', value: { '#': 'other' }, state: 1000.017 },
    { soul: 'rt', field: 'q"uote\n', value: 1e21, state: 999 },
    { soul: 'rt', field: 'z', value: null, state: 1_796_184_160_287.017 },
    { soul: 'rt', field: 'b', value: false, state: 0.1 + 0.2 },
  ];
  /** What readText gives, parsed back, next to what get / getField give. */
  const same = async (store: SqliteGraphStore) => {
    const [node, one, none, noField] = store.readText([{ soul: 'rt' }, { soul: 'rt', field: 'q"uote\n' }, { soul: 'nobody' }, { soul: 'rt', field: 'nope' }]);
    const parsed = node!.map(([f, json, state]) => [f, { value: JSON.parse(json), state }]);
    assert.deepEqual(parsed, [...(await store.get('rt'))!]);
    for (const [, json] of node!) assert.equal(json, JSON.stringify(JSON.parse(json)));
    assert.deepEqual(one!.map(([f, json, state]) => [f, { value: JSON.parse(json), state }]), [['q"uote\n', await store.getField('rt', 'q"uote\n')]]);
    assert.equal(none, undefined);
    assert.equal(noField, undefined);
  };

  it('gives what get and getField give, values as JSON text, awkward fields included', async () => {
    const d = tmpDir();
    const store = new SqliteGraphStore(join(d.path, 'graph.db'));
    try {
      await store.put(awkward, M);
      await same(store);
      assert.deepEqual(store.readText([{ soul: 'rt', field: 'z' }]), [[['z', 'null', 1_796_184_160_287.017]]]);
    } finally { await store.close(); d.rm(); }
  });

  it('sees accepted fields before their commit is durable, laid over the stored ones in place', async () => {
    const d = tmpDir();
    const store = new SqliteGraphStore(join(d.path, 'graph.db'));
    try {
      await store.put(awkward, M);
      const { durable } = store.accept([{ soul: 'rt', field: 'a', value: 'newer', state: 2000 }, { soul: 'rt', field: 'new', value: 7, state: 2000 }], M);
      const before = store.readText([{ soul: 'rt' }])[0]!;
      assert.deepEqual(before.map((x) => x[0]), ['__proto__', 'a', 'b', 'q"uote\n', 'z', 'new']);
      assert.deepEqual(before.find((x) => x[0] === 'a'), ['a', '"newer"', 2000]);
      assert.deepEqual(store.readText([{ soul: 'rt', field: 'new' }]), [[['new', '7', 2000]]]);
      await same(store);
      await durable;
      await same(store);
    } finally { await store.close(); d.rm(); }
  });
});

describe('sqlite: accept resolves on the commit worker, in the order batches were taken', () => {
  const M = 1e13;
  it('gives each write the resolution sequential puts give, and reads rank pending writes by HAM', async () => {
    const d = tmpDir();
    const store = new SqliteGraphStore(join(d.path, 'graph.db'));
    try {
      await store.put([{ soul: 's', field: 'a', value: 'm', state: 10 }, { soul: 's', field: 'b', value: 1, state: 10 }], M);
      // taken one after another before any is durable: each meets the stored field and the batches before it
      const one = store.accept([{ soul: 's', field: 'a', value: 'old', state: 5 }, { soul: 'n', field: 'x', value: true, state: 1 }], M);
      // an older write accepted but not durable does not hide the stored value from reads
      assert.deepEqual(await store.getField('s', 'a'), { value: 'm', state: 10 });
      assert.deepEqual(store.readText([{ soul: 's' }])[0], [['a', '"m"', 10], ['b', '1', 10]]);
      assert.deepEqual(store.readText([{ soul: 'n', field: 'x' }]), [[['x', 'true', 1]]]);
      const two = store.accept([
        { soul: 's', field: 'a', value: 'z', state: 10 }, // tie, greater text: wins
        { soul: 's', field: 'a', value: 'b', state: 10 }, // tie with the z just before it: loses
        { soul: 's', field: 'b', value: 1, state: 10 }, // identical: keeps
        { soul: 'n', field: 'x', value: false, state: 2 }, // newer than the write of the batch before
        { soul: 's', field: 'late', value: 1, state: M + 1 }, // beyond the machine state: deferred
      ], M);
      assert.deepEqual((await store.getSync('s'))?.get('a'), { value: 'z', state: 10 });
      assert.deepEqual(await one.durable, ['older-historical', 'never-seen-update']);
      assert.deepEqual(await two.durable, ['same-update', 'same-keep', 'same-keep', 'newer-update', 'too-future-deferred']);
      assert.deepEqual(await store.get('s'), new Map([['a', { value: 'z', state: 10 }], ['b', { value: 1, state: 10 }]]));
      assert.deepEqual(await store.getField('n', 'x'), { value: false, state: 2 });
      assert.equal(await store.nextDue(), M + 1);
    } finally { await store.close(); d.rm(); }
  });
});

describe('sqlite: deferred writes are applied on the commit worker', () => {
  it('in their place among the batches (not after the worker goes idle), resolved by HAM, the final winner per field answered', async () => {
    const d = tmpDir();
    const store = new SqliteGraphStore(join(d.path, 'graph.db'));
    try {
      const M = 1e13;
      // deferred at M: two writes to one field (the later state wins), one that will lose to what is stored
      await store.put([
        { soul: 'd', field: 'f', value: 'first', state: M + 1 },
        { soul: 'd', field: 'f', value: 'second', state: M + 2 },
        { soul: 'd', field: 'g', value: 1, state: M + 3 },
      ], M);
      await store.put([{ soul: 'd', field: 'g', value: 2, state: M + 5 }], M + 10); // stored, newer than the deferred g
      assert.equal(await store.nextDue(), M + 1);
      // handed over in this order, none durable yet: a batch, the due job, more batches
      const order: string[] = [];
      const before = store.accept([{ soul: 'a', field: 'x', value: 1, state: 1 }], M).durable.then(() => order.push('before'));
      const due = store.applyDue(M + 3).then((applied) => { order.push('due'); return applied; });
      const after = Array.from({ length: 20 }, (_, i) => store.accept([{ soul: `b${i}`, field: 'x', value: i, state: 1 }], M).durable.then(() => order.push('after')));
      const applied = await due;
      await Promise.all([before, ...after]);
      assert.deepEqual(order.slice(0, 2), ['before', 'due'], 'the job runs after the batch before it and before those after it');
      assert.deepEqual(applied, [{ soul: 'd', field: 'f', value: 'second', state: M + 2 }]);
      assert.deepEqual(await store.getField('d', 'f'), { value: 'second', state: M + 2 });
      assert.deepEqual(await store.getField('d', 'g'), { value: 2, state: M + 5 }, 'the older deferred write lost to the stored one');
      assert.equal(await store.nextDue(), undefined, 'the applied and the losing deferred rows are gone');
      assert.deepEqual(await store.applyDue(M + 100), []);
    } finally { await store.close(); d.rm(); }
  });
});

describe('sqlite: the souls changed last are read off the event loop', () => {
  it('a file store scans on a thread of its own, answering what the same query answers inline; the event loop keeps turning meanwhile', async () => {
    const d = tmpDir();
    const path = join(d.path, 'graph.db');
    const N = 400_000;
    const store = new SqliteGraphStore(path, { synchronous: 'NORMAL' });
    try {
      for (let i = 0; i < N; i += 5000) {
        const ws: FieldWrite[] = [];
        for (let j = i; j < i + 5000; j += 2) ws.push({ soul: `n${j}`, field: 'a', value: j, state: 1000 + j }, { soul: `n${j}`, field: 'b', value: 'x', state: 1000 + j });
        await store.put(ws, 1e13);
      }
      await store.put([{ soul: 'n10', field: 'c', value: 1, state: 1e12 }], 1e13); // an old soul changed last comes first
      const inline = new SqliteGraphStore(path, { worker: false });
      const t = performance.now();
      const want = await inline.recentSouls(256);
      const inlineMs = performance.now() - t;
      await inline.close();
      assert.equal(want.length, 256);
      assert.equal(want[0], 'n10');
      assert.equal(want[1], `n${N - 2}`);
      // the longest the event loop stood still while the file store's scan ran
      let gap = 0, last = performance.now(), done = false;
      const spin = () => { const now = performance.now(); gap = Math.max(gap, now - last); last = now; if (!done) setImmediate(spin); };
      setImmediate(spin);
      const got = await store.recentSouls(256);
      await new Promise((r) => setTimeout(r, 5)); // the spin measures up to now, the scan's own turn included
      done = true;
      assert.deepEqual(got, want);
      assert.ok(gap < inlineMs * 0.75, `event loop stood still ${gap.toFixed(1)} ms; the scan takes ${inlineMs.toFixed(1)} ms inline`);
    } finally { await store.close(); d.rm(); }
  });
});
