import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { PlexusError } from '../../errors.js';

/**
 * bs v0.4.5's protobuf messages (proto/*.proto, loaded at run time with protobufjs) and typed
 * encode/decode helpers for them. Encoders omit zero scalars and empty bytes, as Go's proto.Marshal
 * does, so plexus writes the very bytes bs writes (and so the same refs).
 */

const root = new protobuf.Root();
root.loadSync(['rpc.proto', 'schema.proto', 'anchor.proto', 'split.proto'].map((f) => fileURLToPath(new URL(`./proto/${f}`, import.meta.url))), { keepCase: true });

/** A loaded message type by its full name (e.g. 'schema.Map'). */
export function messageType(name: string): protobuf.Type {
  return root.lookupType(name);
}

const T = {
  map: messageType('schema.Map'),
  list: messageType('schema.List'),
  anchor: messageType('anchor.Anchor'),
};

/** One level of a schema.Map tree, as plain values. */
export interface MapNode {
  depth: number;
  /** Members in this node and below. */
  size: number;
  left?: SubNode;
  right?: SubNode;
  /** Only in nodes without children; ordered by SHA-256 of the key. */
  members: MapPair[];
}
export interface SubNode { ref: Uint8Array; size: number }
export interface MapPair { key: Uint8Array; payload: Uint8Array }

/** One entry of a bs anchor history: a ref and a time in nanoseconds since the epoch. */
export interface BsAnchor { ref: Uint8Array; atNs: bigint }

const NS_PER_S = 1_000_000_000n;

/** Drop zero / empty fields (Go's proto3 encoding never writes them). */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === 0 || v === false) continue;
    if (v instanceof Uint8Array && v.length === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out;
}

function decodeWith<M>(type: protobuf.Type, bytes: Uint8Array, what: string): M {
  try {
    return type.decode(bytes) as unknown as M;
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `not a valid ${what} protobuf: ${(err as Error).message}`, { cause: err });
  }
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return 0;
}

const bytesOf = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array());

/** Serialize a schema.Map node. The `node` field is always written (bs's nodes always have one). */
export function encodeMapNode(n: MapNode): Uint8Array {
  const sub = (s: SubNode | undefined) => (s ? compact({ ref: s.ref, size: s.size }) : undefined);
  const node = compact({ depth: n.depth, size: n.size, left: sub(n.left), right: sub(n.right) });
  const msg = compact({ node, members: n.members.map((m) => compact({ key: m.key, payload: m.payload })) });
  msg.node = node;
  return T.map.encode(msg).finish();
}

/** Parse a schema.Map node (BAD_REQUEST if it is not one). */
export function decodeMapNode(bytes: Uint8Array): MapNode {
  type Raw = { node?: { depth?: number; size?: number; left?: { ref?: Uint8Array; size?: number }; right?: { ref?: Uint8Array; size?: number } }; members?: { key?: Uint8Array; payload?: Uint8Array }[] };
  const m = decodeWith<Raw>(T.map, bytes, 'schema.Map');
  const sub = (s: { ref?: Uint8Array; size?: number } | undefined | null) => (s ? { ref: bytesOf(s.ref), size: s.size ?? 0 } : undefined);
  const left = sub(m.node?.left), right = sub(m.node?.right);
  if ((left === undefined) !== (right === undefined) || (left && (left.ref.length !== 32 || right!.ref.length !== 32))) {
    throw new PlexusError('BAD_REQUEST', 'not a valid schema.Map node: children must be two 32-byte refs');
  }
  return {
    depth: m.node?.depth ?? 0,
    size: m.node?.size ?? 0,
    ...(left ? { left, right } : {}),
    members: (m.members ?? []).map((p) => ({ key: bytesOf(p.key), payload: bytesOf(p.payload) })),
  };
}

/** Serialize a schema.List of byte strings. */
export function encodeList(members: readonly Uint8Array[]): Uint8Array {
  return T.list.encode(compact({ members: [...members] })).finish();
}

/** Parse a schema.List. */
export function decodeList(bytes: Uint8Array): Uint8Array[] {
  return (decodeWith<{ members?: Uint8Array[] }>(T.list, bytes, 'schema.List').members ?? []).map(bytesOf);
}

/** Serialize an anchor.Anchor; the time is always written (Go's timestamppb.New is never nil). */
export function encodeAnchor(a: BsAnchor): Uint8Array {
  let seconds = a.atNs / NS_PER_S;
  let nanos = a.atNs % NS_PER_S;
  if (nanos < 0n) { nanos += NS_PER_S; seconds -= 1n; }
  const at = compact({ seconds: Number(seconds), nanos: Number(nanos) });
  const msg = compact({ ref: a.ref });
  msg.at = at;
  return T.anchor.encode(msg).finish();
}

/** Parse an anchor.Anchor. */
export function decodeAnchor(bytes: Uint8Array): BsAnchor {
  const m = decodeWith<{ ref?: Uint8Array; at?: { seconds?: unknown; nanos?: number } }>(T.anchor, bytes, 'anchor.Anchor');
  return { ref: bytesOf(m.ref), atNs: BigInt(toNumber(m.at?.seconds)) * NS_PER_S + BigInt(m.at?.nanos ?? 0) };
}

/** Milliseconds (plexus) to nanoseconds (bs). */
export const msToNs = (ms: number): bigint => BigInt(ms) * 1_000_000n;

/** Nanoseconds (bs) to milliseconds (plexus), rounding down (toward the past). */
export function nsToMs(ns: bigint): number {
  const q = ns / 1_000_000n;
  return Number(ns < 0n && q * 1_000_000n !== ns ? q - 1n : q);
}

/** One level of a schema.Set tree: members are 32-byte refs, ordered bytewise (the ref is its own key hash). */
export interface SetNode {
  depth: number;
  size: number;
  left?: SubNode;
  right?: SubNode;
  members: Uint8Array[];
}

const setType = messageType('schema.Set');

/** Serialize a schema.Set node (the `node` field always written, as bs's sets always have one). */
export function encodeSetNode(n: SetNode): Uint8Array {
  const sub = (s: SubNode | undefined) => (s ? compact({ ref: s.ref, size: s.size }) : undefined);
  const node = compact({ depth: n.depth, size: n.size, left: sub(n.left), right: sub(n.right) });
  const msg = compact({ members: n.members });
  msg.node = node;
  return setType.encode(msg).finish();
}

/** Parse a schema.Set node. */
export function decodeSetNode(bytes: Uint8Array): SetNode {
  type Raw = { node?: { depth?: number; size?: number; left?: { ref?: Uint8Array; size?: number }; right?: { ref?: Uint8Array; size?: number } }; members?: Uint8Array[] };
  const m = decodeWith<Raw>(setType, bytes, 'schema.Set');
  const sub = (s: { ref?: Uint8Array; size?: number } | undefined | null) => (s ? { ref: bytesOf(s.ref), size: s.size ?? 0 } : undefined);
  const left = sub(m.node?.left), right = sub(m.node?.right);
  if ((left === undefined) !== (right === undefined)) throw new PlexusError('BAD_REQUEST', 'not a valid schema.Set node: children must come in pairs');
  return { depth: m.node?.depth ?? 0, size: m.node?.size ?? 0, ...(left ? { left, right } : {}), members: (m.members ?? []).map(bytesOf) };
}
