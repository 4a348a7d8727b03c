import type { Readable } from 'node:stream';
import { PlexusError } from '../errors.js';
import type { Ref } from './ref.js';

/** Anything putStream reads bytes from: an async or sync iterable of byte arrays, a web ReadableStream, a Node Readable, or one byte array. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | ReadableStream<Uint8Array> | Readable | Uint8Array;

/** What a putStream call stored (either tree format). */
export interface PutStreamResult {
  /** Root node ref: names the whole stream. */
  ref: Ref;
  /** Stream length in bytes. */
  size: number;
  /** Chunks (leaf blobs) the stream was cut into. */
  chunks: number;
  /** Chunks this call stored (the others were there already). */
  addedChunks: number;
  /** Bytes of new blobs this call stored: chunks plus tree nodes. */
  addedBytes: number;
  /** Tree node blobs of the stream (at least 1: the root; bs's format: 0 for the empty stream). */
  nodes: number;
  /** Tree node blobs this call stored. */
  addedNodes: number;
}

export const noop = (): void => {};

function abortError(signal: AbortSignal): PlexusError {
  return new PlexusError('ABORTED', 'operation aborted', { cause: signal.reason });
}

/** `p`, or an ABORTED rejection as soon as `signal` fires (whichever first). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/** An iterator over a ByteSource's buffers (BAD_REQUEST if it is none of the accepted kinds). */
export function iteratorOf(src: ByteSource): AsyncIterator<unknown> | Iterator<unknown> {
  if (src instanceof Uint8Array) return [src][Symbol.iterator]();
  const s = src as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  if (typeof s[Symbol.asyncIterator] === 'function') return s[Symbol.asyncIterator]!();
  if (typeof s[Symbol.iterator] === 'function') return s[Symbol.iterator]!();
  if (typeof (src as ReadableStream).getReader === 'function') {
    const reader = (src as ReadableStream<Uint8Array>).getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      return: async () => {
        await reader.cancel().catch(noop);
        return { done: true, value: undefined };
      },
    };
  }
  throw new PlexusError('BAD_REQUEST', 'putStream: source is not an iterable of bytes or a ReadableStream');
}

/** Check one value a source yielded: bytes, or BAD_REQUEST. */
export function checkBuffer(b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array)) {
    throw new PlexusError('BAD_REQUEST', `putStream: source yielded ${typeof b === 'string' ? 'a string (set no encoding)' : typeof b}, want bytes`);
  }
  return b;
}

/** Release a source iterator without waiting (a source stuck in a read settles its return() only later). */
export function releaseIterator(it: AsyncIterator<unknown> | Iterator<unknown>): void {
  try {
    Promise.resolve(it.return?.()).catch(noop);
  } catch {
    /* a sync iterator's return() threw: nothing more to release */
  }
}
