import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { isPlexusError } from '../../src/errors.js';
import { CHUNK_MAX_BYTES, CHUNK_MIN_BYTES } from '../../src/limits.js';
import { refOf, ZERO_REF, type Ref } from '../../src/blob/ref.js';
import type { BlobStore, PutResult } from '../../src/blob/store.js';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { FileStore } from '../../src/blob/store/file.js';
import { getReadable, getStream, NODE_MAGIC, putStream, statStream, type SplitParams } from '../../src/blob/split.js';
import { tmpDir } from '../helpers/tmp.js';

const SEED = Number(process.env.PLEXUS_SEED ?? 20261127);
const MiB = 1 << 20;
/** Tiny chunks and nodes, so small inputs make many chunks and deep trees. */
const TINY: Partial<SplitParams> = { splitBits: 5, minBytes: 8, maxBytes: 128, fanout: 4, maxChildren: 8 };

/** Deterministic pseudo-random bytes (AES-CTR keystream), `total` bytes in pieces of `piece`. */
function* pseudo(total: number, seed: number, piece = MiB): Generator<Uint8Array> {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(piece);
  for (let left = total; left > 0; left -= piece) yield c.update(zeros.subarray(0, Math.min(piece, left)));
}

function bytes(total: number, seed: number): Uint8Array {
  return Buffer.concat([...pseudo(total, seed)]);
}

/** Split `b` into pieces of the given sizes (cycled); the last piece takes the rest. */
function* pieces(b: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < b.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    yield b.subarray(at, Math.min(b.length, at + n));
    at += n;
  }
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const b of it) out.push(b);
  return Buffer.concat(out);
}

async function rejectsCode(p: Promise<unknown>, code: string, msg?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPlexusError(e), `want PlexusError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  });
}

/** Remembers only refs: put reports `added` like a real store, get is impossible. Tiny memory. */
class RefOnlyStore implements BlobStore {
  readonly refs_ = new Set<string>();
  puts = 0;
  async get(ref: Ref): Promise<Uint8Array> {
    throw new Error(`RefOnlyStore cannot get ${ref}`);
  }
  async put(b: Uint8Array): Promise<PutResult> {
    this.puts++;
    const ref = refOf(b);
    const added = !this.refs_.has(ref);
    this.refs_.add(ref);
    return { ref, added };
  }
  async has(ref: Ref): Promise<boolean> {
    return this.refs_.has(ref);
  }
  async *refs(): AsyncIterable<Ref> {}
  async close(): Promise<void> {}
}

/** Discards everything: for memory tests of putStream. */
class CountingStore implements BlobStore {
  bytes = 0;
  async get(ref: Ref): Promise<Uint8Array> {
    throw new Error(`CountingStore cannot get ${ref}`);
  }
  async put(b: Uint8Array): Promise<PutResult> {
    this.bytes += b.length;
    return { ref: refOf(b), added: true };
  }
  async has(): Promise<boolean> {
    return false;
  }
  async *refs(): AsyncIterable<Ref> {}
  async close(): Promise<void> {}
}

describe('split: round trip', () => {
  it('random small inputs, random input pieces, tiny chunks (fast-check, 150 cases)', async () => {
    console.log(`# split round-trip seed ${SEED} (set PLEXUS_SEED to replay)`);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (size, seed, sizes, lowEntropy) => {
          let data = bytes(size, seed);
          if (lowEntropy) data = data.map((x) => x & 3); // repetitive content: exercises dedup and max cuts
          const store = new MemoryStore();
          const whole = await putStream(store, [data], { params: TINY });
          const piecewise = await putStream(store, pieces(data, sizes), { params: TINY });
          assert.equal(piecewise.ref, whole.ref, 'input buffering must not change the tree');
          assert.equal(piecewise.addedBytes, 0);
          assert.equal(whole.size, size);
          const back = await readAll(getStream(store, whole.ref));
          assert.ok(back.equals(data), 'content differs');
          assert.equal((await statStream(store, whole.ref)).size, size);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('sizes at the default chunk limits, and several MiB, fed in odd pieces', async () => {
    const store = new MemoryStore();
    const sizes = [0, 1, CHUNK_MIN_BYTES - 1, CHUNK_MIN_BYTES, CHUNK_MIN_BYTES + 1, CHUNK_MAX_BYTES - 1, CHUNK_MAX_BYTES, CHUNK_MAX_BYTES + 1, 7 * MiB + 3];
    for (const [i, size] of sizes.entries()) {
      const data = bytes(size, SEED + i);
      const r = await putStream(store, pieces(data, [65536, 1, 12345, 1 << 20]));
      assert.equal(r.size, size);
      assert.ok(r.nodes >= 1);
      if (size > 0 && size <= CHUNK_MIN_BYTES) assert.equal(r.chunks, 1, `size ${size}`);
      assert.ok(r.chunks >= Math.ceil(size / CHUNK_MAX_BYTES), `size ${size}: ${r.chunks} chunks`);
      const back = await readAll(getStream(store, r.ref));
      assert.ok(back.equals(data), `size ${size}: content differs`);
    }
  });

  it('content without boundaries is cut at the max chunk size (and the equal chunks dedup)', async () => {
    const store = new MemoryStore();
    const data = new Uint8Array(3 * CHUNK_MAX_BYTES + 5); // zeros: the gear hash is constant, never a boundary
    const r = await putStream(store, [data]);
    assert.equal(r.chunks, 4);
    assert.equal(r.addedChunks, 2); // three identical 1 MiB chunks + the 5-byte tail
    assert.ok((await readAll(getStream(store, r.ref))).equals(data));
  });

  it('golden refs: the chunking and node format are stable (a change here changes every stored root)', async () => {
    const store = new MemoryStore();
    const r = await putStream(store, bytes(3 * MiB, 42));
    assert.deepEqual([r.ref, r.chunks, r.nodes], ['6d775ce9905573cdc5824326aef6cd54a30735c8e4f94034e64192c8c2e9c08a', 39, 3]);
    assert.equal((await putStream(store, [])).ref, '31f6897548f3313de8252e742aa88b7f4ab2a8e5002ccbf7422df73e5f33b616');
  });

  it('the empty stream is the empty node; ZERO_REF reads as empty too', async () => {
    const store = new MemoryStore();
    const r = await putStream(store, []);
    assert.deepEqual({ size: r.size, chunks: r.chunks, nodes: r.nodes }, { size: 0, chunks: 0, nodes: 1 });
    const node = await store.get(r.ref);
    assert.equal(node.length, 24);
    assert.deepEqual(node.subarray(0, 8), NODE_MAGIC);
    assert.equal((await readAll(getStream(store, r.ref))).length, 0);
    assert.equal((await readAll(getStream(store, ZERO_REF))).length, 0);
    assert.deepEqual(await statStream(store, r.ref), { size: 0, height: 1 });
  });

  it('reads Node Readables, web ReadableStreams and async generators; returns a Node Readable', async () => {
    const store = new MemoryStore();
    const data = bytes(300_000, 7);
    const a = await putStream(store, Readable.from(pieces(data, [4096])));
    const b = await putStream(store, new Blob([Buffer.from(data)]).stream());
    const c = await putStream(
      store,
      (async function* () {
        yield* pieces(data, [100_000]);
      })(),
    );
    assert.equal(a.ref, b.ref);
    assert.equal(a.ref, c.ref);
    assert.equal((await putStream(store, data)).ref, a.ref); // a single byte array
    const back = await readAll(getReadable(store, a.ref, { offset: 10, length: 20 }));
    assert.ok(back.equals(data.subarray(10, 30)));
    await rejectsCode(putStream(store, Readable.from(['text'])), 'BAD_REQUEST', /string/);
  });

  it('a producer that reuses one buffer for every piece is safe (putStream copies what it keeps)', async () => {
    const store = new MemoryStore();
    const data = bytes(3 * MiB + 17, 13);
    const shared = new Uint8Array(40_000);
    const reusing = (async function* () {
      for (let at = 0; at < data.length; at += shared.length) {
        const n = Math.min(shared.length, data.length - at);
        shared.set(data.subarray(at, at + n));
        yield shared.subarray(0, n);
        shared.fill(0xee); // scribble over it once putStream has had it
      }
    })();
    const r = await putStream(store, reusing);
    assert.equal(r.ref, (await putStream(store, data)).ref);
    assert.ok((await readAll(getStream(store, r.ref))).equals(data));
  });

  it('reports progress as total bytes consumed', async () => {
    const seen: number[] = [];
    await putStream(new MemoryStore(), pieces(bytes(10_000, 3), [3000]), { onProgress: (n) => seen.push(n) });
    assert.deepEqual(seen, [3000, 6000, 9000, 10_000]);
  });
});

describe('split: ranges', () => {
  it('offset/length reads equal slices (fast-check, 150 cases over a deep tiny-chunk tree)', async () => {
    const store = new MemoryStore();
    const data = bytes(20_000, SEED);
    const { ref } = await putStream(store, [data], { params: TINY });
    assert.ok((await statStream(store, ref)).height >= 3, 'want a deep tree');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 21_000 }), fc.option(fc.integer({ min: 0, max: 21_000 })), async (offset, length) => {
        const got = await readAll(getStream(store, ref, { offset, length: length ?? undefined }));
        const want = data.subarray(Math.min(offset, data.length), length === null ? undefined : Math.min(data.length, offset + length));
        assert.ok(got.equals(want), `offset ${offset} length ${length}`);
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('ranges of a default-parameter stream', async () => {
    const store = new MemoryStore();
    const data = bytes(5 * MiB, SEED + 1);
    const { ref } = await putStream(store, [data]);
    for (const [offset, length] of [[0, 1], [MiB - 3, 7], [2 * MiB + 11, MiB + 5], [5 * MiB - 1, 10], [5 * MiB, 10], [6 * MiB, 1], [123, 0]] as const) {
      const got = await readAll(getStream(store, ref, { offset, length }));
      assert.ok(got.equals(data.subarray(offset, offset + length)), `offset ${offset} length ${length}`);
    }
    await rejectsCode(readAll(getStream(store, ref, { offset: -1 })), 'BAD_REQUEST');
    await rejectsCode(readAll(getStream(store, ref, { length: 1.5 })), 'BAD_REQUEST');
  });
});

describe('split: dedup', () => {
  it('an edit in the middle of 64 MiB re-stores < 1%', async () => {
    const size = 64 * MiB;
    const store = new RefOnlyStore();
    const first = await putStream(store, pseudo(size, SEED));
    assert.equal(first.addedBytes >= size, true);
    // 1. overwrite 100 bytes in the middle; 2. insert 1000 bytes there; 3. delete 5000 bytes there.
    const edits: [string, (b: Buffer) => Buffer][] = [
      ['overwrite', (b) => (b.fill(0x55, size / 2, size / 2 + 100), b)],
      ['insert', (b) => Buffer.concat([b.subarray(0, size / 2 + 777), Buffer.alloc(1000, 1), b.subarray(size / 2 + 777)])],
      ['delete', (b) => Buffer.concat([b.subarray(0, size / 2 - 999), b.subarray(size / 2 + 4001)])],
    ];
    for (const [name, edit] of edits) {
      const edited = edit(Buffer.concat([...pseudo(size, SEED)]));
      const again = await putStream(store, pieces(edited, [1 << 16]));
      assert.notEqual(again.ref, first.ref);
      console.log(`# ${name} in the middle of 64 MiB: re-stored ${again.addedBytes} bytes (${((100 * again.addedBytes) / size).toFixed(3)}%), ${again.addedChunks} chunks, ${again.addedNodes} nodes`);
      assert.ok(again.addedBytes < size / 100, `${name}: re-stored ${again.addedBytes} bytes (${again.addedChunks} chunks, ${again.addedNodes} nodes)`);
      assert.ok(again.addedChunks <= 4, `${name}: ${again.addedChunks} new chunks`);
    }
  });
});

describe('split: abort', () => {
  it('putStream stops on abort, also while the source stalls; getStream stops too', async () => {
    const store = new MemoryStore();
    const pre = new AbortController();
    pre.abort();
    await rejectsCode(putStream(store, [new Uint8Array(10)], { signal: pre.signal }), 'ABORTED');

    const ac = new AbortController();
    let consumed = 0;
    const p = putStream(store, pseudo(64 * MiB, 1, 64 * 1024), {
      signal: ac.signal,
      onProgress: (n) => {
        consumed = n;
        if (n >= 2 * MiB) ac.abort();
      },
    });
    await rejectsCode(p, 'ABORTED');
    assert.ok(consumed < 3 * MiB);

    const stall = new AbortController();
    const stalled = (async function* () {
      yield new Uint8Array(100);
      await new Promise(() => {}); // never yields again
    })();
    const q = putStream(store, stalled, { signal: stall.signal });
    setTimeout(() => stall.abort(), 20);
    await rejectsCode(q, 'ABORTED');

    const data = bytes(2 * MiB, 9);
    const { ref } = await putStream(store, [data]);
    const get = new AbortController();
    const it = getStream(store, ref, { signal: get.signal });
    const first = await it.next();
    assert.equal(first.done, false);
    get.abort();
    await rejectsCode(readAll(it), 'ABORTED');
  });
});

describe('split: invalid roots and corrupt trees', () => {
  it('a chunk ref, a plain blob, a missing ref, a malformed ref', async () => {
    const store = new MemoryStore();
    const data = bytes(100_000, 5);
    const r = await putStream(store, [data], { params: TINY });
    const { ref: plain } = await store.put(new TextEncoder().encode('hello'));
    await rejectsCode(readAll(getStream(store, plain)), 'BAD_REQUEST', /not a stream root/);
    await rejectsCode(statStream(store, plain), 'BAD_REQUEST', /not a stream root/);
    const { ref: empty } = await store.put(new Uint8Array());
    await rejectsCode(readAll(getStream(store, empty)), 'BAD_REQUEST', /not a stream root/);
    await rejectsCode(readAll(getStream(store, refOf(new Uint8Array([1])))), 'NOT_FOUND');
    await rejectsCode(readAll(getStream(store, 'nope' as Ref)), 'INVALID_REF');
    assert.ok((await readAll(getStream(store, r.ref))).equals(data));
  });

  it('structurally corrupt nodes are BAD_REQUEST; a child that is a chunk where a node is due too', async () => {
    const store = new MemoryStore();
    const node = (height: number, count: number, size: bigint, entries: [Ref, bigint][], total = 24 + 40 * entries.length) => {
      const b = Buffer.alloc(24 + 40 * entries.length);
      Buffer.from(NODE_MAGIC).copy(b, 0);
      b[8] = 1;
      b[9] = height;
      b.writeUInt32BE(count, 12);
      b.writeBigUInt64BE(size, 16);
      entries.forEach(([ref, s], i) => {
        Buffer.from(ref, 'hex').copy(b, 24 + 40 * i);
        b.writeBigUInt64BE(s, 24 + 40 * i + 32);
      });
      return b.subarray(0, total);
    };
    const { ref: chunk } = await store.put(Buffer.from('abc'));
    const ok = (await store.put(node(1, 1, 3n, [[chunk, 3n]]))).ref;
    assert.equal((await readAll(getStream(store, ok))).toString(), 'abc');
    const bad = [
      node(1, 1, 4n, [[chunk, 3n]]), // sizes do not add up
      node(1, 2, 3n, [[chunk, 3n]]), // count vs length
      node(0, 1, 3n, [[chunk, 3n]]), // height 0
      node(1, 0, 0n, [], 23), // truncated header
      node(1, 1, 0n, [[chunk, 0n]]), // empty child
    ];
    for (const b of bad) await rejectsCode(readAll(getStream(store, (await store.put(b)).ref)), 'BAD_REQUEST', /corrupt/);
    // height 2 whose child is a chunk, not a node
    const h2 = (await store.put(node(2, 1, 3n, [[chunk, 3n]]))).ref;
    await rejectsCode(readAll(getStream(store, h2)), 'BAD_REQUEST', /corrupt stream/);
    // the chunk is shorter than its entry says
    const lying = (await store.put(node(1, 1, 5n, [[chunk, 5n]]))).ref;
    await rejectsCode(readAll(getStream(store, lying)), 'BAD_REQUEST', /corrupt stream/);
    const huge = Buffer.alloc(24);
    Buffer.from(NODE_MAGIC).copy(huge);
    huge[8] = 1;
    huge[9] = 1;
    huge.writeUInt32BE(100_000, 12);
    await rejectsCode(readAll(getStream(store, (await store.put(huge)).ref)), 'BAD_REQUEST', /children/);
    const v2 = node(1, 1, 3n, [[chunk, 3n]]);
    v2[8] = 2;
    await rejectsCode(readAll(getStream(store, (await store.put(v2)).ref)), 'UNSUPPORTED');
  });

  it('a blob damaged on disk (FileStore) is HASH_MISMATCH, node or chunk', async () => {
    const dir = tmpDir('plexus-split-');
    const store = new FileStore(dir.path);
    try {
      const data = bytes(50_000, 11);
      const r = await putStream(store, [data], { params: { ...TINY, maxBytes: 4096, minBytes: 512, splitBits: 10 } });
      const path = (ref: string) => join(dir.path, 'blobs', ref.slice(0, 2), ref.slice(0, 4), ref);
      const rootBytes = readFileSync(path(r.ref));
      rootBytes[30] ^= 1;
      writeFileSync(path(r.ref), rootBytes);
      await rejectsCode(readAll(getStream(store, r.ref)), 'HASH_MISMATCH');
      rootBytes[30] ^= 1;
      writeFileSync(path(r.ref), rootBytes);
      assert.ok((await readAll(getStream(store, r.ref))).equals(data));
      // damage the first chunk: HASH_MISMATCH when the stream reaches it
      const order: Ref[] = [];
      const recording: BlobStore = {
        get: (x) => store.get(x),
        has: (x) => store.has(x),
        refs: (o) => store.refs(o),
        close: async () => {},
        put: async (b) => (order.push(refOf(b)), store.put(b)),
      };
      await putStream(recording, [data], { params: { ...TINY, maxBytes: 4096, minBytes: 512, splitBits: 10 } });
      const firstChunk = order[0]!; // chunk puts start in stream order
      const cb = readFileSync(path(firstChunk));
      cb[0] ^= 0xff;
      writeFileSync(path(firstChunk), cb);
      await rejectsCode(readAll(getStream(store, r.ref)), 'HASH_MISMATCH');
    } finally {
      await store.close();
      dir.rm();
    }
  });
});

describe('split: memory stays flat', () => {
  it('putStream of 256 MiB through a discarding store (the 1 GiB run is in bench/blob.ts)', async () => {
    const store = new CountingStore();
    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss, peakHeap = base.heapUsed;
    const r = await putStream(store, pseudo(256 * MiB, SEED, 256 * 1024), {
      onProgress: () => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      },
    });
    assert.equal(r.size, 256 * MiB);
    const rss = (peakRss - base.rss) / MiB, heap = (peakHeap - base.heapUsed) / MiB;
    console.log(`# putStream 256 MiB: rss +${rss.toFixed(1)} MiB, heapUsed +${heap.toFixed(1)} MiB`);
    assert.ok(rss < 64, `rss grew ${rss} MiB`);
    assert.ok(heap < 64, `heap grew ${heap} MiB`);
  });

  it('chunk buffers are reused only after their put settled: a slow store sees each chunk intact, and few buffers are made', async () => {
    // a store that reads the bytes it was given only when its put settles, some puts slower than others
    const seen = new Set<ArrayBufferLike>();
    const mem = new MemoryStore();
    let i = 0;
    const slow: BlobStore = {
      get: (ref) => mem.get(ref),
      has: (ref) => mem.has(ref),
      refs: () => mem.refs(),
      close: async () => {},
      async put(b: Uint8Array): Promise<PutResult> {
        seen.add(b.buffer);
        const want = refOf(b);
        await new Promise((r) => setTimeout(r, i++ % 3));
        assert.equal(refOf(b), want, 'the chunk was not changed while its put ran');
        return mem.put(b);
      },
    };
    const data = bytes(100_000, SEED + 7);
    const r = await putStream(slow, pieces(data, [1000, 7_000, 5]), { params: TINY, concurrency: 4 });
    const got: Uint8Array[] = [];
    for await (const b of getStream(mem, r.ref)) got.push(b);
    const back = Buffer.concat(got);
    assert.ok(back.equals(data));
    assert.ok(r.chunks > 1000, `${r.chunks} chunks`);
    // the chunks' buffers: `concurrency` pooled ones, the staging one, and the tree's node blobs (their own)
    assert.ok(seen.size < r.chunks / 2, `${seen.size} buffers for ${r.chunks} chunks`);
  });

  it('getStream of 256 MiB streams without buffering the whole', async () => {
    // 256 MiB made of one 1 MiB random block repeated: the chunks dedup, so the store stays small.
    const block = bytes(MiB, SEED);
    const store = new MemoryStore();
    const r = await putStream(
      store,
      (function* () {
        for (let i = 0; i < 256; i++) yield block;
      })(),
    );
    assert.ok(r.addedBytes < 4 * MiB, `stored ${r.addedBytes}`);
    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss, peakHeap = base.heapUsed, n = 0;
    const h = createHash('sha256');
    for await (const b of getStream(store, r.ref)) {
      n += b.length;
      h.update(b);
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }
    assert.equal(n, 256 * MiB);
    const want = createHash('sha256');
    for (let i = 0; i < 256; i++) want.update(block);
    assert.equal(h.digest('hex'), want.digest('hex'));
    const rss = (peakRss - base.rss) / MiB, heap = (peakHeap - base.heapUsed) / MiB;
    console.log(`# getStream 256 MiB: rss +${rss.toFixed(1)} MiB, heapUsed +${heap.toFixed(1)} MiB`);
    assert.ok(rss < 64, `rss grew ${rss} MiB`);
    assert.ok(heap < 64, `heap grew ${heap} MiB`);
  });
});
