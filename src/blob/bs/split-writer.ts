import { PlexusError, throwIfAborted } from '../../errors.js';
import { CHUNK_IO_CONCURRENCY, MAX_BLOB_BYTES } from '../../limits.js';
import { refFromBytes, refToBytes, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';
import { checkBuffer, iteratorOf, noop, raceAbort, releaseIterator, type ByteSource, type PutStreamResult } from '../split-source.js';
import { BS_SPLIT_FANOUT, BsChunker } from './hashsplit.js';
import { decodeSplitNode, encodeSplitNode, type SplitChild, type SplitNodeValue } from './split.js';

/**
 * Writing bs's split format (github.com/bobg/bs v0.4.5, split/split.go): the tree that bs's
 * `split.Writer` stores for the same bytes, blob for blob, so a Go bs program reads a plexus-split file
 * and both sides share chunks and nodes.
 *
 * Chunks come from BsChunker (hashsplit's Splitter with bs's settings); a chunk of level L is added to
 * the tree at level floor(L / 8) (bs's fanout). The tree is built as hashsplit v1.1.1's TreeBuilder
 * builds it: one open node per level; a chunk of tree level k closes the open nodes of levels 0..k-1,
 * each becoming a child of the level above (a new top level starts out covering everything so far).
 * A node is a `split.Node` (src/blob/bs/proto/split.proto): child nodes or leaf chunks, each with its
 * stream offset, plus the node's own offset and size. A node's child nodes are stored when that node is
 * closed; at the end the open nodes are closed bottom-up into the top, and a top with a single child is
 * replaced by its descendants while they have one child node each (see finish for the one case where
 * plexus departs from hashsplit v1.1.1 because bs's tree would lose bytes). The root is stored last;
 * the empty stream has no root (ZERO_REF) and stores nothing.
 */

/** One level of the tree being built: hashsplit's TreeBuilderNode (children not yet stored). */
interface OpenNode { offset: number; size: number; nodes: SplitNodeValue[]; chunks: { ref: Uint8Array; size: number }[] }

/** hashsplit's TreeBuilder with bs's node function, storing nodes as it goes. */
class BsTreeBuilder {
  readonly #levels: OpenNode[] = [];
  readonly #store: BlobStore;
  readonly #stats: PutStreamResult;

  constructor(store: BlobStore, stats: PutStreamResult) {
    this.#store = store;
    this.#stats = stats;
  }

  async #putNode(n: SplitNodeValue): Promise<Ref> {
    const bytes = encodeSplitNode(n);
    const r = await this.#store.put(bytes);
    this.#stats.nodes++;
    if (r.added) { this.#stats.addedNodes++; this.#stats.addedBytes += bytes.length; }
    return r.ref;
  }

  /** bs's TreeBuilder.F: an open node as a split.Node; its child nodes are stored now. */
  async #close(n: OpenNode): Promise<SplitNodeValue> {
    let offset = n.offset;
    const out: SplitNodeValue = { nodes: [], leaves: [], offset: n.offset, size: n.size };
    for (const child of n.nodes) {
      out.nodes.push({ ref: refToBytes(await this.#putNode(child)), offset });
      offset += child.size;
    }
    for (const c of n.chunks) {
      out.leaves.push({ ref: c.ref, offset });
      offset += c.size;
    }
    return out;
  }

  /** TreeBuilder.Add of a stored chunk at tree level `level`. */
  async add(ref: Ref, size: number, level: number): Promise<void> {
    const lv = this.#levels;
    if (lv.length === 0) lv.push({ offset: 0, size: 0, nodes: [], chunks: [] });
    lv[0]!.chunks.push({ ref: refToBytes(ref), size });
    for (const n of lv) n.size += size;
    for (let i = 0; i < level; i++) {
      if (i === lv.length - 1) lv.push({ offset: 0, size: lv[i]!.size, nodes: [], chunks: [] });
      const parent = lv[i + 1]!;
      parent.nodes.push(await this.#close(lv[i]!));
      lv[i] = { offset: parent.offset + parent.size, size: 0, nodes: [], chunks: [] };
    }
  }

  /** TreeBuilder.Root, then the root's put (bs's Writer.Close): the root ref, ZERO_REF for no input. */
  async finish(): Promise<Ref> {
    const lv = this.#levels;
    if (lv.length === 0) return ZERO_REF;
    // hashsplit v1.1.1 closes the open nodes only when the lowest level holds chunks. When the last
    // chunk closed some levels (its tree level k >= 1) and open nodes remain between level k and the
    // top, it leaves them out, and bs's tree then loses their bytes; plexus closes them from the lowest
    // non-empty level (the only case where its tree differs from bs's: bs's would not read back).
    const low = lv.findIndex((n) => n.chunks.length > 0 || n.nodes.length > 0);
    for (let i = low; i < lv.length - 1; i++) lv[i + 1]!.nodes.push(await this.#close(lv[i]!));
    if (lv.length === 1) return this.#putNode(await this.#close(lv[0]!));
    const top = lv[lv.length - 1]!;
    if (top.nodes.length > 1) return this.#putNode(await this.#close(top));
    // A top with one child is no root: descend while there is exactly one child node. The first child
    // is in memory (not stored yet); deeper ones were stored when their parent was closed.
    let root = top.nodes[0]!;
    while (root.nodes.length === 1) root = await this.#load(refFromBytes(root.nodes[0]!.ref));
    return this.#putNode(root);
  }

  async #load(ref: Ref): Promise<SplitNodeValue> {
    const n = decodeSplitNode(await this.#store.get(ref));
    const entry = (c: { ref: Ref; offset: number }): SplitChild => ({ ref: refToBytes(c.ref), offset: c.offset });
    return { nodes: n.nodes.map(entry), leaves: n.leaves.map(entry), offset: n.offset, size: n.size };
  }
}

/** Options of putBsStream (putStream's, less the chunking parameters, which bs fixes). */
export interface PutBsStreamOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  /** Chunk puts kept in flight (default CHUNK_IO_CONCURRENCY). */
  concurrency?: number;
}

/**
 * Store a byte stream as bs's `split.Writer` stores it; returns the root ref (ZERO_REF for an empty
 * stream, as bs) and what was added. bs chunks have no maximum size; a chunk over MAX_BLOB_BYTES
 * (possible only for contrived input) is TOO_LARGE. On abort or error, blobs already stored stay.
 */
export async function putBsStream(store: BlobStore, source: ByteSource, opts: PutBsStreamOptions = {}): Promise<PutStreamResult> {
  const { signal, onProgress, concurrency = CHUNK_IO_CONCURRENCY } = opts;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new PlexusError('BAD_REQUEST', `invalid concurrency ${concurrency}`);
  throwIfAborted(signal);
  const stats: PutStreamResult = { ref: ZERO_REF, size: 0, chunks: 0, addedChunks: 0, addedBytes: 0, nodes: 0, addedNodes: 0 };
  const tree = new BsTreeBuilder(store, stats);
  const chunker = new BsChunker();
  let staged: Uint8Array[] = [];
  let stagedBytes = 0;
  const inflight: { put: Promise<PutResult>; size: number; level: number }[] = [];

  const settleOldest = async () => {
    const { put, size, level } = inflight.shift()!;
    const r = await put;
    stats.chunks++;
    if (r.added) { stats.addedChunks++; stats.addedBytes += size; }
    await tree.add(r.ref, size, Math.floor(level / BS_SPLIT_FANOUT));
  };
  const emit = async (chunk: Uint8Array, level: number) => {
    throwIfAborted(signal);
    const put = store.put(chunk);
    put.catch(noop); // rejections are observed when settled, in order
    inflight.push({ put, size: chunk.length, level });
    if (inflight.length >= concurrency) await settleOldest();
  };
  const stage = (part: Uint8Array) => {
    stagedBytes += part.length;
    if (stagedBytes > MAX_BLOB_BYTES) throw new PlexusError('TOO_LARGE', `bs split: a chunk longer than MAX_BLOB_BYTES (${MAX_BLOB_BYTES}); no store keeps such a blob`);
    staged.push(part);
  };
  const takeStaged = (tail: Uint8Array): Uint8Array => {
    if (staged.length === 0) return tail.slice();
    const out = new Uint8Array(stagedBytes + tail.length);
    let off = 0;
    for (const p of staged) { out.set(p, off); off += p.length; }
    out.set(tail, off);
    staged = [];
    stagedBytes = 0;
    return out;
  };

  const it = iteratorOf(source);
  let done = false;
  try {
    for (;;) {
      const r = await raceAbort(Promise.resolve(it.next()), signal);
      if (r.done) { done = true; break; }
      const b = checkBuffer(r.value);
      let from = 0;
      while (from < b.length) {
        const cut = chunker.scan(b, from);
        if (cut < 0) { stage(b.slice(from)); break; }
        if (stagedBytes + cut - from > MAX_BLOB_BYTES) stage(b.subarray(from, cut)); // throws TOO_LARGE
        const chunk = takeStaged(b.subarray(from, cut));
        from = cut;
        await emit(chunk, chunker.level);
      }
      stats.size += b.length;
      onProgress?.(stats.size);
    }
    if (stagedBytes > 0) await emit(takeStaged(new Uint8Array(0)), chunker.finalLevel());
    while (inflight.length > 0) await settleOldest();
    throwIfAborted(signal);
    stats.ref = await tree.finish();
    return stats;
  } finally {
    if (!done) releaseIterator(it);
    await Promise.allSettled(inflight.map((f) => f.put));
  }
}
