/**
 * Large byte streams as trees of blobs ("split" streams): `putStream` cuts a stream into
 * content-defined chunks (gear rolling hash, see split-chunker.ts), stores each chunk as a blob and
 * builds a tree of node blobs over them (format in split-node.ts); the root node's ref names the whole
 * stream. `getStream` reads it back, optionally a byte range, verifying every blob on the way.
 *
 * Node boundaries are content-defined too: a child closes its node when its ref (read as a 32-bit
 * number) is below 2^32 / fanout, so an edit in the middle of a stream changes only the chunks near it
 * and the nodes on the path to the root; everything else is shared with the old version.
 *
 * The empty stream's root is the empty node (height 1, no children, size 0). `getStream` also reads
 * ZERO_REF as the empty stream (bs's convention for "nothing").
 */
import { Readable } from 'node:stream';
import { PlexusError, throwIfAborted } from '../errors.js';
import {
  CHUNK_FANOUT,
  CHUNK_IO_CONCURRENCY,
  CHUNK_MAX_BYTES,
  CHUNK_MIN_BYTES,
  CHUNK_NODE_MAX_CHILDREN,
  CHUNK_SPLIT_BITS,
} from '../limits.js';
import { parseRef, refToBytes, ZERO_REF, type Ref } from './ref.js';
import { GearChunker, type ChunkParams } from './split-chunker.js';
import { iteratorOf, noop, raceAbort, type ByteSource, type PutStreamResult } from './split-source.js';
import { decodeNode, encodeNode, hasNodeMagic, NODE_MAX_CHILDREN, type TreeNode } from './split-node.js';
import type { BlobStore, PutResult } from './store.js';

import type { BsSplitNode } from './bs/split.js';
export { hasNodeMagic, NODE_MAGIC } from './split-node.js';
export type { ByteSource, PutStreamResult } from './split-source.js';

/** All parameters of the splitter. Readers need none of them: the tree describes itself. */
export interface SplitParams extends ChunkParams {
  /** Average children per node (>= 2). */
  fanout: number;
  /** Most children per node (>= 2). */
  maxChildren: number;
}

/** The defaults, from src/limits.ts. */
export const DEFAULT_SPLIT_PARAMS: Readonly<SplitParams> = Object.freeze({
  splitBits: CHUNK_SPLIT_BITS,
  minBytes: CHUNK_MIN_BYTES,
  maxBytes: CHUNK_MAX_BYTES,
  fanout: CHUNK_FANOUT,
  maxChildren: CHUNK_NODE_MAX_CHILDREN,
});

export interface PutStreamOptions {
  signal?: AbortSignal;
  /** Called with the total number of input bytes consumed so far, after each input buffer. */
  onProgress?: (bytes: number) => void;
  /** Override chunking parameters (tests, experiments). Changing them changes the refs of the same content. */
  params?: Partial<SplitParams>;
  /** Chunk puts kept in flight (default CHUNK_IO_CONCURRENCY). */
  concurrency?: number;
  /**
   * Tree format: 'plexus' (default: plexus's chunker and node format, faster) or 'bs' (bs's split
   * package, byte-identical to what a Go bs program stores for the same input, so it reads the file;
   * bs fixes its chunking, so `params` is refused with it). getStream reads both.
   */
  format?: 'plexus' | 'bs';
}


function checkParams(p: SplitParams): void {
  const int = (v: number, lo: number, hi: number) => Number.isSafeInteger(v) && v >= lo && v <= hi;
  if (!int(p.splitBits, 1, 31) || !int(p.minBytes, 1, p.maxBytes) || !int(p.maxBytes, 1, 2 ** 31) || !int(p.fanout, 2, 2 ** 31) || !int(p.maxChildren, 2, NODE_MAX_CHILDREN)) {
    throw new PlexusError('BAD_REQUEST', `invalid split parameters ${JSON.stringify(p)}`);
  }
}

/** Whether a child with this ref closes its node: true for a fraction 1/fanout of refs. */
function closesNode(ref: Ref, fanout: number): boolean {
  return parseInt(ref.slice(0, 8), 16) < 0x1_0000_0000 / fanout;
}

/** Builds the node levels bottom-up as children arrive, holding only one open node per level. */
class TreeBuilder {
  readonly #levels: { refs: Uint8Array[]; sizes: number[] }[] = [];
  readonly #store: BlobStore;
  readonly #p: SplitParams;
  readonly #stats: PutStreamResult;

  constructor(store: BlobStore, p: SplitParams, stats: PutStreamResult) {
    this.#store = store;
    this.#p = p;
    this.#stats = stats;
  }

  /** Append a child to the open node of `level` (0: children are chunks), closing it on a boundary. */
  async add(level: number, ref: Ref, size: number): Promise<void> {
    const lvl = (this.#levels[level] ??= { refs: [], sizes: [] });
    lvl.refs.push(refToBytes(ref));
    lvl.sizes.push(size);
    if (closesNode(ref, this.#p.fanout) || lvl.refs.length >= this.#p.maxChildren) await this.#close(level, false);
  }

  async #close(level: number, last: boolean): Promise<Ref> {
    const lvl = this.#levels[level]!;
    const bytes = encodeNode(level + 1, lvl.refs, lvl.sizes);
    const size = lvl.sizes.reduce((a, b) => a + b, 0);
    lvl.refs = [];
    lvl.sizes = [];
    const put = await this.#store.put(bytes);
    this.#stats.nodes++;
    if (put.added) {
      this.#stats.addedNodes++;
      this.#stats.addedBytes += bytes.length;
    }
    if (!last) await this.add(level + 1, put.ref, size);
    return put.ref;
  }

  /** Close every open node; returns the root ref. */
  async finish(): Promise<Ref> {
    this.#levels[0] ??= { refs: [], sizes: [] };
    for (let k = 0; ; k++) {
      const lvl = this.#levels[k] ?? { refs: [], sizes: [] };
      const top = this.#levels.slice(k + 1).every((l) => l.refs.length === 0);
      if (top) {
        // The root is always a node: a lone chunk (or nothing) still gets one; a lone node is the root.
        if (k > 0 && lvl.refs.length === 1) return refFromRaw(lvl.refs[0]!);
        if (k === 0 || lvl.refs.length > 1) {
          const size = lvl.sizes.reduce((a, b) => a + b, 0);
          const ref = await this.#close(k, true);
          if (k === 0 && this.#levels.length <= 1) return ref;
          (this.#levels[k + 1] ??= { refs: [], sizes: [] }).refs.push(refToBytes(ref));
          this.#levels[k + 1]!.sizes.push(size);
          continue;
        }
        throw new PlexusError('INTERNAL', 'putStream: tree builder lost its nodes');
      }
      if (lvl.refs.length > 0) {
        const size = lvl.sizes.reduce((a, b) => a + b, 0);
        const ref = await this.#close(k, true);
        this.#levels[k + 1]!.refs.push(refToBytes(ref));
        this.#levels[k + 1]!.sizes.push(size);
      }
    }
  }
}

function refFromRaw(raw: Uint8Array): Ref {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex') as Ref;
}

/**
 * Store a byte stream as content-defined chunks plus a tree of node blobs; returns the root ref and
 * what was added. Memory stays bounded (a few chunks in flight plus one open node per tree level),
 * whatever the stream's length. On abort or error, chunks already stored stay in the store.
 */
export async function putStream(store: BlobStore, source: ByteSource, opts: PutStreamOptions = {}): Promise<PutStreamResult> {
  if (opts.format === 'bs') {
    if (opts.params !== undefined) throw new PlexusError('BAD_REQUEST', "putStream: format 'bs' has fixed chunking parameters (bs's); leave params out");
    const { putBsStream } = await import('./bs/split-writer.js');
    return putBsStream(store, source, opts);
  }
  if (opts.format !== undefined && opts.format !== 'plexus') throw new PlexusError('BAD_REQUEST', `putStream: unknown format ${JSON.stringify(opts.format)} (want 'plexus' or 'bs')`);
  const p: SplitParams = { ...DEFAULT_SPLIT_PARAMS, ...opts.params };
  checkParams(p);
  const { signal, onProgress, concurrency = CHUNK_IO_CONCURRENCY } = opts;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new PlexusError('BAD_REQUEST', `invalid concurrency ${concurrency}`);
  throwIfAborted(signal);
  const stats: PutStreamResult = { ref: ZERO_REF, size: 0, chunks: 0, addedChunks: 0, addedBytes: 0, nodes: 0, addedNodes: 0 };
  const tree = new TreeBuilder(store, p, stats);
  const chunker = new GearChunker(p);
  const staging = new Uint8Array(p.maxBytes); // bytes of the current chunk seen in earlier input buffers
  let staged = 0;
  // a chunk is copied into a buffer of its own (the source may reuse its buffers) taken from this pool and
  // given back once its put settled (a store never keeps the caller's bytes past put): `concurrency`
  // buffers of maxBytes, one per put in flight, instead of a new allocation per chunk that only the GC frees
  const pool: Uint8Array[] = [];
  const take = () => pool.pop() ?? new Uint8Array(p.maxBytes);
  const inflight: { put: Promise<PutResult>; size: number; buf: Uint8Array }[] = [];

  const settleOldest = async () => {
    const { put, size, buf } = inflight.shift()!;
    const r = await put;
    pool.push(buf);
    stats.chunks++;
    if (r.added) {
      stats.addedChunks++;
      stats.addedBytes += size;
    }
    await tree.add(0, r.ref, size);
  };
  const emit = async (buf: Uint8Array, size: number) => {
    throwIfAborted(signal);
    const put = store.put(buf.subarray(0, size));
    put.catch(noop); // rejections are observed when settled, in order
    inflight.push({ put, size, buf });
    if (inflight.length >= concurrency) await settleOldest();
  };

  const it = iteratorOf(source);
  let done = false;
  try {
    for (;;) {
      const r = await raceAbort(Promise.resolve(it.next()), signal);
      if (r.done) {
        done = true;
        break;
      }
      const b = r.value;
      if (!(b instanceof Uint8Array)) {
        throw new PlexusError('BAD_REQUEST', `putStream: source yielded ${typeof b === 'string' ? 'a string (set no encoding)' : typeof b}, want bytes`);
      }
      let from = 0;
      while (from < b.length) {
        const cut = chunker.scan(b, from);
        if (cut < 0) {
          staging.set(b.subarray(from), staged);
          staged += b.length - from;
          break;
        }
        const chunk = take();
        if (staged > 0) chunk.set(staging.subarray(0, staged), 0);
        chunk.set(b.subarray(from, cut), staged);
        const size = staged + cut - from;
        staged = 0;
        from = cut;
        await emit(chunk, size);
      }
      stats.size += b.length;
      onProgress?.(stats.size);
    }
    if (staged > 0) await emit(staging, staged); // the last chunk: nothing is staged after it
    while (inflight.length > 0) await settleOldest();
    throwIfAborted(signal);
    stats.ref = await tree.finish();
    return stats;
  } finally {
    // Release the source, without waiting: a source stuck in a read settles its return() only later.
    if (!done) {
      try {
        Promise.resolve(it.return?.()).catch(noop);
      } catch {
        /* a sync iterator's return() threw: nothing more to release */
      }
    }
    await Promise.allSettled(inflight.map((f) => f.put));
  }
}

export interface GetStreamOptions {
  signal?: AbortSignal;
  /** First byte to read (default 0). Past the end: nothing is read. */
  offset?: number;
  /** Most bytes to read (default: to the end). */
  length?: number;
}

async function fetchNode(store: BlobStore, ref: Ref, signal: AbortSignal | undefined): Promise<TreeNode> {
  const bytes = await raceAbort(store.get(ref), signal);
  return decodeNode(ref, bytes);
}

/**
 * Read a stream root: its size and tree height (either format). BAD_REQUEST 'not a stream root' if `ref`
 * is neither a plexus node nor a bs split tree root.
 */
export async function statStream(store: BlobStore, ref: Ref, opts: { signal?: AbortSignal } = {}): Promise<{ size: number; height: number }> {
  const root = await rootNode(store, ref, opts.signal);
  if ('bs' in root) {
    const { bsSplitHeight } = await import('./bs/split.js');
    return { size: root.bs.size, height: await bsSplitHeight(store, root.bs) };
  }
  return { size: root.size, height: root.height };
}

/** A plexus root node, or the root of a tree in bs's split format. */
async function rootNode(store: BlobStore, ref: Ref, signal: AbortSignal | undefined): Promise<TreeNode | { bs: BsSplitNode }> {
  parseRef(ref);
  if (ref === ZERO_REF) return { height: 1, size: 0, children: [] };
  const bytes = await raceAbort(store.get(ref), signal);
  if (!hasNodeMagic(bytes)) {
    // Not plexus's format: bs's split format (loaded only then: its protobuf types cost startup time)?
    const { bsSplitRoot } = await import('./bs/split.js');
    const bs = bsSplitRoot(bytes);
    if (bs) return { bs };
    throw new PlexusError('BAD_REQUEST', `${ref} is not a stream root`, { detail: { ref } });
  }
  try {
    return decodeNode(ref, bytes);
  } catch (err) {
    if (err instanceof PlexusError && err.code === 'BAD_REQUEST' && err.message.endsWith('is not a stream node')) {
      throw new PlexusError('BAD_REQUEST', `${ref} is not a stream root`, { detail: { ref } });
    }
    throw err;
  }
}

interface LeafSpan {
  ref: Ref;
  size: number;
  /** Part of the chunk to emit. */
  from: number;
  to: number;
}

/** The chunks overlapping [start, end) under `node` (which begins at stream position `base`), in order. */
async function* leavesOf(store: BlobStore, node: TreeNode, base: number, start: number, end: number, signal: AbortSignal | undefined): AsyncGenerator<LeafSpan> {
  let pos = base;
  for (const child of node.children) {
    const childEnd = pos + child.size;
    if (childEnd > start && pos < end) {
      if (node.height === 1) {
        yield { ref: child.ref, size: child.size, from: Math.max(0, start - pos), to: Math.min(child.size, end - pos) };
      } else {
        const sub = await fetchNode(store, child.ref, signal).catch((err: unknown) => {
          if (err instanceof PlexusError && err.message.endsWith('is not a stream node')) {
            throw new PlexusError('BAD_REQUEST', `corrupt stream: child ${child.ref} of a height-${node.height} node is not a node`, { detail: { ref: child.ref } });
          }
          throw err;
        });
        if (sub.height !== node.height - 1 || sub.size !== child.size) {
          throw new PlexusError('BAD_REQUEST', `corrupt stream: node ${child.ref} does not match its parent's entry`, { detail: { ref: child.ref } });
        }
        yield* leavesOf(store, sub, pos, start, end, signal);
      }
    }
    pos = childEnd;
    if (pos >= end) return;
  }
}

/**
 * Stream back the content named by a stream root, or the range [offset, offset+length) of it. Blobs
 * are verified by the store's `get`; a few chunks are fetched ahead. Memory: one node per tree level
 * plus the chunks in flight. BAD_REQUEST 'not a stream root' if `ref` is not a node blob; HASH_MISMATCH
 * or BAD_REQUEST 'corrupt stream' when a blob of the tree is damaged; NOT_FOUND when one is missing.
 */
export async function* getStream(store: BlobStore, ref: Ref, opts: GetStreamOptions = {}): AsyncGenerator<Uint8Array> {
  const { signal, offset = 0, length } = opts;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new PlexusError('BAD_REQUEST', `invalid offset ${offset}`);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) throw new PlexusError('BAD_REQUEST', `invalid length ${length}`);
  throwIfAborted(signal);
  const found = await rootNode(store, ref, signal);
  if ('bs' in found) {
    const { getBsStream } = await import('./bs/split.js');
    for await (const chunk of getBsStream(store, ref, { offset: Math.min(offset, found.bs.size), ...(length === undefined ? {} : { length }) })) {
      throwIfAborted(signal);
      yield chunk;
    }
    return;
  }
  const root = found;
  const start = Math.min(offset, root.size);
  const end = length === undefined ? root.size : Math.min(root.size, start + length);
  if (start >= end) return;

  const spans = leavesOf(store, root, 0, start, end, signal);
  const ahead: { span: LeafSpan; bytes: Promise<Uint8Array> }[] = [];
  let more = true;
  try {
    for (;;) {
      while (more && ahead.length < CHUNK_IO_CONCURRENCY) {
        const n = await spans.next();
        if (n.done) more = false;
        else {
          const bytes = store.get(n.value.ref);
          bytes.catch(noop);
          ahead.push({ span: n.value, bytes });
        }
      }
      const head = ahead.shift();
      if (!head) return;
      const data = await raceAbort(head.bytes, signal);
      if (data.length !== head.span.size) {
        throw new PlexusError('BAD_REQUEST', `corrupt stream: chunk ${head.span.ref} has ${data.length} bytes, its node says ${head.span.size}`, { detail: { ref: head.span.ref } });
      }
      throwIfAborted(signal);
      yield head.span.from === 0 && head.span.to === data.length ? data : data.subarray(head.span.from, head.span.to);
    }
  } finally {
    await spans.return(undefined).catch(noop);
  }
}

/** getStream as a Node Readable (for piping to files and HTTP responses). */
export function getReadable(store: BlobStore, ref: Ref, opts: GetStreamOptions = {}): Readable {
  return Readable.from(getStream(store, ref, opts), { objectMode: false });
}
