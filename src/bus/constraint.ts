/**
 * notifyMany constraints, as rinq: a boolean expression over a session's attributes. On the wire a
 * constraint is the CBOR map of rinq-go's `constraint.Constraint{o, t?, k?, v?}` with empty fields
 * omitted, its keys sorted by name (`k`, `o`, `t`, `v`) as rinq-go's CBOR encoder (ugorji/go codec)
 * writes every struct. Ops: `*` none, `ns` within namespace, `=`, `!=`, `!` not, `&` and, `|` or.
 */
import { PlexusError } from '../errors.js';
import { BUS_MAX_CONSTRAINT_DEPTH } from '../limits.js';
import type { VAttr } from './attributes.js';

export type Constraint =
  | { readonly op: '*' }
  | { readonly op: 'ns'; readonly ns: string; readonly terms: readonly Constraint[] }
  | { readonly op: '=' | '!='; readonly key: string; readonly value: string }
  | { readonly op: '!'; readonly term: Constraint }
  | { readonly op: '&' | '|'; readonly terms: readonly Constraint[] };

/** Matches every session. */
export const none: Constraint = { op: '*' };
/** All `terms` hold with attributes read from namespace `ns`. */
export function within(ns: string, ...terms: Constraint[]): Constraint { return { op: 'ns', ns, terms }; }
/** Attribute `key` equals `value` (a missing attribute is the empty string). */
export function equal(key: string, value: string): Constraint { return { op: '=', key, value }; }
export function notEqual(key: string, value: string): Constraint { return { op: '!=', key, value }; }
/** Attribute `key` is empty / not empty. */
export function empty(key: string): Constraint { return equal(key, ''); }
export function notEmpty(key: string): Constraint { return notEqual(key, ''); }
export function not(term: Constraint): Constraint { return { op: '!', term }; }
export function and(...terms: Constraint[]): Constraint { return { op: '&', terms }; }
export function or(...terms: Constraint[]): Constraint { return { op: '|', terms }; }

/** The wire form (a plain object with its keys sorted by name, as rinq-go writes it), ready for CBOR. */
export function constraintToWire(c: Constraint): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  switch (c.op) {
    case '*': o.o = c.op; break;
    case 'ns': o.o = c.op; if (c.terms.length) o.t = c.terms.map(constraintToWire); if (c.ns) o.v = c.ns; break;
    case '=': case '!=': if (c.key) o.k = c.key; o.o = c.op; if (c.value) o.v = c.value; break;
    case '!': o.o = c.op; o.t = [constraintToWire(c.term)]; break;
    case '&': case '|': o.o = c.op; if (c.terms.length) o.t = c.terms.map(constraintToWire); break;
  }
  return o;
}

function bad(msg: string): PlexusError { return new PlexusError('BAD_REQUEST', `invalid constraint: ${msg}`); }
function str(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(`${what} is not a string`);
  return v;
}

/** Parse and validate a decoded wire constraint (untrusted input). */
export function constraintFromWire(w: unknown, depth = 0): Constraint {
  if (depth > BUS_MAX_CONSTRAINT_DEPTH) throw bad('nested too deeply');
  if (w === null || typeof w !== 'object' || Array.isArray(w) || w instanceof Uint8Array) throw bad('not a map');
  const m = w as Record<string, unknown>;
  const op = str(m.o, 'op');
  const termsOf = (): Constraint[] => {
    if (m.t === undefined || m.t === null) return [];
    if (!Array.isArray(m.t)) throw bad('terms is not a list');
    return m.t.map((t) => constraintFromWire(t, depth + 1));
  };
  switch (op) {
    case '*': return none;
    case 'ns': { const ns = str(m.v, 'namespace'); if (!ns) throw bad('within needs a namespace'); return { op, ns, terms: termsOf() }; }
    case '=': case '!=': return { op, key: str(m.k, 'key'), value: str(m.v, 'value') };
    case '!': { const t = termsOf(); if (t.length !== 1) throw bad('not needs exactly one term'); return { op, term: t[0]! }; }
    case '&': case '|': return { op, terms: termsOf() };
    default: throw bad(`unknown op ${JSON.stringify(op)}`);
  }
}

/** Attributes by namespace, as the matcher reads them. */
export type AttrLookup = (ns: string, key: string) => VAttr | undefined;

/** True when `c` holds for the attributes; `ns` is the namespace used outside any `within`. */
export function matchConstraint(c: Constraint, ns: string, lookup: AttrLookup): boolean {
  switch (c.op) {
    case '*': return true;
    case 'ns': return c.terms.every((t) => matchConstraint(t, c.ns, lookup));
    case '=': return (lookup(ns, c.key)?.value ?? '') === c.value;
    case '!=': return (lookup(ns, c.key)?.value ?? '') !== c.value;
    case '!': return !matchConstraint(c.term, ns, lookup);
    case '&': return c.terms.every((t) => matchConstraint(t, ns, lookup));
    case '|': return c.terms.some((t) => matchConstraint(t, ns, lookup));
  }
}

/** Human form for logs, e.g. `{a=1, !b}`. */
export function formatConstraint(c: Constraint): string {
  switch (c.op) {
    case '*': return '*';
    case 'ns': return `${c.ns}::{${c.terms.map(formatConstraint).join(', ')}}`;
    case '=': return c.value ? `${c.key}=${c.value}` : `!${c.key}`;
    case '!=': return c.value ? `${c.key}!=${c.value}` : c.key;
    case '!': return `!(${formatConstraint(c.term)})`;
    case '&': return `{${c.terms.map(formatConstraint).join(', ')}}`;
    case '|': return `{${c.terms.map(formatConstraint).join('|')}}`;
  }
}
