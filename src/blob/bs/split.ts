import { PlexusError } from '../../errors.js';
import { CHUNK_IO_CONCURRENCY } from '../../limits.js';
import { refFromBytes, refToBytes, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore } from '../store.js';
import { messageType } from './wire.js';

/**
 * Reading files that bs's `split` package stored (github.com/bobg/bs v0.4.5, split/split.go): a tree
 * of `split.Node` protobuf blobs whose leaves are raw chunk blobs; the zero ref is the empty stream.
 */

/** One child entry of a split.Node: a node or a chunk, and its offset in the stream. */
export interface SplitChild { ref: Uint8Array; offset: number }
/** A split.Node as plain values. */
export interface SplitNodeValue { nodes: SplitChild[]; leaves: SplitChild[]; offset: number; size: number }


function varint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function encodeChild(c: SplitChild): number[] {
  const out = [0x0a, c.ref.length, ...c.ref];
  if (c.offset !== 0) { out.push(0x10); varint(out, c.offset); }
  return out;
}

/** A split.Node's bytes as Go's proto.Marshal writes them: fields in number order, zero values left out. */
export function encodeSplitNode(n: SplitNodeValue): Uint8Array {
  const out: number[] = [];
  for (const [tag, list] of [[0x0a, n.nodes], [0x12, n.leaves]] as const) {
    for (const c of list) {
      const b = encodeChild(c);
      out.push(tag);
      varint(out, b.length);
      for (const x of b) out.push(x);
    }
  }
  if (n.offset !== 0) { out.push(0x18); varint(out, n.offset); }
  if (n.size !== 0) { out.push(0x20); varint(out, n.size); }
  return Uint8Array.from(out);
}

const NodeType = messageType('split.Node');
/** Deepest bs split tree accepted (a real one of 2^64 bytes is far lower). */
const MAX_DEPTH = 64;

interface Child { ref: Ref; offset: number }
/** A decoded split.Node (refs as hex). */
export interface BsSplitNode { nodes: Child[]; leaves: Child[]; offset: number; size: number }

const num = (v: unknown): number => (typeof v === 'number' ? v : v && typeof (v as { toNumber?: unknown }).toNumber === 'function' ? (v as { toNumber(): number }).toNumber() : 0);

/** Parse one split.Node blob (BAD_REQUEST if it is not one). */
export function decodeSplitNode(bytes: Uint8Array): BsSplitNode {
  let m: { nodes?: { ref?: Uint8Array; offset?: unknown }[]; leaves?: { ref?: Uint8Array; offset?: unknown }[]; offset?: unknown; size?: unknown };
  try {
    m = NodeType.decode(bytes) as unknown as typeof m;
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `not a bs split.Node: ${(err as Error).message}`, { cause: err });
  }
  const child = (c: { ref?: Uint8Array; offset?: unknown }): Child => {
    if (!(c.ref instanceof Uint8Array) || c.ref.length !== 32) throw new PlexusError('BAD_REQUEST', 'bs split.Node child without a 32-byte ref');
    return { ref: refFromBytes(c.ref), offset: num(c.offset) };
  };
  return { nodes: (m.nodes ?? []).map(child), leaves: (m.leaves ?? []).map(child), offset: num(m.offset), size: num(m.size) };
}

/**
 * The bytes of a bs split tree, in order, from `offset` for `length` bytes (default: all). Children
 * wholly before `offset` are skipped without being read. A tree whose nodes do not cover exactly the
 * bytes their parents say (as bs v0.4.5 writes for some inputs, see split-writer.ts) is BAD_REQUEST
 * 'corrupt bs split tree' rather than a short read.
 */
export async function* getBsStream(store: BlobStore, root: Ref, opts: { offset?: number; length?: number } = {}): AsyncGenerator<Uint8Array> {
  if (root === ZERO_REF) return;
  const start = opts.offset ?? 0;
  const end = opts.length === undefined ? Infinity : start + opts.length;
  if (!Number.isSafeInteger(start) || start < 0 || (opts.length !== undefined && (!Number.isSafeInteger(opts.length) || opts.length < 0))) {
    throw new PlexusError('BAD_REQUEST', 'offset and length must be non-negative integers');
  }
  const corrupt = (ref: Ref, why: string) => new PlexusError('BAD_REQUEST', `corrupt bs split tree: node ${ref} ${why}`, { detail: { ref } });
  /** The bytes under node `ref`, which its parent says covers [off, off + size) (the root: whatever it says). */
  async function* walk(ref: Ref, depth: number, off?: number, size?: number): AsyncGenerator<Uint8Array> {
    if (depth > MAX_DEPTH) throw new PlexusError('BAD_REQUEST', `bs split tree deeper than ${MAX_DEPTH}`);
    const node = decodeSplitNode(await store.get(ref));
    if (off !== undefined && (node.offset !== off || node.size !== size)) throw corrupt(ref, `covers ${node.offset}+${node.size}, its parent says ${off}+${size}`);
    const nodeEnd = node.offset + node.size;
    const children = node.nodes.length > 0 ? node.nodes : node.leaves;
    if (children.length > 0 && children[0]!.offset !== node.offset) throw corrupt(ref, 'does not start with its first child');
    for (const [i, c] of children.entries()) if ((children[i + 1]?.offset ?? nodeEnd) < c.offset) throw corrupt(ref, 'has children out of order');
    if (node.nodes.length > 0) {
      for (const [i, c] of node.nodes.entries()) {
        const next = node.nodes[i + 1]?.offset ?? nodeEnd;
        if (next <= start) continue;
        if (c.offset >= end) return;
        yield* walk(c.ref, depth + 1, c.offset, next - c.offset);
      }
      return;
    }
    // The leaves overlapping [start, end), fetched CHUNK_IO_CONCURRENCY ahead.
    const wanted = node.leaves.map((c, i) => ({ ...c, size: (node.leaves[i + 1]?.offset ?? nodeEnd) - c.offset })).filter((c) => c.offset < end && c.offset + c.size > start);
    const ahead: Promise<Uint8Array>[] = [];
    const fetch = (k: number) => { const p = store.get(wanted[k]!.ref); p.catch(() => {}); ahead.push(p); };
    for (let k = 0; k < Math.min(CHUNK_IO_CONCURRENCY, wanted.length); k++) fetch(k);
    for (const [k, c] of wanted.entries()) {
      const bytes = await ahead.shift()!;
      if (k + CHUNK_IO_CONCURRENCY < wanted.length) fetch(k + CHUNK_IO_CONCURRENCY);
      if (bytes.length !== c.size) throw corrupt(ref, `has a ${bytes.length}-byte leaf ${c.ref} where its offsets leave ${c.size} bytes`);
      const from = Math.max(0, start - c.offset), to = Math.min(bytes.length, end - c.offset);
      if (to > from) yield from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to);
    }
  }
  yield* walk(root, 0);
}

/**
 * The root of a bs split tree, if `bytes` is one: a split.Node at offset 0 with children, in the exact
 * bytes Go's proto.Marshal writes for it (so text or random data that happens to parse as protobuf is
 * not taken for a tree). Undefined otherwise.
 */
export function bsSplitRoot(bytes: Uint8Array): BsSplitNode | undefined {
  let n: BsSplitNode;
  try {
    n = decodeSplitNode(bytes);
  } catch {
    return undefined;
  }
  if (n.offset !== 0 || n.size === 0 || (n.nodes.length === 0) === (n.leaves.length === 0)) return undefined;
  const entry = (c: Child): SplitChild => ({ ref: refToBytes(c.ref), offset: c.offset });
  const again = encodeSplitNode({ nodes: n.nodes.map(entry), leaves: n.leaves.map(entry), offset: n.offset, size: n.size });
  return Buffer.from(again).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) ? n : undefined;
}

/** Height of a bs split tree (1: the root's children are chunks), following first children. */
export async function bsSplitHeight(store: BlobStore, root: BsSplitNode): Promise<number> {
  let h = 1;
  for (let n = root; n.nodes.length > 0; h++) {
    if (h > MAX_DEPTH) throw new PlexusError('BAD_REQUEST', `bs split tree deeper than ${MAX_DEPTH}`);
    n = decodeSplitNode(await store.get(n.nodes[0]!.ref));
  }
  return h;
}
