/**
 * Payloads are CBOR, byte-compatible with rinq-go (ugorji codec): definite-length maps and arrays,
 * integers in their shortest form (64-bit too), text strings, byte strings for Uint8Array, float64 for
 * non-integers, and an EMPTY body for nil. Encoding goes through `cbor-x` after a small normalisation
 * pass (cbor-x alone would write integers beyond 32 bits as floats and tag Maps). An integral number is
 * written as a CBOR integer (Go decodes it as an integer); `float64(x)` sends it as a CBOR float64.
 */
import { Encoder } from 'cbor-x';
import { PlexusError } from '../errors.js';
import { BUS_MAX_PAYLOAD_BYTES } from '../limits.js';
import { checkText } from '../text.js';

/** Any value a payload can carry. */
export type PayloadValue = unknown;

const codec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  useTag259ForMaps: false,
} as ConstructorParameters<typeof Encoder>[0]);

/**
 * cbor-x renames a decoded `__proto__` key to `__proto_` (its guard against prototype pollution), which
 * would silently change a peer's data. Bodies holding that key (rare, found by a byte search for the CBOR
 * text string) go through a Map-decoding codec instead, and every object is built with own properties.
 */
const mapCodec = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false, useTag259ForMaps: false } as ConstructorParameters<typeof Encoder>[0]);
const PROTO_KEY = new Uint8Array([0x69, ...new TextEncoder().encode('__proto__')]);

function holdsProtoKey(b: Uint8Array): boolean {
  const n = PROTO_KEY.length;
  outer: for (let i = b.indexOf(0x69); i >= 0 && i + n <= b.length; i = b.indexOf(0x69, i + 1)) {
    for (let j = 1; j < n; j++) if (b[i + j] !== PROTO_KEY[j]) continue outer;
    return true;
  }
  return false;
}

/** `o[k] = v` that creates an own property even for `__proto__` (instead of replacing the prototype). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

const EMPTY = new Uint8Array(0);

/**
 * A number sent as a CBOR float64 (major type 7, 0xfb), whatever its value: a Go peer decoding into
 * `interface{}` gets a `float64` even for `float64(3)`, where a plain `3` would decode as an integer.
 * Decodes back as a plain number.
 */
export class Float64 {
  constructor(readonly value: number) {
    if (typeof value !== 'number') throw new PlexusError('BAD_REQUEST', 'float64() takes a number');
  }
}
/** `float64(x)`: send x as a CBOR float64 (see Float64). */
export function float64(x: number): Float64 { return new Float64(x); }

function holdsFloat64(v: unknown, depth: number): boolean {
  if (v instanceof Float64) return true;
  if (depth > 64 || v === null || typeof v !== 'object' || v instanceof Uint8Array) return false;
  if (Array.isArray(v)) { for (const x of v) if (holdsFloat64(x, depth + 1)) return true; return false; }
  if (v instanceof Map) { for (const x of v.values()) if (holdsFloat64(x, depth + 1)) return true; return false; }
  if (!isPlainObject(v)) return false;
  for (const k in v) if (holdsFloat64((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A CBOR head: major type and length/value in the shortest form (as cbor-x writes definite lengths). */
function head(major: number, n: number): Uint8Array {
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  return Uint8Array.of(m | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/**
 * Encode a value holding Float64 wrappers: arrays, maps and plain objects on the way to a wrapper get
 * their heads written here, each wrapper becomes 0xfb + 8 bytes, and everything else is encoded by
 * cbor-x exactly as without wrappers (so only the wrapped numbers differ).
 */
function encodeWithFloats(v: unknown, out: Uint8Array[], depth: number): void {
  if (v instanceof Float64) {
    const b = new Uint8Array(9);
    b[0] = 0xfb;
    new DataView(b.buffer).setFloat64(1, v.value);
    out.push(b);
  } else if (depth <= 64 && holdsFloat64(v, 0)) {
    if (Array.isArray(v)) {
      out.push(head(4, v.length));
      for (const x of v) encodeWithFloats(x, out, depth + 1);
    } else {
      const entries = v instanceof Map ? [...v].map(([k, x]) => [String(k), x] as const) : Object.entries(v as Record<string, unknown>);
      out.push(head(5, entries.length));
      for (const [k, x] of entries) { out.push(codec.encode(k)); encodeWithFloats(x, out, depth + 1); }
    }
  } else {
    out.push(codec.encode(needsNormalising(v, 0) ? normalise(v) : v));
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const b = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { b.set(p, o); o += p.length; }
  return b;
}
const INT32_MIN = -0x8000_0000, UINT32_MAX = 0xffff_ffff;

function needsNormalising(v: unknown, depth: number): boolean {
  if (depth > 64) return false;
  if (typeof v === 'number') return Number.isInteger(v) && (v > UINT32_MAX || v < INT32_MIN) && Number.isSafeInteger(v);
  if (v === null || typeof v !== 'object') return false;
  if (v instanceof Uint8Array) return false;
  if (v instanceof Map || v instanceof Float64) return true;
  if (Array.isArray(v)) { for (const x of v) if (needsNormalising(x, depth + 1)) return true; return false; }
  for (const k in v) if (needsNormalising((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

function normalise(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) && (v > UINT32_MAX || v < INT32_MIN) && Number.isSafeInteger(v) ? BigInt(v) : v;
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(normalise);
  return objectOf(v instanceof Map ? v : Object.entries(v), normalise);
}

/** A plain object of `entries` with own properties (keys as strings), each value mapped by `f`. */
function objectOf(entries: Iterable<[unknown, unknown]>, f: (x: unknown) => unknown): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, x] of entries) setOwn(o, String(k), f(x));
  return o;
}

/** CBOR bytes of `value`; `null`/`undefined` encode as the empty body (rinq's nil payload). */
export function encodePayload(value: PayloadValue): Uint8Array {
  if (value === null || value === undefined) return EMPTY;
  checkText(value, 'payload', { allowNul: true });
  let bytes: Uint8Array;
  try {
    if (!needsNormalising(value, 0)) bytes = codec.encode(value);
    else if (holdsFloat64(value, 0)) {
      const parts: Uint8Array[] = [];
      encodeWithFloats(value, parts, 0);
      bytes = concat(parts);
    } else bytes = codec.encode(normalise(value));
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `payload cannot be encoded as CBOR: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (bytes.length > BUS_MAX_PAYLOAD_BYTES) throw new PlexusError('TOO_LARGE', `payload is ${bytes.length} bytes, over BUS_MAX_PAYLOAD_BYTES (${BUS_MAX_PAYLOAD_BYTES})`);
  return bytes;
}

/** Decode a body; the empty body is `null`. Throws BAD_REQUEST on invalid or trailing CBOR. */
export function decodePayload(bytes: Uint8Array): PayloadValue {
  if (bytes.length === 0) return null;
  if (bytes.length > BUS_MAX_PAYLOAD_BYTES) throw new PlexusError('TOO_LARGE', `payload is ${bytes.length} bytes, over BUS_MAX_PAYLOAD_BYTES (${BUS_MAX_PAYLOAD_BYTES})`);
  let values: unknown[];
  try {
    values = holdsProtoKey(bytes)
      ? (mapCodec.decodeMultiple(bytes) as unknown[]).map(mapsToObjects)
      : codec.decodeMultiple(bytes) as unknown[];
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `invalid CBOR payload: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(values) || values.length !== 1) throw new PlexusError('BAD_REQUEST', 'invalid CBOR payload: expected exactly one data item');
  // only 64-bit integers (0x1b, 0x3b) and bignum tags (0xc2, 0xc3) decode as bigint: without any of
  // those bytes there is nothing to convert (a byte that is part of a string only costs the walk)
  checkText(values[0], 'payload', { allowNul: true });
  return mayHoldBigInt(bytes) ? bigToNumber(values[0]) : values[0];
}

function mayHoldBigInt(b: Uint8Array): boolean {
  return b.indexOf(0x1b) >= 0 || b.indexOf(0x3b) >= 0 || b.indexOf(0xc2) >= 0 || b.indexOf(0xc3) >= 0;
}

/** Maps (from `mapCodec`) as plain objects with own properties; Go map keys that are not strings become their string form. */
function mapsToObjects(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(mapsToObjects);
  return v instanceof Map ? objectOf(v, mapsToObjects) : v;
}

function bigToNumber(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) v[i] = bigToNumber(v[i]); return v; }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = bigToNumber(o[k]);
  return o;
}
