import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { SeaCrypto } from './sea.js';

/**
 * The Node backend of SEA checks: `node:crypto` KeyObjects and a synchronous `verify`, so a signed put
 * costs the relay one OpenSSL verification and no WebCrypto job or promise hop.
 */
export class NodeSeaCrypto implements SeaCrypto<KeyObject> {
  importKey(x: string, y: string): KeyObject {
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  }

  verify(key: KeyObject, data: Uint8Array<ArrayBuffer>, sig: Uint8Array<ArrayBuffer>): boolean {
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  }

  sha256(data: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    const d = createHash('sha256').update(data).digest();
    return new Uint8Array(d.buffer as ArrayBuffer, d.byteOffset, d.length);
  }
}
