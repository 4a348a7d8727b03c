import { PlexusError } from '../../errors.js';
import { refFromBytes, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore } from '../store.js';
import { messageType } from './wire.js';

/**
 * Reading files that bs's `split` package stored (github.com/bobg/bs v0.4.5, split/split.go): a tree
 * of `split.Node` protobuf blobs whose leaves are raw chunk blobs; the zero ref is the empty stream.
 */

const NodeType = messageType('split.Node');
/** Deepest bs split tree accepted (a real one of 2^64 bytes is far lower). */
const MAX_DEPTH = 64;

interface Child { ref: Ref; offset: number }
interface BsSplitNode { nodes: Child[]; leaves: Child[]; offset: number; size: number }

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
 * wholly before `offset` are skipped without being read.
 */
export async function* getBsStream(store: BlobStore, root: Ref, opts: { offset?: number; length?: number } = {}): AsyncGenerator<Uint8Array> {
  if (root === ZERO_REF) return;
  const start = opts.offset ?? 0;
  const end = opts.length === undefined ? Infinity : start + opts.length;
  if (!Number.isSafeInteger(start) || start < 0 || (opts.length !== undefined && (!Number.isSafeInteger(opts.length) || opts.length < 0))) {
    throw new PlexusError('BAD_REQUEST', 'offset and length must be non-negative integers');
  }
  async function* walk(ref: Ref, depth: number): AsyncGenerator<Uint8Array> {
    if (depth > MAX_DEPTH) throw new PlexusError('BAD_REQUEST', `bs split tree deeper than ${MAX_DEPTH}`);
    const node = decodeSplitNode(await store.get(ref));
    const nodeEnd = node.offset + node.size;
    if (node.nodes.length > 0) {
      for (const [i, c] of node.nodes.entries()) {
        const next = node.nodes[i + 1]?.offset ?? nodeEnd;
        if (next <= start) continue;
        if (c.offset >= end) return;
        yield* walk(c.ref, depth + 1);
      }
      return;
    }
    for (const c of node.leaves) {
      if (c.offset >= end) return;
      const bytes = await store.get(c.ref);
      const from = Math.max(0, start - c.offset), to = Math.min(bytes.length, end - c.offset);
      if (to > from) yield from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to);
    }
  }
  yield* walk(root, 0);
}
