import protobuf from 'protobufjs';
import { PlexusError } from '../../errors.js';
import { applyPut, retryOnConflict, type AnchorStore, type RetryOptions } from '../anchor.js';
import { refFromBytes, refToBytes, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';
import { protocDescriptor, typeFromDescriptor } from './descriptor.js';
import { mapLookup, mapSet, MAP_NODE_MAX, type NodeStore } from './schema-map.js';
import { decodeSetNode, encodeSetNode, type SetNode } from './wire.js';

/**
 * Typed blobs as bs's anchor.PutProto keeps them (github.com/bobg/bs v0.4.5, anchor/anchor.go): the
 * message's bytes are a blob; when that blob is new, its type's DescriptorProto is a blob too, and the
 * reserved anchor PROTO_TYPES_ANCHOR points to a schema.Map from blob ref (32 bytes) to the ref of a
 * schema.Set of descriptor refs. Unlike bs, the map update is a compare-and-swap on the reserved
 * anchor (retried on CONFLICT), so concurrent putProto calls lose no type.
 */

/** bs's reserved anchor name for the proto types map. */
export const PROTO_TYPES_ANCHOR = '__github.com/bobg/bs/anchor__reserved__proto_types__';

type Store = BlobStore & AnchorStore;

const setBit = (b: Uint8Array, n: number) => Math.floor(n / 8) < b.length && (b[Math.floor(n / 8)]! & (1 << n % 8)) !== 0;

async function loadSet(store: NodeStore, ref: Ref): Promise<SetNode> {
  return decodeSetNode(await store.get(ref));
}

/** Add a 32-byte member to the schema.Set at `root` (undefined: empty); bs's Set.Add, same nodes. */
export async function setAdd(store: NodeStore, root: Ref | undefined, member: Uint8Array): Promise<{ ref: Ref; added: boolean }> {
  const put = async (n: SetNode) => (await store.put(encodeSetNode(n))).ref;
  const add = async (node: SetNode): Promise<{ ref: Ref; added: boolean }> => {
    if (node.left) {
      const sub = setBit(member, node.depth) ? node.right! : node.left;
      const r = await add(await loadSet(store, refFromBytes(sub.ref)));
      if (!r.added) return { ref: await put(node), added: false };
      sub.ref = refToBytes(r.ref);
      sub.size++;
      node.size++;
      return { ref: await put(node), added: true };
    }
    let i = 0;
    while (i < node.members.length && Buffer.compare(node.members[i]!, member) < 0) i++;
    if (i < node.members.length && Buffer.compare(node.members[i]!, member) === 0) return { ref: await put(node), added: false };
    node.members.splice(i, 0, member);
    if (node.members.length > MAP_NODE_MAX) {
      const l = node.members.filter((m) => !setBit(m, node.depth)), r = node.members.filter((m) => setBit(m, node.depth));
      node.left = { ref: refToBytes(await put({ depth: node.depth + 1, size: l.length, members: l })), size: l.length };
      node.right = { ref: refToBytes(await put({ depth: node.depth + 1, size: r.length, members: r })), size: r.length };
      node.members = [];
    }
    node.size++;
    return { ref: await put(node), added: true };
  };
  return add(root === undefined ? { depth: 0, size: 0, members: [] } : await loadSet(store, root));
}

/** Every member of the schema.Set at `root`, in bytewise order. */
export async function* setEach(store: NodeStore, root: Ref): AsyncGenerator<Ref> {
  const node = await loadSet(store, root);
  if (node.left) {
    yield* setEach(store, refFromBytes(node.left.ref));
    yield* setEach(store, refFromBytes(node.right!.ref));
  } else {
    for (const m of node.members) yield refFromBytes(m);
  }
}

/** The DescriptorProto bytes of a protobufjs message type: protoc's bytes, what bs stores for a Go message. */
export function descriptorOf(type: protobuf.Type): Uint8Array {
  return protocDescriptor(type);
}

/**
 * bs's anchor.PutProto: store `message` (a plain object of `type`) as a blob; when newly added, also
 * store its type descriptor and record it in the proto types map under PROTO_TYPES_ANCHOR.
 */
export async function putProto(store: Store, type: protobuf.Type, message: Record<string, unknown>, opts: RetryOptions = {}): Promise<PutResult> {
  const err = type.verify(message);
  if (err) throw new PlexusError('BAD_REQUEST', `not a valid ${type.fullName}: ${err}`);
  const res = await store.put(type.encode(type.fromObject(message)).finish());
  if (!res.added) return res;
  const typeRef = (await store.put(descriptorOf(type))).ref;
  await retryOnConflict(async () => {
    const { history, version } = await store.readAnchors(PROTO_TYPES_ANCHOR);
    // Build on the newest map and anchor it as the newest entry (a writer whose clock is behind must
    // not slip its map in before a concurrent writer's, which would hide its types).
    const last = history[history.length - 1];
    const mapRoot = last?.ref;
    const at = Math.max(Date.now(), last ? last.at + 1 : -Infinity);
    const setRoot = mapRoot ? await mapLookup(store, mapRoot, refToBytes(res.ref)) : undefined;
    const set = await setAdd(store, setRoot && setRoot.length === 32 ? refFromBytes(setRoot) : undefined, refToBytes(typeRef));
    if (!set.added) return;
    const { ref: newRoot, outcome } = await mapSet(store, mapRoot, refToBytes(res.ref), refToBytes(set.ref));
    if (outcome === 'none') return;
    const next = applyPut(history, newRoot, at);
    if (next !== history) await store.writeAnchors(PROTO_TYPES_ANCHOR, version, next);
  }, opts);
  return res;
}

/** The refs of the type descriptors recorded for the blob `ref` (empty if none). */
export async function typesOf(store: Store, ref: Ref): Promise<Ref[]> {
  const history = await store.history(PROTO_TYPES_ANCHOR);
  const mapRoot = history[history.length - 1]?.ref;
  if (!mapRoot) return [];
  const setRoot = await mapLookup(store, mapRoot, refToBytes(ref));
  if (!setRoot || setRoot.length !== 32) return [];
  const out: Ref[] = [];
  for await (const r of setEach(store, refFromBytes(setRoot))) out.push(r);
  return out;
}

/** A typed blob decoded with its stored descriptor alone: the type's name and the value as JSON. */
export interface DecodedProto {
  type: string;
  descriptor: Ref;
  value: Record<string, unknown>;
}

/**
 * Decode the blob `ref` using only the type descriptors stored with it (no compiled schema). The
 * first descriptor that decodes it wins. NOT_FOUND if the blob has no recorded type. Field types
 * defined outside the message itself cannot be resolved from one DescriptorProto (as in bs).
 */
export async function getProto(store: Store, ref: Ref, types?: readonly Ref[]): Promise<DecodedProto> {
  types ??= await typesOf(store, ref); // a caller that already listed them passes them
  if (types.length === 0) throw new PlexusError('NOT_FOUND', `blob ${ref} has no recorded protobuf type`);
  const bytes = await store.get(ref);
  let last: unknown;
  for (const t of types) {
    try {
      const type = typeFromDescriptor(await store.get(t));
      new protobuf.Root().add(type).resolveAll();
      const value = type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: String, defaults: true }) as Record<string, unknown>;
      return { type: type.name, descriptor: t, value };
    } catch (err) {
      last = err;
    }
  }
  throw new PlexusError('BAD_REQUEST', `blob ${ref} does not decode with its recorded types: ${(last as Error)?.message ?? last}`);
}
