/**
 * bs's content-defined chunking (github.com/bobg/bs v0.4.5, split/split.go, over github.com/bobg/hashsplit
 * v1.1.1 and its rolling checksum, github.com/chmduquesne/rollinghash v4.0.0 buzhash32), written from
 * those packages' documented behaviour so plexus cuts a stream exactly where bs does:
 *
 * - buzhash32 over a 64-byte window, primed with 64 zero bytes; each byte rolls in
 *   `sum = rotl(sum, 1) ^ T[leaving byte] ^ T[entering byte]` (a rotation by 64 is the identity, so the
 *   leaving byte's term is unrotated). The hash is never reset: it runs across chunk boundaries.
 * - a chunk ends after a byte when the chunk holds at least BS_SPLIT_MIN_SIZE bytes and the hash has at
 *   least BS_SPLIT_BITS trailing zero bits; the chunk's level is the number of extra trailing zeros. The
 *   last chunk's level is computed the same way (0 when it has too few zeros). There is no maximum size.
 */

/** bs's split.NewWriter settings: hashsplit's SplitBits, MinSize, and the level divisor ("fanout"). */
export const BS_SPLIT_BITS = 16;
export const BS_SPLIT_MIN_SIZE = 1024;
export const BS_SPLIT_FANOUT = 8;
/** The rolling checksum's window. */
export const BUZHASH_WINDOW = 64;

/**
 * buzhash32's default byte table (rollinghash's GenerateHashes(1)): Go's math/rand source seeded with 1,
 * `uint32(Int63())` for each byte value in order, a value already taken drawn again. The numbers were
 * produced by running that with Go 1.19's standard library; test/blob/bs-hashsplit.test.ts checks them
 * against chunk boundaries computed by the Go packages themselves.
 */
export const BUZHASH_TABLE: Uint32Array = Uint32Array.from([
  0x07fcfd52, 0x5f3f164f, 0x6695721d, 0x7b4d7c03, 0x49c6e2d1, 0x0d1d68d8, 0x7916001e, 0x22c4d294,
  0x392907a0, 0x189deb99, 0xf3875d04, 0x95e94627, 0xba517936, 0x83c471d4, 0x7cb3ad0b, 0xa42655d9,
  0x7c4e0b68, 0xd4491d1b, 0x25632186, 0xa9d78d73, 0x169c1121, 0xbb158644, 0xb68e6a3f, 0x759805f5,
  0x2cdf5b8a, 0x57d29245, 0xc5d6d268, 0x6b83d0e2, 0x7674cb74, 0xb068d9db, 0xbb9457d8, 0xa15d523b,
  0x794209ff, 0x9da1d7eb, 0x5a25e0cb, 0xf840ec4b, 0x36d4ff9b, 0xf4a5ee3b, 0x5ad145f4, 0xf6740304,
  0x3f71f8cb, 0x91018d7c, 0xfccae224, 0xb186b51f, 0x7d9e8fbc, 0x93f93f33, 0xf63a5b6f, 0x19476c36,
  0xbc897d06, 0x169873f5, 0x724c7af1, 0x581eeb39, 0x2257bb7d, 0x6f269a28, 0xbe8e9981, 0x7039374b,
  0x25416fed, 0xded7e411, 0x6678e7aa, 0x244fcd36, 0x56aa6b86, 0xde4561ad, 0x3e99b0a8, 0xbed80a3a,
  0xe58348b0, 0xaf63e58d, 0x406aec9d, 0xc233f007, 0xa5ead0bd, 0x050143a6, 0x738b6829, 0x3699caf3,
  0x967cd710, 0x06f665a6, 0x25fd3d7f, 0x0fd6e479, 0x26fbf29b, 0x16de4c35, 0x2bf3394b, 0x4af864ba,
  0x1cb9e6c6, 0x41439089, 0x69a39144, 0xc34f182d, 0x421657ff, 0xf9fc6568, 0x8b02c917, 0x6c9c64b7,
  0x83d17909, 0xea3d4ca5, 0xaf635d47, 0x7fc78769, 0xbe14186f, 0x3539b1ea, 0xe9174548, 0xc051e18a,
  0x07b73658, 0x29ec300c, 0xa250bf34, 0xa7ed5d97, 0xfe3dea79, 0xb8b352f7, 0xc9b344e9, 0x8e5f0475,
  0x1941e52a, 0x2694763d, 0x6b40eabc, 0x8485d68b, 0x336eacca, 0x4399a363, 0x67149b9c, 0xae10a901,
  0x5a5ffefb, 0x563b26de, 0x6f00f02b, 0x9f06397d, 0x545836c4, 0x31d6416b, 0x12f4128d, 0x752f33ff,
  0x4a305605, 0x0c8dc214, 0x72521a90, 0x8eb3e4a1, 0x83efc6c6, 0x090ec04f, 0xc1540864, 0xec2c8aaa,
  0x70ab53ba, 0x38d3b494, 0x878d4063, 0xa317ae3f, 0x3cb62f07, 0xf360412c, 0x4ffbf3a9, 0x22d554b4,
  0x3f190476, 0x0796a710, 0xf5c353cf, 0x04f59bb7, 0x2d230176, 0xe2d6a9ce, 0x3f1d7427, 0xafd915bb,
  0xb01aa47d, 0xcde2c269, 0x7417bf38, 0x1e094f9a, 0x55ece0ea, 0xcb94539b, 0x13d346b5, 0x54e0c0c1,
  0x6db30e37, 0xdc02b390, 0xa6e222f5, 0xe2f8c1fe, 0x2e166bdf, 0x67588a74, 0x21898f34, 0x4c330f1d,
  0x19af53ba, 0x70658b94, 0x133c9673, 0x4efeeadd, 0x0f212551, 0x070f0914, 0x6f241c57, 0xf13e41b7,
  0x3be70cb0, 0xf4b6f47f, 0x20f31127, 0x6551cb89, 0x289cbd2c, 0x8946f23d, 0x40a79c3b, 0x03c6d982,
  0x0365790c, 0x0cf52517, 0x0bb131e8, 0x3da5475c, 0x139efcca, 0xbcd44eb4, 0xa54af747, 0xb73c32ed,
  0x9f6c47ac, 0xe8ba8f22, 0x54043a66, 0x3b0a7f20, 0xb4926431, 0xe17c02d5, 0x8f0d2558, 0x014fbff2,
  0x7f803594, 0x79b76fbe, 0x33fe2656, 0x792c8ee8, 0x6b41292d, 0xfdff9c32, 0x82093298, 0x59483870,
  0xb2d5a113, 0x2dd96e5a, 0x5b8e56a9, 0xebd9dda9, 0x04f9ce92, 0xcb440950, 0xa67e52b1, 0x49f6d261,
  0x92417fc3, 0x1c3b6bd9, 0xb027b7e0, 0x1f765a41, 0x44c9ab40, 0x45d99121, 0xfd7a84af, 0x99b75788,
  0xe3abff4a, 0xa88aa67f, 0x736e41cc, 0x9cbcbe5e, 0x7b3ccebc, 0xe1b7fa93, 0x315ae6af, 0x9cced2e2,
  0x19ea0f2f, 0xa9770722, 0x84a6bfdc, 0x88f03f07, 0xa44a03a4, 0x27a6b885, 0xb580c8ba, 0x018153da,
  0xb648e604, 0x51180278, 0x893a310f, 0x728f5f4c, 0x37f5198b, 0x3cc0ea9b, 0xe39d02db, 0x13883142,
  0xca599392, 0xc12d154e, 0xc176163d, 0x5c92e2b8, 0xf9f95ede, 0xb802bdfc, 0x8a928585, 0xdca6e10b,
  0x887953e8, 0x48b9e962, 0xe533e9a3, 0x5e0ce6e5, 0x1dba77ae, 0xc8214b8a, 0x53b428d7, 0x4cf20a65,
]);

/** The same table as signed 32-bit values: small integers for V8, so the loop stays in integer arithmetic. */
const TABLE_I32 = new Int32Array(BUZHASH_TABLE.buffer, BUZHASH_TABLE.byteOffset, 256);

/** Trailing zero bits of a 32-bit value (32 for zero). */
function ctz32(x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x);
}

/** The hash right after priming with 64 zero bytes. */
const PRIMED = (() => {
  let s = 0;
  for (let i = 0; i < BUZHASH_WINDOW; i++) s = ((s << 1) | (s >>> 31)) ^ TABLE_I32[0]!;
  return s | 0;
})();

/**
 * A streaming hashsplit Splitter with bs's settings. Feed buffers to `scan`; it reports where the current
 * chunk ends and that chunk's level. Where the input is cut into buffers changes nothing.
 */
export class BsChunker {
  #sum = PRIMED;
  readonly #window = new Uint8Array(BUZHASH_WINDOW);
  #oldest = 0;
  /** Bytes of the current chunk so far. */
  #len = 0;
  /** Level of the chunk that the last boundary ended. */
  level = 0;

  /**
   * Consume `b` from index `from`. Returns the index just after a chunk boundary (`level` then holds
   * that chunk's level), or -1 if `b` was consumed to its end without one.
   */
  scan(b: Uint8Array, from: number): number {
    const t = TABLE_I32, w = this.#window, n = b.length;
    let sum = this.#sum, i = from;
    // bytes of the chunk after b[i] is consumed: base + i + 1
    const base = this.#len - from;
    // The byte leaving the window is the one 64 steps back: from the saved window for the first 64
    // bytes of this call, then from `b` itself.
    const edge = Math.min(n, from + BUZHASH_WINDOW);
    let cut = -1;
    for (let o = this.#oldest; i < edge; i++, o = (o + 1) & (BUZHASH_WINDOW - 1)) {
      const c = b[i]!;
      sum = ((sum << 1) | (sum >>> 31)) ^ t[w[o]!]! ^ t[c]!;
      if ((sum & 0xffff) === 0 && base + i + 1 >= BS_SPLIT_MIN_SIZE) { cut = ++i; break; }
    }
    if (cut < 0) {
      for (; i < n; i++) {
        const c = b[i]!;
        sum = ((sum << 1) | (sum >>> 31)) ^ t[b[i - BUZHASH_WINDOW]!]! ^ t[c]!;
        if ((sum & 0xffff) === 0 && base + i + 1 >= BS_SPLIT_MIN_SIZE) { cut = ++i; break; }
      }
    }
    // Save the window as it stands at `i` (the caller may hand a different buffer next).
    const k = i - from;
    if (k >= BUZHASH_WINDOW) {
      w.set(b.subarray(i - BUZHASH_WINDOW, i));
      this.#oldest = 0;
    } else {
      let o = this.#oldest;
      for (let j = from; j < i; j++, o = (o + 1) & (BUZHASH_WINDOW - 1)) w[o] = b[j]!;
      this.#oldest = o;
    }
    this.#sum = sum;
    if (cut < 0) {
      this.#len = base + i;
      return -1;
    }
    this.#len = 0;
    this.level = ctz32(sum) - BS_SPLIT_BITS;
    return cut;
  }

  /** Bytes of the chunk in progress. */
  get pending(): number {
    return this.#len;
  }

  /** The level of the final (partial) chunk, as hashsplit's Close computes it. */
  finalLevel(): number {
    const tz = ctz32(this.#sum);
    return tz >= BS_SPLIT_BITS ? tz - BS_SPLIT_BITS : 0;
  }
}
