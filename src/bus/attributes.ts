/**
 * Session attributes: string key/value pairs per namespace, each remembering the revision that created
 * and last updated it; a frozen attribute never changes again. Wire keys as rinq: `k`, `v`, `f`, `cr`, `ur`.
 */
import { PlexusError } from '../errors.js';

/** One attribute. The empty value is the same as "not set". */
export interface Attr { readonly key: string; readonly value: string; readonly frozen: boolean }
/** An attribute with its revision history. */
export interface VAttr extends Attr { readonly created: number; readonly updated: number }

/** `set(k, v)`: an attribute update. */
export function set(key: string, value: string): Attr { return { key, value, frozen: false }; }
/** `freeze(k, v)`: an update that can never be changed afterwards. */
export function freeze(key: string, value: string): Attr { return { key, value, frozen: true }; }

/** Attributes of one namespace, by key. */
export type AttrTable = ReadonlyMap<string, Attr>;

/**
 * Wire form of an Attr (rinq.Attr `{k, v?, f?}`), empty fields omitted. The keys are written sorted by
 * name, as rinq-go's CBOR encoder (ugorji/go codec) writes every struct: `f`, `k`, `v`.
 */
export function attrToWire(a: Attr): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (a.frozen) o.f = true;
  o.k = a.key;
  if (a.value) o.v = a.value;
  return o;
}
/** Wire form of a VAttr (rinq.Attr embedded, plus `cr?`, `ur?`), keys sorted: `cr`, `f`, `k`, `ur`, `v`. */
export function vattrToWire(a: VAttr): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (a.created) o.cr = a.created;
  if (a.frozen) o.f = true;
  o.k = a.key;
  if (a.updated) o.ur = a.updated;
  if (a.value) o.v = a.value;
  return o;
}

function bad(msg: string): PlexusError { return new PlexusError('BAD_REQUEST', `invalid attribute: ${msg}`); }
function u32(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw bad(`${what} is not a revision`);
  return v;
}

/** Parse a wire attribute (untrusted). */
export function vattrFromWire(w: unknown): VAttr {
  if (w === null || typeof w !== 'object' || Array.isArray(w)) throw bad('not a map');
  const m = w as Record<string, unknown>;
  const key = m.k ?? '', value = m.v ?? '', frozen = m.f ?? false;
  if (typeof key !== 'string' || typeof value !== 'string' || typeof frozen !== 'boolean') throw bad('wrong field types');
  return { key, value, frozen, created: u32(m.cr, 'cr'), updated: u32(m.ur, 'ur') };
}

/** Validate a namespace as rinq does: non-empty, `[A-Za-z0-9_.\-:]`, and not reserved (`_` prefix). */
export function validateNamespace(ns: unknown, allowReserved = false): string {
  if (typeof ns !== 'string' || ns === '') throw new PlexusError('BAD_REQUEST', 'namespace must be a non-empty string');
  if (ns.length > 255) throw new PlexusError('BAD_REQUEST', 'namespace is too long');
  if (!allowReserved && ns[0] === '_') throw new PlexusError('BAD_REQUEST', `namespace '${ns}' is reserved`);
  if (!/^[A-Za-z0-9_.\-:]+$/.test(ns)) throw new PlexusError('BAD_REQUEST', `namespace '${ns}' contains invalid characters`);
  return ns;
}
