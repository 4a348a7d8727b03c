import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryGraphStore } from '../../src/graph/store/memory.js';
import { graphStoreConformance } from '../conformance/graph-store.js';

graphStoreConformance('memory', async () => {
  const store = new MemoryGraphStore();
  return { store, cleanup: async () => store.close() };
}, { sharedData: false });

describe('memory graph store: max age', () => {
  it('forgets fields whose state is older than maxAgeMs', async () => {
    let now = 10_000;
    const s = new MemoryGraphStore({ maxAgeMs: 1000, now: () => now });
    await s.put([{ soul: 'a', field: 'x', value: 1, state: 9_500 }, { soul: 'a', field: 'y', value: 2, state: 9_900 }], 1e13);
    assert.equal((await s.get('a'))!.size, 2);
    now = 10_600;
    assert.deepEqual([...(await s.get('a'))!.keys()], ['y']);
    now = 11_000;
    assert.equal(await s.get('a'), undefined);
    assert.equal(s.size, 0);
  });
});
