import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { sync } from '../../src/blob/sync.js';
import { parseRef } from '../../src/blob/ref.js';

const te = new TextEncoder();
async function list<T>(it: AsyncIterable<T>): Promise<T[]> { const o: T[] = []; for await (const x of it) o.push(x); return o; }

describe('sync', () => {
  it('7 stores, store i lacks word i: afterwards every store lists the same refs (bs store.Sync test)', async () => {
    const words = 'abc def ghi jkl mno pqr stu'.split(' ');
    const stores = words.map(() => new MemoryStore());
    for (const [i, s] of stores.entries()) for (const [j, w] of words.entries()) if (i !== j) await s.put(te.encode(w));
    const r = await sync(stores);
    assert.equal(r.blobsCopied, 7);
    const all = await list(stores[0]!.refs());
    assert.equal(all.length, 7);
    for (const s of stores) assert.deepEqual(await list(s.refs()), all);
  });

  it('anchors converge where bs would not (anchor.md §3.5 example)', async () => {
    const A = parseRef('a'.repeat(64)), B = parseRef('b'.repeat(64));
    const x = new MemoryStore(), y = new MemoryStore();
    await x.putAnchor('n', A, 1); await x.putAnchor('n', B, 2);
    await y.putAnchor('n', A, 3);
    await y.putAnchor('only-y', B, 5);
    await sync([x, y]);
    const want = [{ at: 1, ref: A }, { at: 2, ref: B }, { at: 3, ref: A }];
    assert.deepEqual(await x.history('n'), want);
    assert.deepEqual(await y.history('n'), want);
    assert.deepEqual(await x.history('only-y'), [{ at: 5, ref: B }]);
    assert.equal((await x.getAnchor('n', 3)).ref, (await y.getAnchor('n', 3)).ref);
    const again = await sync([x, y]);
    assert.deepEqual(again, { blobsCopied: 0, bytesCopied: 0, anchorsUpdated: 0 });
  });
});
