import { PlexusError } from '../errors.js';
import { GRAPH_SEA_MAX_KEYS, GRAPH_SEA_MAX_VERIFIED } from '../limits.js';
import { sha256 } from './sha256.js';
import type { FieldWrite, Value } from './value.js';

/**
 * SEA (gun's Security, Encryption, Authorization) checks a relay runs on every field before it enters
 * the store, as gun's own relay does, minus gun's holes. Browser-safe: WebCrypto (`crypto.subtle`) by
 * default; Node passes the faster synchronous backend of `./sea-node.js`.
 *
 * Soul classes, in gun's order:
 * - `~@`: the alias index; field `alias` must be the link `~@alias`.
 * - `~@alias`: one alias's accounts; field `~pub` must be the link `~pub` (the key itself).
 * - a soul naming a public key (`~x.y`, `~x.y/path`, gun's SEA.opt.pub): every value is a signed string
 *   `{":": value, "~": sig}` (ECDSA P-256, SHA-256, over gun's text `{"#":soul,".":field,":":value,">":state}`)
 *   by that key; or by a writer `"*"` holding a certificate `"+"` from that key that covers the path and
 *   has not expired. The field `pub` of `~x.y` must be `x.y` itself, unsigned.
 * - any other soul containing `#`: the part of the field after its last `#` is the SHA-256 of the value
 *   (base64, or hex).
 * - anything else passes, except a soul starting with `~` that names no key (gun lets anyone write it):
 *   user space is only for keys.
 */

/** What the relay does with a soul. */
export type SeaClass = 'alias-index' | 'alias' | 'user' | 'no-key' | 'hash' | 'open';

const PUB_CUT = /[^\w_-]/;

/** The public key `x.y` a soul belongs to (gun's SEA.opt.pub), or undefined. */
export function soulPub(soul: string): string | undefined {
  const afterTilde = soul.split('~')[1];
  if (!afterTilde) return undefined;
  const parts = afterTilde.split(PUB_CUT).slice(0, 2);
  if (parts.length !== 2) return undefined;
  if (parts[0]!.startsWith('@')) return undefined;
  return parts.join('.');
}

/** How a soul is checked (see the module comment). */
export function seaClass(soul: string): SeaClass {
  if (soul === '~@') return 'alias-index';
  if (soul.startsWith('~@')) return 'alias';
  if (soulPub(soul) !== undefined) return 'user';
  if (soul.startsWith('~')) return 'no-key';
  if (soul.includes('#')) return 'hash';
  return 'open';
}

/** True when any write of a put needs a SEA check (cheap, synchronous). */
export function needsSea(writes: readonly FieldWrite[]): boolean {
  for (const w of writes) if (w.soul.includes('~') || w.soul.includes('#')) return true;
  return false;
}

/** gun's SEA parse: strips a `SEA` prefix before `{`, parses JSON; a string that is not JSON stays a string. */
export function seaParse(t: unknown): unknown {
  if (typeof t !== 'string') return t;
  const s = t.startsWith('SEA{') ? t.slice(3) : t;
  try { return JSON.parse(s); } catch { return t; }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const linkOf = (v: Value): string | undefined => (v !== null && typeof v === 'object' ? v['#'] : undefined);

/** gun's lexical string match (String.match): `=` exact, `*` prefix, `>`/`<` range; a plain string is `=`. */
export function lexMatch(t: unknown, o: unknown): boolean {
  if (typeof t !== 'string') return false;
  const lex: Record<string, unknown> = typeof o === 'string' ? { '=': o } : isObj(o) ? o : {};
  // gun chains with ||, so an empty string falls through to the next key (and an empty prefix matches all)
  const first = lex['='] || lex['*'] || lex['>'] || lex['<'];
  if (t === first) return true;
  if (lex['='] !== undefined) return false;
  const pre = lex['*'] || lex['>'];
  if (typeof pre === 'string' && t.startsWith(pre)) return true;
  if (lex['*'] !== undefined) return false;
  const from = lex['>'], to = lex['<'];
  if (from !== undefined && to !== undefined) return typeof from === 'string' && typeof to === 'string' && t >= from && t <= to;
  if (typeof from === 'string' && t >= from) return true;
  if (typeof to === 'string' && t <= to) return true;
  return false;
}

function b64ToBytes(s: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

function bytesToB64(b: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]!);
  return btoa(bin);
}

const HEX64 = /^[0-9a-fA-F]{64}$/;
function hexToB64(h: string): string {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return bytesToB64(out);
}

const encoder = new TextEncoder();
/** Texts up to this many bytes are hashed synchronously (sha256.ts); longer ones by crypto.subtle, off the event loop. */
const SYNC_HASH_MAX_BYTES = 16 * 1024;
/** Fields of one put verified at once. */
const CHECK_CHUNK = 64;

/** Counters a verifier exposes (relay stats, dashboard). */
export interface SeaStats {
  /** Fields of accepted puts that went through the checks (open fields of such puts included). */
  verified: number;
  /** Puts refused. */
  refused: number;
  /** Signature checks that found their public key already imported. */
  keyCacheHits: number;
  /** Public keys imported (a key evicted from the LRU is imported again when it comes back). */
  keyImports: number;
  /** Signatures found already verified (the same signed field sent again), not verified again. */
  sigCacheHits: number;
}

/** What SEA says about one stored field (for the dashboard): `open` souls carry no signature to check. */
export interface SeaFieldInfo {
  kind: SeaClass;
  /** The field passes the checks now (a certified field fails once its certificate expired). */
  verified: boolean;
  /** User space: the key that signed the value (the owner, or a certified writer). */
  signer?: string;
  /** Why it does not verify. */
  reason?: string;
}

export interface SeaVerifierOptions {
  /** Most imported public keys kept (LRU). Default GRAPH_SEA_MAX_KEYS. */
  maxKeys?: number;
  /** Most signatures remembered as verified (LRU), so a field sent again (an echo, a resend) is not verified again. Default GRAPH_SEA_MAX_VERIFIED. */
  maxVerified?: number;
  /** Wall clock for certificate expiry (ms). Default Date.now. */
  now?: () => number;
  /** WebCrypto implementation for the default backend. Default globalThis.crypto.subtle. */
  subtle?: SubtleCrypto;
  /** The signature backend. Default: WebCrypto (browser-safe); in Node, `NodeSeaCrypto` (`./sea-node.js`) verifies synchronously. */
  crypto?: SeaCrypto;
}

/**
 * The primitives SEA checks need: import a P-256 public key given as JWK coordinates `x`, `y` (base64url;
 * throw or reject when it is not a valid key), verify an ECDSA P-256/SHA-256 signature (64 bytes, r||s)
 * of `data` with it, and optionally a synchronous SHA-256 (else sha256.ts and crypto.subtle are used).
 */
export interface SeaCrypto<K = unknown> {
  importKey(x: string, y: string): K | Promise<K>;
  verify(key: K, data: Uint8Array<ArrayBuffer>, sig: Uint8Array<ArrayBuffer>): boolean | Promise<boolean>;
  sha256?(data: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer>;
}

/** The browser-safe backend: WebCrypto (`crypto.subtle`). */
export function webCryptoSea(subtle: SubtleCrypto): SeaCrypto<CryptoKey> {
  return {
    importKey: (x, y) => subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x, y, ext: true }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']),
    verify: (key, data, sig) => subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig, data),
  };
}

/**
 * Verifies puts the way gun's relay does (see the module comment), and refuses what gun lets through:
 * a value signed by another key (`"*"`) without a valid certificate from the owner, unsigned values,
 * a changed account `pub`, signatures replayed onto another soul/field/state, expired, foreign or
 * mismatched certificates. Imported public keys are cached in a bounded LRU, and so are signatures
 * that verified (only good ones: a flood of bad signatures cannot evict them).
 */
export class SeaVerifier {
  readonly #subtle: SubtleCrypto | undefined;
  readonly #crypto: SeaCrypto;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #maxVerified: number;
  readonly #keys = new Map<string, unknown>();
  /** `pub sig digest` of signatures that verified, oldest first. */
  readonly #verified = new Set<string>();
  readonly stats: SeaStats = { verified: 0, refused: 0, keyCacheHits: 0, keyImports: 0, sigCacheHits: 0 };

  constructor(opts: SeaVerifierOptions = {}) {
    this.#subtle = opts.subtle ?? globalThis.crypto?.subtle;
    const backend = opts.crypto ?? (this.#subtle ? webCryptoSea(this.#subtle) : undefined);
    if (!backend) throw new PlexusError('UNSUPPORTED', 'SEA verification needs WebCrypto (crypto.subtle)');
    this.#crypto = backend;
    this.#now = opts.now ?? Date.now;
    this.#maxKeys = Math.max(1, opts.maxKeys ?? GRAPH_SEA_MAX_KEYS);
    this.#maxVerified = Math.max(0, opts.maxVerified ?? GRAPH_SEA_MAX_VERIFIED);
  }

  /**
   * Check every write of one put. Resolves to undefined when all pass, else to the FORBIDDEN error for
   * the first refused field (the whole put is refused: nothing of it may be stored). Never rejects.
   */
  async checkPut(writes: readonly FieldWrite[]): Promise<PlexusError | undefined> {
    // in chunks, so a huge put of bad signatures stops at its first chunk instead of verifying every field
    for (let at = 0; at < writes.length; at += CHECK_CHUNK) {
      const chunk = writes.slice(at, at + CHECK_CHUNK);
      const reasons = await Promise.all(chunk.map((w) => this.checkField(w).catch((err) => `verification failed: ${String(err)}`)));
      const i = reasons.findIndex((r) => r !== undefined);
      if (i < 0) continue;
      this.stats.refused++;
      const w = chunk[i]!;
      return new PlexusError('FORBIDDEN', `SEA: ${w.soul.slice(0, 100)} .${w.field.slice(0, 100)}: ${reasons[i]}`, { detail: { soul: w.soul, field: w.field } });
    }
    this.stats.verified += writes.length;
    return undefined;
  }

  /** The SEA status of one field (does not count in `stats`). */
  async inspect(w: FieldWrite): Promise<SeaFieldInfo> {
    const kind = seaClass(w.soul);
    if (kind === 'open') return { kind, verified: false };
    const reason = await this.checkField(w).catch((err) => `verification failed: ${String(err)}`);
    const info: SeaFieldInfo = { kind, verified: reason === undefined };
    if (reason !== undefined) info.reason = reason;
    const raw = kind === 'user' ? seaParse(w.value) : undefined;
    if (isObj(raw)) info.signer = typeof raw['*'] === 'string' ? raw['*'] : soulPub(w.soul)!;
    return info;
  }

  /** Why one field write is refused, or undefined when it passes. */
  async checkField(w: FieldWrite): Promise<string | undefined> {
    switch (seaClass(w.soul)) {
      case 'alias-index':
        return linkOf(w.value) === '~@' + w.field ? undefined : `the alias index maps "alias" to the link ~@alias`;
      case 'alias':
        return linkOf(w.value) === w.field ? undefined : 'an alias node maps "~pub" to the link ~pub (equal to its key)';
      case 'user':
        return this.#checkUser(w, soulPub(w.soul)!);
      case 'no-key':
        return 'souls starting with ~ are user space and must name a public key (~x.y)';
      case 'hash':
        return this.#checkHash(w);
      default:
        return undefined;
    }
  }

  async #checkHash(w: FieldWrite): Promise<string | undefined> {
    const text = typeof w.value === 'string' ? w.value : JSON.stringify(w.value);
    const digest = bytesToB64(await this.#digest(text));
    const part = w.field.split('#').pop()!;
    if (part === digest || (HEX64.test(part) && hexToB64(part) === digest)) return undefined;
    return 'content-addressed: the field (after its last #) must be the SHA-256 of the value';
  }

  async #checkUser(w: FieldWrite, pub: string): Promise<string | undefined> {
    if (w.field === 'pub' && w.soul === '~' + pub) return w.value === pub ? undefined : 'the account pub must equal the soul\'s public key';
    if (typeof w.value !== 'string') return 'user space values must be SEA-signed strings';
    const raw = seaParse(w.value);
    if (!isObj(raw) || !Object.hasOwn(raw, ':') || typeof raw['~'] !== 'string') return 'user space values must be SEA-signed ({":": value, "~": signature})';
    const signer = raw['*'] === undefined ? pub : raw['*'];
    if (typeof signer !== 'string') return 'the signer "*" must be a public key';
    const text = JSON.stringify({ '#': w.soul, '.': w.field, ':': raw[':'], '>': w.state });
    if (!(await this.#verify(signer, text, raw['~']))) return signer === pub ? 'signature does not verify against the soul\'s public key' : 'signature does not verify against the signer "*"';
    if (signer === pub) return undefined;
    // a foreign writer: only with a certificate from the owner (gun accepts it without one)
    if (raw['+'] === undefined) return 'signed by another key ("*") without a certificate ("+") from the owner';
    return this.#checkCert(seaParse(raw['+']), pub, signer, w);
  }

  /** A certificate `{m: {c, w, e?}, s}` signed by `owner` lets `writer` write `w`. */
  async #checkCert(cert: unknown, owner: string, writer: string, w: FieldWrite): Promise<string | undefined> {
    if (!isObj(cert) || cert.m === undefined || typeof cert.s !== 'string') return 'malformed certificate';
    const text = typeof cert.m === 'string' ? cert.m : JSON.stringify(cert.m);
    if (!(await this.#verify(owner, text, cert.s))) return 'certificate not signed by the owner of the soul';
    const data = seaParse(cert.m);
    if (!isObj(data)) return 'malformed certificate';
    if (data.e !== undefined) {
      const e = typeof data.e === 'number' ? data.e : parseFloat(String(data.e));
      if (!Number.isFinite(e)) return 'certificate expiry is not a number';
      if (w.state > e || this.#now() > e) return 'certificate expired';
    }
    const c = data.c;
    const covered = c === '*' || c === writer || (Array.isArray(c) && (c.includes(writer) || c.includes('*')));
    if (!covered) return 'certificate does not name this writer';
    if (data.wb !== undefined) return 'certificates with a write block (wb) are not supported';
    const slash = w.soul.indexOf('/');
    const path = slash >= 0 ? w.soul.slice(slash + 1) : '';
    const key = w.field;
    const policies = Array.isArray(data.w) ? data.w : typeof data.w === 'string' || isObj(data.w) ? [data.w] : [];
    for (const lex of policies) {
      const l = isObj(lex) ? lex : {};
      const hit = (lexMatch(path, l['#']) && lexMatch(key, l['.'])) || (l['.'] === undefined && lexMatch(path, l['#']))
        || (l['#'] === undefined && lexMatch(key, l['.'])) || lexMatch(path ? `${path}/${key}` : key, l['#'] ?? lex);
      if (!hit) continue;
      const plus = l['+'];
      if (typeof plus === 'string' && plus.includes('*') && !path.includes(writer) && !key.includes(writer)) return 'certificate needs the writer\'s key in the path or field';
      return undefined;
    }
    return 'certificate does not cover this path';
  }

  /** gun's SEA.verify: ECDSA P-256/SHA-256 over the SHA-256 of the text; signature base64 (r||s). */
  async #verify(pub: string, text: string, sig: string): Promise<boolean> {
    const bytes = b64ToBytes(sig);
    if (!bytes || bytes.length !== 64) return false;
    const digest = await this.#digest(text);
    const seen = `${pub} ${sig} ${String.fromCharCode(...digest)}`;
    if (this.#verified.has(seen)) {
      this.stats.sigCacheHits++;
      return true;
    }
    let key: unknown;
    try {
      key = this.#key(pub);
      if (key instanceof Promise) key = await key;
    } catch { return false; }
    let ok: boolean | Promise<boolean>;
    try { ok = this.#crypto.verify(key, digest, bytes); } catch { return false; }
    if (ok instanceof Promise) ok = await ok;
    if (ok && this.#maxVerified > 0) {
      this.#verified.add(seen);
      if (this.#verified.size > this.#maxVerified) this.#verified.delete(this.#verified.values().next().value!);
    }
    return ok;
  }

  #digest(text: string): Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>> {
    const bytes = encoder.encode(text);
    if (this.#crypto.sha256) return this.#crypto.sha256(bytes);
    if (bytes.length <= SYNC_HASH_MAX_BYTES || !this.#subtle) return sha256(bytes);
    return this.#subtle.digest('SHA-256', bytes).then((d) => new Uint8Array(d));
  }

  /** The imported key of `pub` (LRU); throws or rejects for a key that is not x.y or not on the curve. */
  #key(pub: string): unknown {
    const hit = this.#keys.get(pub);
    if (hit !== undefined) {
      this.stats.keyCacheHits++;
      this.#keys.delete(pub);
      this.#keys.set(pub, hit);
      return hit;
    }
    const [x, y, extra] = pub.split('.');
    if (!x || !y || extra !== undefined) throw new PlexusError('BAD_REQUEST', 'public key must be x.y');
    this.stats.keyImports++;
    const k = this.#crypto.importKey(x, y); // a bad key throws here (sync backends) and is not cached
    if (k instanceof Promise) k.catch(() => { if (this.#keys.get(pub) === k) this.#keys.delete(pub); });
    this.#keys.set(pub, k);
    while (this.#keys.size > this.#maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
    return k;
  }
}
