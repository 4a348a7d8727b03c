import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { parseRef, refOf, refToBytes, refFromBytes, type Ref } from '../../src/blob/ref.js';
import { BsStore, ANCHOR_MAP_ROOT_NAME } from '../../src/blob/bs/bs-store.js';
import { anchorPair } from '../../src/blob/bs/anchor-map.js';
import { buildMap, EMPTY_MAP_REF, keyHash, loadMapNode, MAP_NODE_MAX, mapEach, mapLookup, mapSet } from '../../src/blob/bs/schema-map.js';
import { decodeAnchor, decodeList, encodeAnchor, encodeList } from '../../src/blob/bs/wire.js';
import { startServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { HttpStore } from '../../src/blob/store/http.js';
import { tmpDir } from '../helpers/tmp.js';

// Test oracle: protobuf wire bytes assembled by hand from bs v0.4.5's .proto definitions
// (schema/schema.proto, anchor/anchor.proto, google/protobuf/timestamp.proto) and the wire format
// rules (tag = field << 3 | wire type; proto3 omits zero scalars and empty bytes). bs's own tests
// (schema/map_test.go) state properties rather than literal refs: order-insensitive roots, Set ==
// MapFromGo, setting the same payload is a no-op, restoring a payload restores the root. The vectors
// below are those properties plus the refs of hand-assembled nodes.
const varint = (n: bigint): number[] => {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b); } while (v);
  return out;
};
const ld = (field: number, bytes: number[] | Uint8Array) => [...varint(BigInt(field << 3 | 2)), ...varint(BigInt(bytes.length)), ...bytes];
const vi = (field: number, n: bigint | number) => (BigInt(n) === 0n ? [] : [...varint(BigInt(field << 3)), ...varint(BigInt(n))]);
const sha = (b: number[] | Uint8Array) => createHash('sha256').update(Uint8Array.from(b)).digest('hex') as Ref;
const te = new TextEncoder();
/** anchor.Anchor { ref = 1; google.protobuf.Timestamp at = 2 { seconds = 1; nanos = 2 } } */
const handAnchor = (ref: Ref, seconds: bigint, nanos = 0) => [...ld(1, refToBytes(ref)), ...ld(2, [...vi(1, seconds), ...vi(2, nanos)])];
/** schema.List { repeated bytes members = 1 } */
const handList = (members: number[][]) => members.flatMap((m) => ld(1, m));
/** schema.Map leaf { TreeNode node = 1 { depth = 1; size = 2 }; repeated MapPair members = 2 { key = 1; payload = 2 } } */
const handLeaf = (depth: number, pairs: [string, number[]][]) => [...ld(1, [...vi(1, depth), ...vi(2, pairs.length)]), ...pairs.flatMap(([k, p]) => ld(2, [...ld(1, te.encode(k)), ...(p.length ? ld(2, p) : [])]))];

// bs testutil.Anchors constants (anchor.md §7.1)
const r1a = parseRef('1a' + '0'.repeat(62)), r1b = parseRef('1b' + '0'.repeat(62)), r2 = parseRef('02' + '0'.repeat(62));
const t1s = 239644800n, t2s = t1s + 3600n;

describe('bs wire fixtures (hand-assembled from bs\'s .proto files)', () => {
  it('the empty map is `0a 00` (a node field with nothing in it)', async () => {
    assert.equal(EMPTY_MAP_REF, sha([0x0a, 0x00]));
  });

  it('anchor.Anchor bytes, nanosecond times and negative times', () => {
    assert.deepEqual([...encodeAnchor({ ref: refToBytes(r1a), atNs: t1s * 1_000_000_000n })], handAnchor(r1a, t1s));
    assert.deepEqual([...encodeAnchor({ ref: refToBytes(r2), atNs: t2s * 1_000_000_000n + 123_456_789n })], handAnchor(r2, t2s, 123_456_789));
    assert.deepEqual([...encodeAnchor({ ref: refToBytes(r2), atNs: 0n })], [...ld(1, refToBytes(r2)), 0x12, 0x00]);
    // -1 ns is seconds -1, nanos 999999999 (Timestamp's normal form)
    assert.deepEqual([...encodeAnchor({ ref: refToBytes(r2), atNs: -1n })], handAnchor(r2, -1n, 999_999_999));
    assert.equal(decodeAnchor(Uint8Array.from(handAnchor(r2, -1n, 999_999_999))).atNs, -1n);
  });

  it('the anchor map after bs\'s testutil.Anchors puts has the hand-assembled root ref', async () => {
    const s = await BsStore.open(new MemoryStore());
    const t1 = Number(t1s) * 1000, t2 = Number(t2s) * 1000;
    await s.putAnchor('anchor1', r1a, t1);
    await s.putAnchor('anchor1', r1b, t2);
    await s.putAnchor('anchor2', r2, t1);
    const p1 = handList([handAnchor(r1a, t1s), handAnchor(r1b, t2s)]);
    const p2 = handList([handAnchor(r2, t1s)]);
    const pairs: [string, number[]][] = [['anchor1', p1], ['anchor2', p2]];
    pairs.sort((a, b) => Buffer.compare(keyHash(te.encode(a[0])), keyHash(te.encode(b[0]))));
    const root = handLeaf(0, pairs);
    assert.equal(await s.anchorMapRef(), sha(root));
    assert.deepEqual([...await s.get(sha(root))], root);
  });
});

describe('schema.Map: bs\'s tree rules', () => {
  it(`a node splits past ${MAP_NODE_MAX} members by bit d of the key hash (LSB first); children are depth d+1`, async () => {
    const store = new MemoryStore();
    const keys = Array.from({ length: MAP_NODE_MAX + 1 }, (_, i) => te.encode(`key${i}`));
    let root: Ref | undefined;
    for (const k of keys.slice(0, MAP_NODE_MAX)) root = (await mapSet(store, root, k, k)).ref;
    assert.equal((await loadMapNode(store, root!)).members.length, MAP_NODE_MAX);
    root = (await mapSet(store, root, keys[MAP_NODE_MAX]!, keys[MAP_NODE_MAX]!)).ref;
    const top = await loadMapNode(store, root);
    assert.equal(top.members.length, 0);
    assert.equal(top.size, MAP_NODE_MAX + 1);
    const left = await loadMapNode(store, refFromBytes(top.left!.ref)), right = await loadMapNode(store, refFromBytes(top.right!.ref));
    assert.equal(left.depth, 1);
    assert.equal(right.depth, 1);
    assert.equal(top.left!.size + top.right!.size, MAP_NODE_MAX + 1);
    for (const m of left.members) assert.equal(keyHash(m.key)[0]! & 1, 0);
    for (const m of right.members) assert.equal(keyHash(m.key)[0]! & 1, 1);
    // members in key-hash order in each leaf; the whole walk is in key-hash order
    const walked = [];
    for await (const p of mapEach(store, root)) walked.push(Buffer.from(keyHash(p.key)).toString('hex'));
    const want = keys.map((k) => Buffer.from(keyHash(k)).toString('hex'));
    assert.deepEqual(walked, [...want.filter((h) => (parseInt(h.slice(0, 2), 16) & 1) === 0).sort(), ...want.filter((h) => (parseInt(h.slice(0, 2), 16) & 1) === 1).sort()]);
    // incremental Set gives the same tree as building from the whole set (bs's TestMapFromGo)
    assert.equal(await buildMap(store, keys.map((k) => ({ key: k, payload: k }))), root);
    for (const k of keys) assert.deepEqual([...(await mapLookup(store, root, k))!], [...k]);
    assert.equal(await mapLookup(store, root, te.encode('absent')), undefined);
  });

  it('setting a key to its payload is a no-op; changing and restoring it restores the root (bs TestMap)', async () => {
    const store = new MemoryStore();
    const keys = Array.from({ length: 300 }, (_, i) => te.encode(String(i * 2)));
    const root = await buildMap(store, keys.map((k) => ({ key: k, payload: refToBytes(refOf(k)) })));
    const same = await mapSet(store, root, te.encode('2'), refToBytes(refOf(te.encode('2'))));
    assert.deepEqual(same, { ref: root, outcome: 'none' });
    const changed = await mapSet(store, root, te.encode('2'), refToBytes(refOf(te.encode('3'))));
    assert.equal(changed.outcome, 'updated');
    assert.notEqual(changed.ref, root);
    const back = await mapSet(store, changed.ref, te.encode('2'), refToBytes(refOf(te.encode('2'))));
    assert.deepEqual(back, { ref: root, outcome: 'updated' });
  });

  it('any insertion order of the same names gives the same root ref (property, 100 runs)', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`schema.Map order property: seed ${seed}`);
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 0, maxLength: 300 }).chain((names) =>
        fc.tuple(fc.constant(names), fc.shuffledSubarray(names, { minLength: names.length, maxLength: names.length }))),
      async ([names, shuffled]) => {
        const store = new MemoryStore();
        const payload = (n: string) => encodeList([encodeAnchor({ ref: refToBytes(refOf(te.encode(n))), atNs: BigInt(n.length) * 1_000_000n })]);
        let a: Ref | undefined, b: Ref | undefined;
        for (const n of names) a = (await mapSet(store, a, te.encode(n), payload(n))).ref;
        for (const n of shuffled) b = (await mapSet(store, b, te.encode(n), payload(n))).ref;
        const built = await buildMap(store, names.map((n) => ({ key: te.encode(n), payload: payload(n) })));
        assert.equal(a ?? EMPTY_MAP_REF, built);
        assert.equal(b ?? EMPTY_MAP_REF, built);
      }), { numRuns: 100, seed });
  });
});

describe('anchors in the anchor map: precision and migration', () => {
  it('bs nanoseconds read as ms (rounded down) and survive plexus writes to the same name', async () => {
    const s = await BsStore.open(new MemoryStore());
    const ns = t1s * 1_000_000_000n + 123_456_789n;
    // what a Go bs client writes: one anchor at a nanosecond time
    const payload = encodeList([encodeAnchor({ ref: refToBytes(r1a), atNs: ns })]);
    const { ref: root } = await mapSet(s, undefined, te.encode('go'), payload);
    await s.swapAnchorMap(parseRef('0'.repeat(64)), root);
    const ms = Number(t1s) * 1000 + 123;
    assert.deepEqual(await s.history('go'), [{ at: ms, ref: r1a }]);
    await s.putAnchor('go', r1b, ms + 1000);
    const entries = [];
    for await (const e of s.eachAnchorNs()) entries.push(e);
    assert.deepEqual(entries, [{ name: 'go', ref: r1a, atNs: ns }, { name: 'go', ref: r1b, atNs: BigInt(ms + 1000) * 1_000_000n }]);
    const stored = decodeList((await mapLookup(s, (await s.anchorMapRef())!, te.encode('go')))!);
    assert.deepEqual([...stored[0]!], [...encodeAnchor({ ref: refToBytes(r1a), atNs: ns })]);
  });

  it('a store made by the previous version (anchors in plexus tables) is migrated into an anchor map on open', async () => {
    const d = tmpDir();
    try {
      const file = `${d.path}/blob.db`;
      const old = new SqliteStore(file);
      await old.putAnchor('a', r1a, 1000);
      await old.putAnchor('a', r1b, 2000);
      await old.putAnchor('b', r2, 1500);
      await old.close();
      const s = await BsStore.open(new SqliteStore(file));
      assert.deepEqual(await s.history('a'), [{ at: 1000, ref: r1a }, { at: 2000, ref: r1b }]);
      assert.deepEqual(await s.history('b'), [{ at: 1500, ref: r2 }]);
      const root = await s.anchorMapRef();
      assert.equal(root, await buildMap(s, [anchorPair('a', await s.history('a')), anchorPair('b', await s.history('b'))]));
      const names = [];
      for await (const n of s.anchorNames()) names.push(n);
      assert.deepEqual(names.sort(), ['a', 'b']);
      await s.putAnchor('c', r2, 3000);
      await s.close();
      // reopening does not migrate again, and keeps what was written since
      const again = await BsStore.open(new SqliteStore(file));
      assert.deepEqual(await again.history('c'), [{ at: 3000, ref: r2 }]);
      assert.notEqual(await again.anchorMapRef(), root);
      assert.equal((await again.inner.readAnchors(ANCHOR_MAP_ROOT_NAME)).history.length, 1);
      await again.close();
      // and `plexus serve` on that data directory serves the migrated anchors
      const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
      try {
        const http = new HttpStore(server.url);
        assert.deepEqual(await http.history('a'), [{ at: 1000, ref: r1a }, { at: 2000, ref: r1b }]);
        assert.equal((await http.getAnchor('c', 3000)).ref, r2);
        await http.close();
      } finally { await server.close(); }
    } finally { d.rm(); }
  });
});
