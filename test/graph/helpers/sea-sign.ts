// A SEA signer for unit tests, written from gun's formats (gun.md §8.4): a P-256 pair whose pub is
// `x.y` (JWK coordinates), signatures over the SHA-256 of a text, base64 of r||s. Interop tests use real SEA.
const enc = new TextEncoder();
const b64 = (b: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(b)));

export interface TestPair { pub: string; key: CryptoKey }

export async function testPair(): Promise<TestPair> {
  const kp = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', kp.publicKey);
  return { pub: `${jwk.x}.${jwk.y}`, key: kp.privateKey };
}

export async function signText(pair: TestPair, text: string): Promise<string> {
  const hash = await crypto.subtle.digest('SHA-256', enc.encode(text));
  return b64(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.key, hash));
}

/** The wire value of a signed field, as gun's client sends it. */
export async function signedValue(pair: TestPair, w: { soul: string; field: string; value: unknown; state: number }, extra: { signer?: string; cert?: unknown } = {}): Promise<string> {
  const sig = await signText(pair, JSON.stringify({ '#': w.soul, '.': w.field, ':': w.value, '>': w.state }));
  const v: Record<string, unknown> = { ':': w.value, '~': sig };
  if (extra.signer !== undefined) v['*'] = extra.signer;
  if (extra.cert !== undefined) v['+'] = extra.cert;
  return JSON.stringify(v);
}

/** A certificate as SEA.certify makes it: `{m: {c, e?, w}, s}`. */
export async function testCert(owner: TestPair, c: unknown, w: unknown, opts: { e?: number; wb?: string } = {}): Promise<{ m: Record<string, unknown>; s: string }> {
  const m: Record<string, unknown> = { c, ...(opts.e !== undefined ? { e: opts.e } : {}), w, ...(opts.wb ? { wb: opts.wb } : {}) };
  return { m, s: await signText(owner, JSON.stringify(m)) };
}
