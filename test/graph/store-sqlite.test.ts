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
