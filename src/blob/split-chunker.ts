/**
 * Content-defined chunking with a gear rolling hash (plexus's own design, after the idea of bs's
 * hashsplit): `h = (h << 1) + GEAR[byte]` in 32 bits. Each byte's contribution is shifted out after 32
 * steps, so `h` after a byte depends only on the 32 bytes ending there: a boundary decision is a
 * function of local content (plus the min/max chunk limits), and an edit moves only nearby boundaries.
 * A boundary falls after a byte when the top `splitBits` bits of `h` are zero and the chunk has at
 * least `minBytes`; a boundary is forced at `maxBytes`.
 */

/** Bytes that determine the gear hash at a position (the hash's window). */
export const GEAR_WINDOW = 32;

/** 256 pseudo-random 32-bit values from a fixed seed (splitmix32), as signed int32 for a tight loop. */
export const GEAR: Int32Array = (() => {
  const t = new Int32Array(256);
  let s = 0x706c6578; // "plex": fixed seed; changing it changes every chunk boundary (and so every root ref)
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    t[i] = z ^ (z >>> 16);
  }
  return t;
})();

/** Chunking parameters (the defaults live in src/limits.ts). */
export interface ChunkParams {
  /** Average distance between hash boundaries is 2^splitBits bytes (after minBytes). 1..31. */
  splitBits: number;
  /** Smallest chunk, except the last one. */
  minBytes: number;
  /** Largest chunk: a boundary is forced here. */
  maxBytes: number;
}

/**
 * A streaming chunker: feed it buffers with `scan`; it reports where the current chunk ends. State
 * (hash and current chunk length) carries across buffers, so where the input is split into buffers
 * does not change the chunks.
 */
export class GearChunker {
  #h = 0;
  #len = 0;
  readonly #mask: number;
  readonly #min: number;
  readonly #max: number;

  constructor(p: ChunkParams) {
    this.#mask = (-1 << (32 - p.splitBits)) | 0;
    this.#min = p.minBytes;
    this.#max = p.maxBytes;
  }

  /**
   * Consume `b` from index `from`. Returns the index just after a chunk boundary (the chunk ends there
   * and the chunker is reset for the next one), or -1 if `b` was consumed to its end without one.
   */
  scan(b: Uint8Array, from: number): number {
    const n = b.length;
    const min = this.#min, max = this.#max, mask = this.#mask, g = GEAR;
    let i = from, len = this.#len, h = this.#h;
    // Bytes before (min - window) cannot influence a boundary decision: skip them without hashing.
    const skipTo = min - GEAR_WINDOW;
    if (len < skipTo) {
      const k = Math.min(n - i, skipTo - len);
      i += k;
      len += k;
      if (len < skipTo) {
        this.#len = len;
        return -1;
      }
      h = 0;
    }
    // Warm up the hash over the window before minBytes: no boundary allowed yet.
    while (i < n && len < min) {
      h = ((h << 1) + g[b[i]!]!) | 0;
      i++;
      len++;
    }
    const start = i;
    const limit = Math.min(n, i + (max - len));
    while (i < limit) {
      h = ((h << 1) + g[b[i]!]!) | 0;
      i++;
      if ((h & mask) === 0) {
        this.#h = 0;
        this.#len = 0;
        return i;
      }
    }
    len += i - start;
    if (len >= max) {
      this.#h = 0;
      this.#len = 0;
      return i;
    }
    this.#h = h;
    this.#len = len;
    return -1;
  }
}
