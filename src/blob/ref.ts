import { createHash } from 'node:crypto';
import { PlexusError } from '../errors.js';

/** A blob's name: the SHA-256 of its bytes as 64 lowercase hex chars. */
export type Ref = string & { readonly __ref: unique symbol };

const REF_RE = /^[0-9a-f]{64}$/;

/** The all-zero ref; bs uses it for "no ref". Never stored, never listed. */
export const ZERO_REF = '0'.repeat(64) as Ref;

/** True when `s` is a well-formed ref (64 lowercase hex chars). */
export function isRef(s: unknown): s is Ref {
  return typeof s === 'string' && REF_RE.test(s);
}

/** Parse untrusted text into a Ref, or throw INVALID_REF. Upper-case hex is rejected on purpose. */
export function parseRef(s: unknown): Ref {
  if (isRef(s)) return s;
  const shown = typeof s === 'string' ? JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s) : typeof s;
  throw new PlexusError('INVALID_REF', `invalid ref ${shown}: want 64 lowercase hex characters`);
}

/** The ref of some bytes. */
export function refOf(bytes: Uint8Array): Ref {
  return createHash('sha256').update(bytes).digest('hex') as Ref;
}

/** Throws HASH_MISMATCH unless `bytes` hash to `ref`. */
export function verifyRef(ref: Ref, bytes: Uint8Array): void {
  const actual = refOf(bytes);
  if (actual !== ref) throw new PlexusError('HASH_MISMATCH', `content hashes to ${actual}, not ${ref}`, { detail: { ref, actual } });
}

/** Ref as 32 raw bytes (SQL stores keep refs this way, as bs does). */
export function refToBytes(ref: Ref): Buffer {
  return Buffer.from(ref, 'hex');
}

/** 32 raw bytes back to a Ref. */
export function refFromBytes(bytes: Uint8Array): Ref {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') as Ref;
}
