/**
 * The tree node blob of a split stream: a small self-describing binary format.
 *
 * ```
 * offset size  field
 *      0    8  magic: 89 50 58 54 52 45 45 0A  ("\x89PXTREE\n")
 *      8    1  version: 1
 *      9    1  height: 1 = children are raw chunk blobs; h > 1 = children are nodes of height h-1
 *     10    2  reserved, 0
 *     12    4  count: number of children (uint32 BE)
 *     16    8  size: bytes of stream content this node covers (uint64 BE, <= 2^53-1)
 *     24   40  per child: 32-byte raw sha256 ref, then its content size (uint64 BE)
 * ```
 * The blob is exactly `24 + 40 * count` bytes and the children's sizes sum to `size`. Chunks (leaves)
 * are stored raw, with nothing added. The empty stream is the node with height 1, count 0, size 0.
 */
import { PlexusError } from '../errors.js';
import { refFromBytes, type Ref } from './ref.js';

/** First bytes of every node blob. The 0x89 and the final newline catch text-mode mangling, as PNG's does. */
export const NODE_MAGIC = Uint8Array.of(0x89, 0x50, 0x58, 0x54, 0x52, 0x45, 0x45, 0x0a);
export const NODE_VERSION = 1;
export const NODE_HEADER_BYTES = 24;
export const NODE_ENTRY_BYTES = 40;
/** Highest node height a reader accepts (a real tree of 2^53 bytes is far lower). */
export const NODE_MAX_HEIGHT = 32;
/** Most children a reader accepts in one node (writers stay far below: CHUNK_NODE_MAX_CHILDREN). */
export const NODE_MAX_CHILDREN = 65_536;

/** One child of a node: a chunk (height 1 parent) or a node (higher parent), and its content size. */
export interface NodeChild {
  ref: Ref;
  size: number;
}

/** A decoded node. */
export interface TreeNode {
  height: number;
  size: number;
  children: NodeChild[];
}

/** True when `bytes` starts with the node magic (whether or not the rest is a valid node). */
export function hasNodeMagic(bytes: Uint8Array): boolean {
  if (bytes.length < NODE_MAGIC.length) return false;
  for (let i = 0; i < NODE_MAGIC.length; i++) if (bytes[i] !== NODE_MAGIC[i]) return false;
  return true;
}

/** Encode a node from raw 32-byte refs and sizes. */
export function encodeNode(height: number, refs: readonly Uint8Array[], sizes: readonly number[]): Uint8Array {
  const count = refs.length;
  const out = new Uint8Array(NODE_HEADER_BYTES + NODE_ENTRY_BYTES * count);
  const dv = new DataView(out.buffer);
  out.set(NODE_MAGIC, 0);
  out[8] = NODE_VERSION;
  out[9] = height;
  dv.setUint32(12, count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = NODE_HEADER_BYTES + NODE_ENTRY_BYTES * i;
    out.set(refs[i]!, at);
    dv.setBigUint64(at + 32, BigInt(sizes[i]!));
    total += sizes[i]!;
  }
  dv.setBigUint64(16, BigInt(total));
  return out;
}

function corrupt(ref: Ref, why: string): PlexusError {
  return new PlexusError('BAD_REQUEST', `corrupt stream node ${ref}: ${why}`, { detail: { ref } });
}

/**
 * Decode a node blob fetched under `ref`. Throws BAD_REQUEST 'not a stream node' without the magic,
 * BAD_REQUEST 'corrupt stream node' when the magic is there but the rest does not add up.
 */
export function decodeNode(ref: Ref, bytes: Uint8Array): TreeNode {
  if (!hasNodeMagic(bytes)) throw new PlexusError('BAD_REQUEST', `${ref} is not a stream node`, { detail: { ref } });
  if (bytes.length < NODE_HEADER_BYTES) throw corrupt(ref, 'truncated header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[8] !== NODE_VERSION) throw new PlexusError('UNSUPPORTED', `stream node ${ref} has version ${bytes[8]}, want ${NODE_VERSION}`, { detail: { ref } });
  const height = bytes[9]!;
  if (height < 1 || height > NODE_MAX_HEIGHT) throw corrupt(ref, `height ${height}`);
  if (bytes[10] !== 0 || bytes[11] !== 0) throw corrupt(ref, 'reserved bytes set');
  const count = dv.getUint32(12);
  if (count > NODE_MAX_CHILDREN) throw corrupt(ref, `${count} children, over ${NODE_MAX_CHILDREN}`);
  if (bytes.length !== NODE_HEADER_BYTES + NODE_ENTRY_BYTES * count) throw corrupt(ref, `${bytes.length} bytes for ${count} children`);
  const size = toSafe(ref, dv.getBigUint64(16));
  const children: NodeChild[] = new Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = NODE_HEADER_BYTES + NODE_ENTRY_BYTES * i;
    const s = toSafe(ref, dv.getBigUint64(at + 32));
    if (s === 0) throw corrupt(ref, `child ${i} is empty`);
    total += s;
    children[i] = { ref: refFromBytes(bytes.subarray(at, at + 32)), size: s };
  }
  if (total !== size) throw corrupt(ref, `children cover ${total} bytes, node says ${size}`);
  if (count === 0 && height !== 1) throw corrupt(ref, 'empty inner node');
  return { height, size, children };
}

function toSafe(ref: Ref, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(ref, 'size out of range');
  return Number(v);
}
