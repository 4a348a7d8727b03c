import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import protobuf from 'protobufjs';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { BsStore } from '../../src/blob/bs/bs-store.js';
import { buildMap, EMPTY_MAP_BYTES, EMPTY_MAP_REF, mapSet, mapLookup } from '../../src/blob/bs/schema-map.js';
import { decodeAnchor, decodeList, encodeAnchor, encodeList, messageType, nsToMs, type MapPair } from '../../src/blob/bs/wire.js';
import { descriptorOf, getProto, putProto, setAdd, typesOf, PROTO_TYPES_ANCHOR } from '../../src/blob/bs/proto-types.js';
import { getBsStream } from '../../src/blob/bs/split.js';
import { refFromBytes, refOf, refToBytes, ZERO_REF, type Ref } from '../../src/blob/ref.js';
import { freshPgSchema } from '../helpers/pg.js';

// Fixtures written by the real bs v0.4.5 (test/fixtures/bs/README.md says how): plexus's code must
// give the same bytes, refs and roots, and read what bs wrote.
const DIR = join(import.meta.dirname, '../fixtures/bs');
const load = <T>(f: string): T => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as T;
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const te = new TextEncoder();

/** The manifest's conventions, regenerated. */
const BASE_NS = 1630454400n * 1_000_000_000n;
const refFor = (name: string, i: number) => createHash('sha256').update(`ref:${name}:${i}`).digest('hex') as Ref;
function prng(seed: string, n: number): Uint8Array {
  const out = Buffer.alloc(Math.ceil(n / 32) * 32);
  const ctr = Buffer.alloc(8);
  for (let i = 0; i * 32 < n; i++) {
    ctr.writeBigUInt64BE(BigInt(i));
    createHash('sha256').update(seed).update(ctr).digest().copy(out, i * 32);
  }
  return out.subarray(0, n);
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Put { name: string; ref: Ref; atNs: string }
interface Entry { ref: Ref; atNs: string }
interface AnchorMapFixture { id: string; description: string; puts?: Put[]; histories?: Record<string, Entry[]>; recipeOnly?: boolean; root: Ref | null; nodeCount: number; depth: number; nodes?: Record<Ref, string> }

const anchorMaps = load<AnchorMapFixture[]>('anchor-maps.json');

/** A names-N set's puts from its recipe: name-I -> refFor(name, 0) at baseTime + I ms. */
function recipePuts(f: AnchorMapFixture): Put[] {
  const n = Number(/^names-(\d+)$/.exec(f.id)![1]);
  return Array.from({ length: n }, (_, i) => {
    const name = `name-${String(i).padStart(4, '0')}`;
    return { name, ref: refFor(name, 0), atNs: String(BASE_NS + BigInt(i) * 1_000_000n) };
  });
}
const putsOf = (f: AnchorMapFixture) => (f.recipeOnly ? recipePuts(f) : f.puts ?? []);
function historiesOf(f: AnchorMapFixture): Record<string, Entry[]> {
  if (!f.recipeOnly) return f.histories ?? {};
  return Object.fromEntries(recipePuts(f).map((p) => [p.name, [{ ref: p.ref, atNs: p.atNs }]]));
}
const payloadOf = (h: Entry[]) => encodeList(h.map((e) => encodeAnchor({ ref: refToBytes(e.ref), atNs: BigInt(e.atNs) })));
const pairsOf = (h: Record<string, Entry[]>): MapPair[] => Object.entries(h).map(([name, e]) => ({ key: te.encode(name), payload: payloadOf(e) }));

/** A BsStore over the given blobs with its anchor map root set to `root`. */
async function bsStoreWith(blobs: Iterable<Uint8Array>, root: Ref | null): Promise<BsStore> {
  const inner = new MemoryStore();
  for (const b of blobs) await inner.put(b);
  const s = await BsStore.open(inner);
  if (root) await s.swapAnchorMap(ZERO_REF, root);
  return s;
}

/** Every (name, ref, atNs) of a store, as the manifest lists them (names' entries oldest first). */
async function nsHistories(s: BsStore): Promise<Record<string, Entry[]>> {
  const out: Record<string, Entry[]> = {};
  for await (const a of s.eachAnchorNs()) (out[a.name] ??= []).push({ ref: a.ref, atNs: String(a.atNs) });
  return out;
}

async function assertNodes(s: { get(r: Ref): Promise<Uint8Array> }, nodes: Record<string, string>): Promise<void> {
  for (const [ref, bytes] of Object.entries(nodes)) assert.equal(toHex(await s.get(ref as Ref)), bytes, `node ${ref}`);
}

describe('bs fixtures: anchor.Anchor protobufs (bs proto.Marshal)', () => {
  const protos = load<{ ref: Ref; seconds: number; nanos: number; atNs: string; bytes: string }[]>('anchor-protos.json');
  it(`encodeAnchor gives bs's bytes and decodeAnchor reads them (${protos.length} vectors: zero, negative, sub-second, year 1, year 9999)`, () => {
    for (const p of protos) {
      assert.equal(toHex(encodeAnchor({ ref: refToBytes(p.ref), atNs: BigInt(p.atNs) })), p.bytes, `${p.seconds}s ${p.nanos}ns`);
      const a = decodeAnchor(hex(p.bytes));
      assert.equal(refFromBytes(a.ref), p.ref);
      assert.equal(a.atNs, BigInt(p.atNs));
    }
  });
});

describe('bs fixtures: schema.Set and schema.Map trees', () => {
  const trees = load<{ id: string; root: Ref; nodeCount: number; nodes: Record<Ref, string> }[]>('schema-trees.json');
  const tree = (id: string) => trees.find((t) => t.id === id)!;

  it('the empty map (and set) is bs\'s blob', () => {
    assert.equal(EMPTY_MAP_REF, tree('empty-map').root);
    assert.equal(toHex(EMPTY_MAP_BYTES), tree('empty-map').nodes[tree('empty-map').root]);
    assert.equal(tree('empty-set').root, tree('empty-map').root);
  });

  for (const t of trees.filter((x) => x.id.startsWith('set-'))) {
    it(`${t.id}: setAdd in bs's order gives bs's root and every node byte for byte (${t.nodeCount} nodes)`, async () => {
      const n = Number(t.id.slice(4));
      const s = new MemoryStore();
      let root: Ref | undefined;
      for (let i = 0; i < n; i++) root = (await setAdd(s, root, refToBytes(refFor('set', i)))).ref;
      assert.equal(root, t.root);
      await assertNodes(s, t.nodes);
    });
  }

  it('map-refs-200: mapSet in bs\'s order and buildMap at once both give bs\'s root and nodes', async () => {
    const t = tree('map-refs-200');
    const pairs = Array.from({ length: 200 }, (_, i) => ({ key: refToBytes(refFor('key', i)), payload: refToBytes(refFor('val', i)) }));
    const s = new MemoryStore();
    let root: Ref | undefined;
    for (const p of pairs) root = (await mapSet(s, root, p.key, p.payload)).ref;
    assert.equal(root, t.root);
    await assertNodes(s, t.nodes);
    const s2 = new MemoryStore();
    assert.equal(await buildMap(s2, pairs), t.root);
    await assertNodes(s2, t.nodes);
  });
});

describe('bs fixtures: anchor maps written by bs\'s anchor.Put', () => {
  for (const f of anchorMaps) {
    const puts = putsOf(f);
    // plexus's name-addressed API refuses control characters (INVALID_NAME); bs takes any bytes.
    const plexusNames = !f.id.startsWith('control-');
    const msAligned = plexusNames && puts.every((p) => BigInt(p.atNs) % 1_000_000n === 0n);

    if (msAligned) {
      it(`${f.id}: plexus's putAnchor in bs's order gives bs's root${f.nodes ? ' and every node' : ''} (${f.nodeCount} nodes, depth ${f.depth})`, async () => {
        const inner = new MemoryStore();
        const s = await BsStore.open(inner);
        for (const p of puts) await s.putAnchor(p.name, p.ref, nsToMs(BigInt(p.atNs)));
        assert.equal((await s.anchorMapRef()) ?? null, f.root);
        if (f.nodes) await assertNodes(inner, f.nodes);
      });
    }

    if (f.root) {
      it(`${f.id}: buildMap of bs's histories gives bs's root`, async () => {
        const s = new MemoryStore();
        assert.equal(await buildMap(s, pairsOf(historiesOf(f))), f.root);
        if (f.nodes) await assertNodes(s, f.nodes);
      });
    }

    if (f.nodes && f.root) {
      it(`${f.id}: plexus reads bs's map: every entry with its nanoseconds, histories rounded to ms`, async () => {
        const s = await bsStoreWith(Object.values(f.nodes!).map(hex), f.root);
        const want = historiesOf(f);
        assert.deepEqual(await nsHistories(s), want);
        for (const [name, entries] of Object.entries(want)) {
          if (plexusNames) assert.deepEqual(await s.history(name), entries.map((e) => ({ at: nsToMs(BigInt(e.atNs)), ref: e.ref })));
          else await assert.rejects(s.history(name), { code: 'INVALID_NAME' });
        }
        const listed: string[] = [];
        for await (const a of s.eachAnchor()) listed.push(a.name);
        assert.deepEqual([...new Set(listed)].sort(), Object.keys(want).sort());
      });
    }
  }

  it('history-ns: a plexus write to one name keeps the exact bytes (nanoseconds) of bs\'s entries', async () => {
    const f = anchorMaps.find((m) => m.id === 'history-ns')!;
    const s = await bsStoreWith(Object.values(f.nodes!).map(hex), f.root);
    const later = nsToMs(BigInt(f.histories!.alpha!.at(-1)!.atNs)) + 1000;
    const extra = refFor('alpha', 99);
    await s.putAnchor('alpha', extra, later);
    const root = (await s.anchorMapRef())!;
    const payload = (await mapLookup(s, root, te.encode('alpha')))!;
    const members = decodeList(payload).map(toHex);
    const bsMembers = f.histories!.alpha!.map((e) => toHex(encodeAnchor({ ref: refToBytes(e.ref), atNs: BigInt(e.atNs) })));
    assert.deepEqual(members, [...bsMembers, toHex(encodeAnchor({ ref: refToBytes(extra), atNs: BigInt(later) * 1_000_000n }))]);
    // The other names' payloads are untouched: the new root is bs's map with only alpha changed.
    const h = { ...f.histories!, alpha: [...f.histories!.alpha!, { ref: extra, atNs: String(BigInt(later) * 1_000_000n) }] };
    assert.equal(await buildMap(new MemoryStore(), pairsOf(h)), root);
  });
});

// Message types as protobufjs gets them from .proto text (google/protobuf's public definitions; bs's
// own types from plexus's src/blob/bs/proto). keepCase keeps snake_case names as protoc does.
const wkt = protobuf.parse(`syntax = "proto3"; package google.protobuf;
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
message Duration { int64 seconds = 1; int32 nanos = 2; }
message Struct { map<string, Value> fields = 1; }
message Value { oneof kind { NullValue null_value = 1; double number_value = 2; string string_value = 3; bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6; } }
enum NullValue { NULL_VALUE = 0; }
message ListValue { repeated Value values = 1; }
message Field {
  enum Kind { TYPE_UNKNOWN = 0; TYPE_DOUBLE = 1; TYPE_FLOAT = 2; TYPE_INT64 = 3; TYPE_UINT64 = 4; TYPE_INT32 = 5; TYPE_FIXED64 = 6; TYPE_FIXED32 = 7; TYPE_BOOL = 8; TYPE_STRING = 9; TYPE_GROUP = 10; TYPE_MESSAGE = 11; TYPE_BYTES = 12; TYPE_UINT32 = 13; TYPE_ENUM = 14; TYPE_SFIXED32 = 15; TYPE_SFIXED64 = 16; TYPE_SINT32 = 17; TYPE_SINT64 = 18; }
  enum Cardinality { CARDINALITY_UNKNOWN = 0; CARDINALITY_OPTIONAL = 1; CARDINALITY_REQUIRED = 2; CARDINALITY_REPEATED = 3; }
  Kind kind = 1; Cardinality cardinality = 2; int32 number = 3; string name = 4; string type_url = 6; int32 oneof_index = 7; bool packed = 8; repeated Option options = 9; string json_name = 10; string default_value = 11;
}
message Option { string name = 1; Any value = 2; }
message Any { string type_url = 1; bytes value = 2; }
`, { keepCase: true }).root;
const typeNamed = (name: string): protobuf.Type => (name.startsWith('google.') ? wkt.lookupType(name) : messageType(name));

interface ProtoStep { description: string; type: string; message: string; ref: Ref; added: boolean; types: Ref[]; typesMapRoot: Ref | null; anchorMapRoot: Ref | null }
interface PutProtoFixture { steps: ProtoStep[]; descriptors: Record<Ref, string>; histories: Record<string, Entry[]>; blobs: Record<Ref, string>; rich: ProtoStep; richBlobs: Record<Ref, string> }

describe('bs fixtures: anchor.PutProto', () => {
  const pp = load<PutProtoFixture>('put-proto.json');

  it(`descriptorOf gives bs's descriptor bytes for every type (${new Set(pp.steps.map((s) => s.type)).size} types)`, () => {
    for (const st of pp.steps) assert.equal(toHex(descriptorOf(typeNamed(st.type))), pp.descriptors[st.types[0]!], st.type);
  });

  it('putProto of the same messages in the same order gives bs\'s refs, added flags, type sets and types-map roots', async () => {
    const s = await BsStore.open(new MemoryStore());
    for (const st of pp.steps) {
      const t = typeNamed(st.type);
      const value = t.toObject(t.decode(hex(st.message))) as Record<string, unknown>;
      const r = await putProto(s, t, value);
      assert.deepEqual({ ref: r.ref, added: r.added }, { ref: st.ref, added: st.added }, st.description);
      assert.deepEqual(await typesOf(s, r.ref), st.types, st.description);
      assert.equal((await s.history(PROTO_TYPES_ANCHOR)).at(-1)?.ref ?? null, st.typesMapRoot, st.description);
    }
  });

  it('bs\'s final anchor map is buildMap of its histories (times as bs recorded them)', async () => {
    assert.equal(await buildMap(new MemoryStore(), pairsOf(pp.histories)), pp.steps.at(-1)!.anchorMapRoot);
  });

  it('plexus reads bs\'s store: typesOf lists bs\'s descriptors, getProto decodes self-contained types from them alone', async () => {
    const s = await bsStoreWith(Object.values(pp.blobs).map(hex), pp.steps.at(-1)!.anchorMapRoot);
    assert.deepEqual(await nsHistories(s), pp.histories);
    const decoded: Record<string, unknown> = {};
    for (const st of pp.steps) {
      assert.deepEqual(await typesOf(s, st.ref), st.types);
      try {
        const d = await getProto(s, st.ref);
        assert.equal(d.descriptor, st.types[0]);
        assert.equal(d.type, st.type.split('.').at(-1));
        decoded[st.type + ' ' + st.ref.slice(0, 8)] = d.value;
      } catch (err) {
        decoded[st.type + ' ' + st.ref.slice(0, 8)] = (err as { code?: string }).code;
      }
    }
    const key = (type: string, nth = 0) => { const st = pp.steps.filter((x) => x.type === type && x.added)[nth]!; return `${type} ${st.ref.slice(0, 8)}`; };
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    assert.deepEqual(decoded, {
      [key('google.protobuf.Timestamp')]: { seconds: '1630454400', nanos: 123456789 },
      [key('google.protobuf.Timestamp', 1)]: { seconds: '0', nanos: 1 },
      [key('google.protobuf.Duration')]: { seconds: '5400', nanos: 0 },
      [key('schema.List')]: { members: [b64('one'), b64('two')] },
      // Types that name a message defined outside their own descriptor (bs stores just the one).
      [key('anchor.Anchor')]: 'BAD_REQUEST',
      [key('split.Node')]: 'BAD_REQUEST',
      [key('google.protobuf.Struct')]: 'BAD_REQUEST',
      [key('google.protobuf.Value')]: 'BAD_REQUEST',
      [key('google.protobuf.Field')]: 'BAD_REQUEST',
    });
  });
});

describe('bs fixtures: PutProto of a protoc-compiled type with most descriptor features (gen/rich.proto)', () => {
  const pp = load<PutProtoFixture>('put-proto.json');
  const richRoot = new protobuf.Root();
  richRoot.loadSync(join(DIR, 'gen/rich.proto'), { keepCase: true });
  const Rich = richRoot.lookupType('plexus.fixture.Rich');
  const st = pp.rich;

  it('descriptorOf gives protoc\'s DescriptorProto, as bs stored it (proto3 optional, oneof, maps, nested types, options)', () => {
    assert.equal(toHex(descriptorOf(Rich)), pp.descriptors[st.types[0]!]);
  });

  it('the types map for bs\'s blob is the one plexus builds; plexus\'s putProto of the same value records the same type', async () => {
    const s = new MemoryStore();
    const set = await setAdd(s, undefined, refToBytes(st.types[0]!));
    assert.equal((await mapSet(s, undefined, refToBytes(st.ref), refToBytes(set.ref))).ref, st.typesMapRoot);
    const p = await BsStore.open(new MemoryStore());
    const r = await putProto(p, Rich, Rich.toObject(Rich.decode(hex(st.message))) as Record<string, unknown>);
    assert.deepEqual(await typesOf(p, r.ref), st.types);
  });

  it('getProto decodes bs\'s blob from the stored descriptor alone, as the compiled type does', async () => {
    const s = await bsStoreWith(Object.values(pp.richBlobs).map(hex), st.anchorMapRoot);
    const d = await getProto(s, st.ref);
    assert.equal(d.type, 'Rich');
    assert.deepEqual(d.value, Rich.toObject(Rich.decode(hex(st.message)), { longs: String, enums: String, bytes: String, defaults: true }));
    const v = d.value as { plain_int: string; choice_inner: { deeper: { note: string } }; label_by_id: Record<string, string>; inner_by_name: Record<string, { inner_level: string }>; packed_ids: number[]; unpacked_ids: number[]; zigzag: string };
    assert.deepEqual([v.plain_int, v.choice_inner.deeper.note, v.label_by_id, v.inner_by_name.k!.inner_level, v.packed_ids, v.unpacked_ids, v.zigzag],
      ['-7', 'd', { 3: 'three' }, 'LEVEL_HIGH', [1, 2, 300], [4, 5], '-3']);
  });
});

interface SplitFixture { id: string; input: string; size: number; sha256: string; root: Ref; nodes: number; leaves: number; depth: number; leafSizes: number[]; nodeBlobs?: Record<Ref, string> }

describe('bs fixtures: files stored by bs\'s split.Writer', () => {
  const splits = load<SplitFixture[]>('split.json');
  const dataOf = (f: SplitFixture) => (f.id.startsWith('zeros-') ? new Uint8Array(f.size) : prng('plexus-bs-split', f.size));

  for (const f of splits) {
    it(`${f.id}: the fixture's leaves are the input cut at bs's boundaries (${f.leaves} leaves, ${f.nodes} nodes)`, () => {
      const data = dataOf(f);
      assert.equal(sha(data), f.sha256);
      assert.equal(f.leafSizes.reduce((a, b) => a + b, 0), f.size);
      assert.equal(f.leafSizes.length, f.leaves);
      if (f.size === 0) assert.equal(f.root, ZERO_REF);
    });
    if (f.nodeBlobs) {
      it(`${f.id}: getBsStream reads bs's tree (whole, and a slice across leaves)`, async () => {
        const data = dataOf(f);
        const s = new MemoryStore();
        let at = 0;
        for (const n of f.leafSizes) { await s.put(data.subarray(at, at + n)); at += n; }
        for (const b of Object.values(f.nodeBlobs!)) await s.put(hex(b));
        assert.equal(Object.keys(f.nodeBlobs!).length, f.nodes);
        const read = async (opts?: { offset: number; length: number }) => {
          const parts: Uint8Array[] = [];
          for await (const c of getBsStream(s, f.root, opts)) parts.push(c);
          return Buffer.concat(parts);
        };
        assert.equal(sha(await read()), f.sha256);
        if (f.size > 2) {
          const offset = Math.floor(f.size / 3), length = Math.floor(f.size / 2);
          assert.ok(Buffer.from(data.subarray(offset, offset + length)).equals(await read({ offset, length })));
        }
      });
    }
  }
});

interface StoreFixture {
  kind: 'file' | 'sqlite3' | 'pg'; path: string; anchorMapRoot: Ref; refs: Ref[]; blobs: Record<Ref, string>;
  histories: Record<string, Entry[]>;
  typedBlob: { ref: Ref; type: string; descriptor: Ref; seconds: string; nanos: string };
  splitFile: { root: Ref; size: string; sha256: string; anchor: string };
}

/** A bs store's blobs and root, read straight from what bs wrote (not through plexus's store readers). */
async function rawStore(f: StoreFixture): Promise<{ blobs: Map<Ref, Uint8Array>; root: Ref }> {
  const blobs = new Map<Ref, Uint8Array>();
  if (f.kind === 'file') {
    const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
    for (const p of walk(join(DIR, f.path, 'blobs'))) blobs.set(p.split('/').at(-1) as Ref, readFileSync(p));
    return { blobs, root: refFromBytes(readFileSync(join(DIR, f.path, 'anchormapref'))) };
  }
  let rows: { ref: Uint8Array; data: Uint8Array }[], rootRow: { ref: Uint8Array };
  if (f.kind === 'sqlite3') {
    const db = new Database(join(DIR, f.path), { readonly: true });
    rows = db.prepare('SELECT ref, data FROM blobs').all() as typeof rows;
    rootRow = db.prepare('SELECT ref FROM anchor_map_ref').get() as typeof rootRow;
    db.close();
  } else {
    const schema = await freshPgSchema('bsgo');
    const c = new pg.Client({ connectionString: schema.url });
    await c.connect();
    try {
      await c.query(readFileSync(join(DIR, f.path), 'utf8'));
      rows = (await c.query('SELECT ref, data FROM blobs')).rows;
      rootRow = (await c.query('SELECT ref FROM anchor_map_ref')).rows[0];
    } finally {
      await c.end();
      await schema.drop();
    }
  }
  for (const r of rows) blobs.set(refFromBytes(r.ref), new Uint8Array(r.data));
  return { blobs, root: refFromBytes(rootRow.ref) };
}

describe('bs fixtures: stores written by bs\'s file, sqlite3 and pg stores', () => {
  const manifest = load<{ stores: StoreFixture[] }>('manifest.json');
  it('the manifest has all three stores', () => assert.deepEqual(manifest.stores.map((s) => s.kind), ['file', 'sqlite3', 'pg']));

  for (const f of manifest.stores) {
    it(`${f.kind} (${f.path}): plexus's anchor map, typed blob and split reader see everything bs wrote`, async () => {
      const { blobs, root } = await rawStore(f);
      assert.equal(root, f.anchorMapRoot);
      assert.deepEqual([...blobs.keys()].sort(), f.refs);
      for (const [ref, bytes] of blobs) assert.equal(refOf(bytes), ref, `blob ${ref} is its hash`);
      for (const [ref, bytes] of Object.entries(f.blobs)) assert.equal(toHex(blobs.get(ref as Ref)!), bytes);

      const s = await bsStoreWith(blobs.values(), root);
      assert.deepEqual(await nsHistories(s), f.histories);
      assert.equal((await s.getAnchor(f.splitFile.anchor)).ref, f.splitFile.root);

      assert.deepEqual(await typesOf(s, f.typedBlob.ref), [f.typedBlob.descriptor]);
      const d = await getProto(s, f.typedBlob.ref);
      assert.deepEqual(d, { type: 'Timestamp', descriptor: f.typedBlob.descriptor, value: { seconds: f.typedBlob.seconds, nanos: Number(f.typedBlob.nanos) } });

      const parts: Uint8Array[] = [];
      for await (const c of getBsStream(s, f.splitFile.root)) parts.push(c);
      const file = Buffer.concat(parts);
      assert.equal(file.length, Number(f.splitFile.size));
      assert.equal(sha(file), f.splitFile.sha256);
    });
  }
});

describe('typed blobs: descriptors in the form plexus wrote before it wrote protoc\'s', () => {
  it('a protobufjs-style descriptor (relative type names, no json_name) still decodes', async () => {
    const { default: descriptor } = await import('protobufjs/ext/descriptor/index.js');
    const { typeFromDescriptor } = await import('../../src/blob/bs/descriptor.js');
    const Point = protobuf.parse('syntax = "proto3"; package demo; message Point { int32 x = 1; Inner inner = 2; message Inner { bool ok = 1; } }').root.lookupType('demo.Point');
    const old = descriptor.DescriptorProto.encode((Point as unknown as { toDescriptor(s: string): protobuf.Message }).toDescriptor('proto3')).finish();
    assert.notEqual(toHex(old), toHex(descriptorOf(Point)));
    for (const bytes of [old, descriptorOf(Point)]) {
      const t = typeFromDescriptor(bytes);
      new protobuf.Root().add(t).resolveAll();
      assert.deepEqual(t.toObject(t.decode(Point.encode(Point.fromObject({ x: 5, inner: { ok: true } })).finish())), { x: 5, inner: { ok: true } });
    }
  });
});
