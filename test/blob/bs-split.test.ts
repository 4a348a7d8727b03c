import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { refToBytes, ZERO_REF, type Ref } from '../../src/blob/ref.js';
import { getBsStream, decodeSplitNode } from '../../src/blob/bs/split.js';
import { messageType } from '../../src/blob/bs/wire.js';

const Node = messageType('split.Node');

/** A bs split tree over `data`: chunks of the given sizes, `perNode` leaves per level-0 node, one root above. */
async function bsTree(store: MemoryStore, data: Uint8Array, sizes: number[], perNode: number): Promise<Ref> {
  let off = 0;
  const leaves: { ref: Ref; offset: number; size: number }[] = [];
  for (const n of sizes) { const b = data.subarray(off, off + n); leaves.push({ ref: (await store.put(b)).ref, offset: off, size: n }); off += n; }
  const level0 = [];
  for (let i = 0; i < leaves.length; i += perNode) {
    const ls = leaves.slice(i, i + perNode);
    const size = ls.reduce((a, l) => a + l.size, 0);
    const bytes = Node.encode({ leaves: ls.map((l) => ({ ref: refToBytes(l.ref), offset: l.offset })), offset: ls[0]!.offset, size }).finish();
    level0.push({ ref: (await store.put(bytes)).ref, offset: ls[0]!.offset });
  }
  return (await store.put(Node.encode({ nodes: level0.map((c) => ({ ref: refToBytes(c.ref), offset: c.offset })), offset: 0, size: off }).finish())).ref;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('reading bs split trees (split.Node)', () => {
  it('a hand-assembled node decodes (fields 1-4 of split.proto)', () => {
    const ref = new Uint8Array(32).fill(0xab);
    // leaves = 2 { ref = 1 (32 bytes), offset = 2: 300 }, offset = 3: 300, size = 4: 5
    const bytes = Uint8Array.from([0x12, 0x25, 0x0a, 0x20, ...ref, 0x10, 0xac, 0x02, 0x18, 0xac, 0x02, 0x20, 0x05]);
    assert.deepEqual(decodeSplitNode(bytes), { nodes: [], leaves: [{ ref: 'ab'.repeat(32), offset: 300 }], offset: 300, size: 5 });
  });

  it('the zero ref is the empty stream; any offset/length range reads back exactly (property, 100 runs)', async () => {
    const store = new MemoryStore();
    assert.equal((await collect(getBsStream(store, ZERO_REF))).length, 0);
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`bs split read property: seed ${seed}`);
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 4 }), fc.nat(), fc.nat(),
      async (sizes, perNode, a, b) => {
        const total = sizes.reduce((x, y) => x + y, 0);
        const data = Uint8Array.from({ length: total }, (_, i) => (i * 7 + sizes.length) & 0xff);
        const root = await bsTree(store, data, sizes, perNode);
        assert.deepEqual(await collect(getBsStream(store, root)), Buffer.from(data));
        const offset = a % (total + 1), length = b % (total - offset + 1);
        assert.deepEqual(await collect(getBsStream(store, root, { offset, length })), Buffer.from(data.subarray(offset, offset + length)));
      }), { numRuns: 100, seed });
  });
});
