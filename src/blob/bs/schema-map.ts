import { createHash } from 'node:crypto';
import { PlexusError } from '../../errors.js';
import { refFromBytes, refOf, refToBytes, type Ref } from '../ref.js';
import type { PutResult } from '../store.js';
import { decodeMapNode, encodeMapNode, type MapNode, type MapPair } from './wire.js';

/**
 * bs's schema.Map (github.com/bobg/bs v0.4.5, schema/map.go + tree.go), rebuilt from its rules: a
 * content-addressed binary tree of schema.Map blobs. Members are ordered by SHA-256 of their key; a
 * node holds at most MAP_NODE_MAX members, past that it splits into a left and right child at depth
 * d+1 by bit d of the key hash (byte d/8, mask 1 << (d%8)). The tree's shape, and so its root ref,
 * depends only on the set of (key, payload) pairs, never on the order they were set in.
 */

/** Most members a schema.Map node holds before it splits (bs's maxNode). */
export const MAP_NODE_MAX = 128;

/** The blob operations a map needs. */
export interface NodeStore {
  get(ref: Ref): Promise<Uint8Array>;
  put(bytes: Uint8Array): Promise<PutResult>;
}

/** What `mapSet` did: nothing, added a new key, or changed a key's payload. */
export type Outcome = 'none' | 'added' | 'updated';

/** SHA-256 of a key: the order of members and the bits that pick a child. */
export const keyHash = (key: Uint8Array): Buffer => createHash('sha256').update(key).digest();

function nthBit(hash: Uint8Array, n: number): boolean {
  const byte = Math.floor(n / 8);
  return byte < hash.length && (hash[byte]! & (1 << n % 8)) !== 0;
}

/** The blob of an empty map (bs's NewMap): a node with no members, no children. */
export const EMPTY_MAP_BYTES = encodeMapNode({ depth: 0, size: 0, members: [] });
/** The ref of an empty map. */
export const EMPTY_MAP_REF = refOf(EMPTY_MAP_BYTES);

/** Read and parse one node; a missing node or a non-map blob is BAD_REQUEST naming the ref. */
export async function loadMapNode(store: NodeStore, ref: Ref): Promise<MapNode> {
  const bytes = await store.get(ref);
  try {
    return decodeMapNode(bytes);
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `blob ${ref} is not a schema.Map node`, { cause: err });
  }
}

async function putNode(store: NodeStore, n: MapNode): Promise<Ref> {
  return (await store.put(encodeMapNode(n))).ref;
}

/** Store a map holding exactly `pairs` (keys must be distinct) and return its root ref (bs's MapFromGo). */
export async function buildMap(store: NodeStore, pairs: readonly MapPair[]): Promise<Ref> {
  const items = pairs.map((p) => ({ ...p, hash: keyHash(p.key) })).sort((a, b) => Buffer.compare(a.hash, b.hash));
  for (let i = 1; i < items.length; i++) {
    if (Buffer.compare(items[i - 1]!.hash, items[i]!.hash) === 0) throw new PlexusError('BAD_REQUEST', 'buildMap: duplicate key');
  }
  const build = async (list: typeof items, depth: number): Promise<Ref> => {
    if (list.length <= MAP_NODE_MAX) {
      return putNode(store, { depth, size: list.length, members: list.map(({ key, payload }) => ({ key, payload })) });
    }
    const l = list.filter((it) => !nthBit(it.hash, depth));
    const r = list.filter((it) => nthBit(it.hash, depth));
    const lref = await build(l, depth + 1);
    const rref = await build(r, depth + 1);
    return putNode(store, {
      depth, size: list.length, members: [],
      left: { ref: refToBytes(lref), size: l.length }, right: { ref: refToBytes(rref), size: r.length },
    });
  };
  return build(items, 0);
}

/** Index of the first member whose key hash is >= `hash` (members are sorted by key hash). */
function search(members: readonly MapPair[], hash: Buffer): { index: number; found: boolean } {
  let lo = 0, hi = members.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(keyHash(members[mid]!.key), hash) < 0) lo = mid + 1; else hi = mid;
  }
  return { index: lo, found: lo < members.length && Buffer.compare(keyHash(members[lo]!.key), hash) === 0 };
}

/** The payload stored under `key` in the map at `root`, or undefined. */
export async function mapLookup(store: NodeStore, root: Ref, key: Uint8Array): Promise<Uint8Array | undefined> {
  const hash = keyHash(key);
  let node = await loadMapNode(store, root);
  while (node.left) {
    const sub = nthBit(hash, node.depth) ? node.right! : node.left;
    node = await loadMapNode(store, refFromBytes(sub.ref));
  }
  const { index, found } = search(node.members, hash);
  return found ? node.members[index]!.payload : undefined;
}

/** Every (key, payload) pair of the map at `root`, in key-hash order (bs's Each walks the same way). */
export async function* mapEach(store: NodeStore, root: Ref): AsyncGenerator<MapPair> {
  const node = await loadMapNode(store, root);
  if (node.left) {
    yield* mapEach(store, refFromBytes(node.left.ref));
    yield* mapEach(store, refFromBytes(node.right!.ref));
  } else {
    yield* node.members;
  }
}

/**
 * Set `key` to `payload` in the map at `root` (undefined: an empty map), storing the changed nodes;
 * returns the new root ref and what changed (bs's Map.Set, the same nodes and so the same refs).
 */
export async function mapSet(store: NodeStore, root: Ref | undefined, key: Uint8Array, payload: Uint8Array): Promise<{ ref: Ref; outcome: Outcome }> {
  const hash = keyHash(key);
  const set = async (node: MapNode): Promise<{ ref: Ref; outcome: Outcome }> => {
    if (node.left) {
      const sub = nthBit(hash, node.depth) ? node.right! : node.left;
      const r = await set(await loadMapNode(store, refFromBytes(sub.ref)));
      if (r.outcome === 'none') return { ref: refOf(encodeMapNode(node)), outcome: 'none' };
      sub.ref = refToBytes(r.ref);
      if (r.outcome === 'added') { sub.size++; node.size++; }
      return { ref: await putNode(store, node), outcome: r.outcome };
    }
    const { index, found } = search(node.members, hash);
    if (found) {
      if (Buffer.compare(node.members[index]!.payload, payload) === 0) return { ref: refOf(encodeMapNode(node)), outcome: 'none' };
      node.members[index] = { key, payload };
      return { ref: await putNode(store, node), outcome: 'updated' };
    }
    node.members.splice(index, 0, { key, payload });
    if (node.members.length > MAP_NODE_MAX) {
      const l: MapPair[] = [], r: MapPair[] = [];
      for (const m of node.members) (nthBit(keyHash(m.key), node.depth) ? r : l).push(m);
      const lref = await putNode(store, { depth: node.depth + 1, size: l.length, members: l });
      const rref = await putNode(store, { depth: node.depth + 1, size: r.length, members: r });
      node.left = { ref: refToBytes(lref), size: l.length };
      node.right = { ref: refToBytes(rref), size: r.length };
      node.members = [];
    }
    node.size++;
    return { ref: await putNode(store, node), outcome: 'added' };
  };
  return set(root === undefined ? { depth: 0, size: 0, members: [] } : await loadMapNode(store, root));
}
