import { PlexusError } from '../errors.js';
import { GRAPH_MAX_FIELD_LENGTH, GRAPH_MAX_SOUL_LENGTH, GRAPH_MAX_VALUE_LENGTH } from '../limits.js';

/** A relation (link) to another node, by soul. */
export interface Relation { '#': string }

/** A field value: null (a tombstone: deleted), string, finite number, boolean, or a relation. */
export type Value = null | string | number | boolean | Relation;

/** Node metadata: its soul and one HAM state per field. */
export interface NodeMeta { '#': string; '>': Record<string, number> }

/** A node as it travels on the wire: `{ _: { '#': soul, '>': { field: state } }, field: value, ... }`. */
export interface GraphNode { _: NodeMeta; [field: string]: Value | NodeMeta }

/** A wire graph: soul → node (what a `put` carries). */
export type GraphData = Record<string, GraphNode>;

/** One field of one node with its state: the unit HAM resolves and stores persist. */
export interface FieldWrite { soul: string; field: string; value: Value; state: number }

/** A field's stored value and state. */
export interface FieldState { value: Value; state: number }

/** The stored fields of one node. */
export type NodeFields = Map<string, FieldState>;

/** True for a relation `{ '#': soul }` (exactly one key, a string soul). */
export function isRelation(v: unknown): v is Relation {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === '#' && typeof (v as Relation)['#'] === 'string';
}

/** Why `v` is not a valid graph value, or undefined when it is one. */
export function valueProblem(v: unknown): string | undefined {
  if (v === null || typeof v === 'boolean') return undefined;
  if (typeof v === 'string') return v.length > GRAPH_MAX_VALUE_LENGTH ? `string value longer than ${GRAPH_MAX_VALUE_LENGTH}` : undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : 'number value is not finite';
  if (isRelation(v)) return soulProblem(v['#']);
  if (v === undefined) return 'value is undefined';
  return Array.isArray(v) ? 'arrays are not graph values' : typeof v === 'object' ? 'objects other than relations {"#": soul} are not graph values' : `${typeof v} is not a graph value`;
}

/** Why `s` is not a valid soul, or undefined. */
export function soulProblem(s: unknown): string | undefined {
  if (typeof s !== 'string' || s.length === 0) return 'soul must be a non-empty string';
  if (s.length > GRAPH_MAX_SOUL_LENGTH) return `soul longer than ${GRAPH_MAX_SOUL_LENGTH}`;
  return undefined;
}

/** Why `f` is not a valid field name, or undefined. */
export function fieldProblem(f: unknown): string | undefined {
  if (typeof f !== 'string' || f.length === 0) return 'field must be a non-empty string';
  if (f === '_') return 'field "_" is reserved for node metadata';
  if (f.length > GRAPH_MAX_FIELD_LENGTH) return `field longer than ${GRAPH_MAX_FIELD_LENGTH}`;
  return undefined;
}

/** Throws BAD_REQUEST unless `v` is a valid value; returns it typed. */
export function parseValue(v: unknown): Value {
  const p = valueProblem(v);
  if (p) throw new PlexusError('BAD_REQUEST', p);
  return v as Value;
}

/** Deep copy of a value (relations are the only objects). */
export function copyValue(v: Value): Value {
  return v !== null && typeof v === 'object' ? { '#': v['#'] } : v;
}

/** Two values are the same (relations compare by soul). */
export function sameValue(a: Value, b: Value): boolean {
  if (a === b) return true;
  return a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && a['#'] === b['#'];
}

/** Set a key on a plain object safely, even when the key is `__proto__`. */
export function setKey<T>(obj: Record<string, T>, key: string, v: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[key] = v;
}

/** Build a wire node from a soul and its fields. */
export function toGraphNode(soul: string, fields: Iterable<[string, FieldState]>): GraphNode {
  const node = { _: { '#': soul, '>': {} as Record<string, number> } } as GraphNode;
  for (const [f, { value, state }] of fields) {
    setKey(node._['>'], f, state);
    setKey(node as Record<string, Value | NodeMeta>, f, copyValue(value));
  }
  return node;
}

/** Group field writes into a wire graph (soul → node). */
export function toGraphData(writes: Iterable<FieldWrite>): GraphData {
  const g: GraphData = {};
  for (const w of writes) {
    let n = Object.hasOwn(g, w.soul) ? g[w.soul]! : undefined;
    if (!n) { n = { _: { '#': w.soul, '>': {} } } as GraphNode; setKey(g, w.soul, n); }
    setKey(n._['>'], w.field, w.state);
    setKey(n as Record<string, Value | NodeMeta>, w.field, copyValue(w.value));
  }
  return g;
}
