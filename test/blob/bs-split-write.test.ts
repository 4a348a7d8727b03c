import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { isPlexusError } from '../../src/errors.js';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { refOf, refToBytes, ZERO_REF, type Ref } from '../../src/blob/ref.js';
import { getStream, putStream, statStream } from '../../src/blob/split.js';
import { BsChunker, BUZHASH_TABLE } from '../../src/blob/bs/hashsplit.js';
import { decodeSplitNode, getBsStream } from '../../src/blob/bs/split.js';

interface Vector { name: string; input: (['hash', string, number] | ['zeros' | 'ff', number])[]; chunks: [number, number][] }
const { vectors } = JSON.parse(readFileSync(new URL('./bs-hashsplit-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] };

/** SHA-256 of `${label}:${i}` for i = 0, 1, ..., concatenated, cut to n bytes (the vectors' input stream). */
function hashStream(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, off = 0; off < n; i++, off += 32) out.set(createHash('sha256').update(`${label}:${i}`).digest().subarray(0, Math.min(32, n - off)), off);
  return out;
}

function inputOf(v: Vector): Uint8Array {
  return Buffer.concat(v.input.map((p) => (p[0] === 'hash' ? hashStream(p[1], p[2]) : new Uint8Array(p[1]).fill(p[0] === 'ff' ? 0xff : 0))));
}

/** [length, level] of each chunk BsChunker cuts `data` into, fed in buffers of `step` bytes. */
function chunksOf(data: Uint8Array, step: number): [number, number][] {
  const c = new BsChunker();
  const out: [number, number][] = [];
  let start = 0;
  for (let off = 0; off < data.length; off += step) {
    const b = data.subarray(off, off + step);
    for (let from = 0; ;) {
      const cut = c.scan(b, from);
      if (cut < 0) break;
      out.push([off + cut - start, c.level]);
      start = off + cut;
      from = cut;
    }
  }
  if (data.length > start) out.push([data.length - start, c.finalLevel()]);
  return out;
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Check every node under `ref`: offsets contiguous from the node's offset, sizes adding up, canonical bytes; returns the chunk refs in order. */
async function walk(store: MemoryStore, ref: Ref, offset: number, size: number, out: Ref[]): Promise<void> {
  const node = decodeSplitNode(await store.get(ref));
  assert.equal(node.offset, offset, `node ${ref} offset`);
  assert.equal(node.size, size, `node ${ref} size`);
  assert.ok((node.nodes.length > 0) !== (node.leaves.length > 0), 'a node has child nodes or leaves, not both');
  let pos = offset;
  for (const [i, c] of node.nodes.entries()) {
    assert.equal(c.offset, pos);
    const end = node.nodes[i + 1]?.offset ?? offset + size;
    await walk(store, c.ref, pos, end - pos, out);
    pos = end;
  }
  for (const c of node.leaves) {
    assert.equal(c.offset, pos);
    pos += (await store.get(c.ref)).length;
    out.push(c.ref);
  }
  assert.equal(pos, offset + size);
}

describe('bs hashsplit chunking (vectors from the Go packages)', () => {
  it('the buzhash32 table starts and ends with the values Go computes', () => {
    assert.equal(BUZHASH_TABLE.length, 256);
    assert.equal(BUZHASH_TABLE[0], 0x07fcfd52);
    assert.equal(new Set(BUZHASH_TABLE).size, 256);
  });
  for (const v of vectors) {
    it(`cuts ${v.name} where hashsplit v1.1.1 does, whatever the buffer sizes`, () => {
      const data = inputOf(v);
      assert.equal(v.chunks.reduce((a, c) => a + c[0], 0), data.length);
      for (const step of [data.length, 65536, 4099, 1000]) assert.deepEqual(chunksOf(data, step), v.chunks, `buffers of ${step}`);
    });
  }
});

describe("putStream format 'bs'", () => {
  it('stores the chunks bs cuts and a tree of split.Node blobs over them that reads back', async () => {
    for (const v of vectors.slice(0, 3)) {
      const data = inputOf(v);
      const store = new MemoryStore();
      const r = await putStream(store, data, { format: 'bs' });
      assert.equal(r.size, data.length);
      assert.equal(r.chunks, v.chunks.length);
      const chunkRefs: Ref[] = [];
      await walk(store, r.ref, 0, data.length, chunkRefs);
      const expected: Ref[] = [];
      let off = 0;
      for (const [n] of v.chunks) { expected.push(refOf(data.subarray(off, off + n))); off += n; }
      assert.deepEqual(chunkRefs, expected);
      assert.ok((await readAll(getStream(store, r.ref))).equals(data));
      assert.ok((await readAll(getBsStream(store, r.ref))).equals(data));
      assert.equal((await statStream(store, r.ref)).size, data.length);
    }
  });

  it('a stream of one chunk is one leaf node, byte for byte as Go marshals it', async () => {
    const data = hashStream('d', 1500);
    const store = new MemoryStore();
    const r = await putStream(store, data, { format: 'bs' });
    // split.Node { leaves: [Child { ref }], size: 1500 }: field 2 (len 34) { field 1 (len 32) ref }, field 4 varint 1500
    const expected = Buffer.concat([Buffer.from([0x12, 0x22, 0x0a, 0x20]), refToBytes(refOf(data)), Buffer.from([0x20, 0xdc, 0x0b])]);
    assert.equal(r.ref, refOf(expected));
    assert.ok(Buffer.from(await store.get(r.ref)).equals(expected));
    assert.deepEqual(await statStream(store, r.ref), { size: 1500, height: 1 });
  });

  it('the empty stream is the zero ref and stores nothing, as bs', async () => {
    const store = new MemoryStore();
    const r = await putStream(store, [], { format: 'bs' });
    assert.deepEqual(r, { ref: ZERO_REF, size: 0, chunks: 0, addedChunks: 0, addedBytes: 0, nodes: 0, addedNodes: 0 });
    assert.equal((await readAll(getStream(store, ZERO_REF))).length, 0);
    let n = 0;
    for await (const _ of store.refs()) n++;
    assert.equal(n, 0);
  });

  it('a last chunk of tree level 1 above a deeper tree keeps every byte (where bs v0.4.5 would drop the open level-1 node)', async () => {
    const v = vectors[3]!;
    const data = inputOf(v);
    const store = new MemoryStore();
    const r = await putStream(store, data, { format: 'bs' });
    assert.equal(r.chunks, v.chunks.length);
    const refs: Ref[] = [];
    await walk(store, r.ref, 0, data.length, refs);
    assert.equal(refs.length, v.chunks.length);
    assert.equal((await statStream(store, r.ref)).height, 3);
    assert.ok((await readAll(getStream(store, r.ref, { offset: data.length - 200_000 }))).equals(Buffer.from(data.subarray(data.length - 200_000))));
  });

  it('the root does not depend on how the input is cut into buffers; ranges read back (property, 100 runs)', async () => {
    const base = hashStream('p', 600_000);
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: base.length }), fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 700_000 }), fc.integer({ min: 0, max: 300_000 }), async (len, steps, offset, length) => {
      const data = base.subarray(0, len);
      const whole = await putStream(new MemoryStore(), data, { format: 'bs' });
      const store = new MemoryStore();
      const bufs: Uint8Array[] = [];
      for (let off = 0, k = 0; off < data.length; k++) { const n = steps[k % steps.length]!; bufs.push(data.slice(off, off + n)); off += n; }
      const split = await putStream(store, bufs, { format: 'bs', concurrency: 1 + (steps.length % 4) });
      assert.equal(split.ref, whole.ref);
      const got = await readAll(getStream(store, split.ref, { offset, length }));
      assert.ok(got.equals(Buffer.from(data.subarray(Math.min(offset, data.length), Math.min(data.length, offset + length)))));
    }), { numRuns: 100 });
  });

  it('refuses chunking parameters and unknown formats', async () => {
    const store = new MemoryStore();
    await assert.rejects(putStream(store, new Uint8Array(10), { format: 'bs', params: { splitBits: 12 } }), (e: unknown) => isPlexusError(e, 'BAD_REQUEST'));
    await assert.rejects(putStream(store, new Uint8Array(10), { format: 'gzip' as 'bs' }), (e: unknown) => isPlexusError(e, 'BAD_REQUEST'));
  });

  it('plexus-format streams and other blobs are told apart from bs roots', async () => {
    const store = new MemoryStore();
    const data = hashStream('q', 300_000);
    const plexus = await putStream(store, data);
    assert.ok((await readAll(getStream(store, plexus.ref))).equals(data));
    for (const text of ['hello', '\x12\x00', '']) {
      const { ref } = await store.put(new TextEncoder().encode(text));
      await assert.rejects(readAll(getStream(store, ref)), (e: unknown) => isPlexusError(e, 'BAD_REQUEST') && /not a stream root/.test((e as Error).message));
    }
  });
});

interface SplitFixture { id: string; size: number; sha256: string; root: Ref; nodes: number; leaves: number; depth: number; leafSizes: number[]; nodeBlobs?: Record<string, string> }
const splitFixtures = JSON.parse(readFileSync(new URL('../fixtures/bs/split.json', import.meta.url), 'utf8')) as SplitFixture[];

/** The fixtures' prng(seed, n): SHA-256(seed ‖ i as 8 bytes big-endian) for i = 0, 1, ..., cut to n bytes. */
function prng(seed: string, n: number): Uint8Array {
  const out = Buffer.alloc(n);
  const ctr = Buffer.alloc(8);
  for (let i = 0, off = 0; off < n; i++, off += 32) {
    ctr.writeBigUInt64BE(BigInt(i));
    createHash('sha256').update(seed).update(ctr).digest().copy(out, off, 0, Math.min(32, n - off));
  }
  return out;
}

describe("putStream format 'bs' against trees the real bs v0.4.5 wrote (test/fixtures/bs/split.json)", () => {
  for (const f of splitFixtures) {
    it(`${f.id}: the same root, leaves and node blobs as bs's split.Writer`, async () => {
      const data = f.id.startsWith('zeros') ? new Uint8Array(f.size) : prng('plexus-bs-split', f.size);
      assert.equal(createHash('sha256').update(data).digest('hex'), f.sha256, 'the input is the one bs split');
      const store = new MemoryStore();
      const r = await putStream(store, data, { format: 'bs' });
      assert.equal(r.ref, f.root);
      assert.equal(r.chunks, f.leaves);
      const refs: Ref[] = [];
      if (f.root !== ZERO_REF) await walk(store, r.ref, 0, f.size, refs);
      assert.deepEqual(await Promise.all(refs.map(async (x) => (await store.get(x)).length)), f.leafSizes);
      for (const [ref, hex] of Object.entries(f.nodeBlobs ?? {})) assert.equal(Buffer.from(await store.get(ref as Ref)).toString('hex'), hex, `node ${ref}`);
      if (f.nodeBlobs) assert.equal(Object.keys(f.nodeBlobs).length, f.nodes);
      // and bs's own node blobs (with the chunks) read back through getStream
      if (f.nodeBlobs) {
        const theirs = new MemoryStore();
        for (const hex of Object.values(f.nodeBlobs)) await theirs.put(Buffer.from(hex, 'hex'));
        let off = 0;
        for (const n of f.leafSizes) { await theirs.put(data.subarray(off, off + n)); off += n; }
        assert.ok((await readAll(getStream(theirs, f.root))).equals(Buffer.from(data)));
      }
    });
  }
});

describe('the tree bs v0.4.5 stores when its last chunk closes a level below the top (test/blob/fixtures/bs-lossy-tree.json)', () => {
  const fx = JSON.parse(readFileSync(new URL('./fixtures/bs-lossy-tree.json', import.meta.url), 'utf8')) as { root: Ref; blobs: Record<string, string> };

  it("is refused as corrupt by getStream (its root claims bytes no child holds), while plexus's tree of the same input reads back", async () => {
    const theirs = new MemoryStore();
    for (const hex of Object.values(fx.blobs)) await theirs.put(Buffer.from(hex, 'hex'));
    assert.equal((await statStream(theirs, fx.root)).size, 4096 + 18410956);
    await assert.rejects(readAll(getStream(theirs, fx.root)), (e: unknown) => isPlexusError(e, 'BAD_REQUEST') && /corrupt bs split tree/.test((e as Error).message));
    // the nodes before the damaged one still read
    assert.ok((await readAll(getStream(theirs, fx.root, { length: 3072 }))).equals(Buffer.alloc(3072)));
    const data = inputOf(vectors[3]!);
    const ours = await putStream(new MemoryStore(), data, { format: 'bs' });
    assert.notEqual(ours.ref, fx.root);
  });
});
