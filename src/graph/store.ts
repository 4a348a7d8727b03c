import { isUpdate, resolveConflict, type ConflictResolution } from './ham.js';
import type { FieldState, FieldWrite, NodeFields } from './value.js';

/** A field that changed, by address (what stores report for changes made by other processes). */
export interface FieldRef { soul: string; field: string }

/**
 * Which souls to list (`GraphStore.souls`): in JavaScript string order (reversed with `reverse`),
 * starting with `prefix`, within `from` ≤ soul ≤ `to`, strictly after the cursor `after` (before it when
 * reversed), at most `limit`.
 */
export interface SoulRange { prefix?: string; from?: string; to?: string; after?: string; reverse?: boolean; limit: number }

/** Whether `soul` is inside `q` (ignoring `limit`): the filter every store's `souls` applies. */
export function inSoulRange(q: SoulRange, soul: string): boolean {
  if (q.prefix !== undefined && !soul.startsWith(q.prefix)) return false;
  if (q.from !== undefined && soul < q.from) return false;
  if (q.to !== undefined && soul > q.to) return false;
  if (q.after !== undefined && (q.reverse ? soul >= q.after : soul <= q.after)) return false;
  return true;
}

/**
 * Where a graph lives. Every adapter applies gun's HAM per field (`resolveConflict`) inside `put`,
 * atomically for the batch, and is durable when `put` resolves. Writes whose state is ahead of
 * `machineState` are persisted as deferred and applied by `applyDue` once due (never early, never lost).
 */
/** Unacked writes kept with the store's data (IndexedDB), so they survive a reload and are sent again. */
export interface OutboxStorage {
  /** Keep a batch of writes; resolves with its key once durable. */
  add(writes: readonly FieldWrite[]): Promise<number>;
  /** Forget an acked batch. */
  remove(key: number): Promise<void>;
  /** Every kept batch, oldest first. */
  all(): Promise<{ key: number; writes: FieldWrite[] }[]>;
}

/** One stored field as a reply carries it: its name, its value as JSON text (as stored), its state. */
export type StoredFieldText = readonly [field: string, json: string, state: number];

/** What `GraphStore.readText` reads: a whole node, or one field of it. */
export interface TextRead { soul: string; field?: string }

export interface GraphStore {
  /** Where a client keeps its unacked writes across reloads (stores that persist in a browser). */
  readonly outbox?: OutboxStorage;
  /** Up to `limit` souls, those changed last (highest field state) first: what a restarted relay asks its reconnecting clients about. */
  recentSouls?(limit: number): Promise<string[]>;
  /** Every stored field of a node (tombstones included), or undefined for a soul never written. */
  get(soul: string): Promise<NodeFields | undefined>;
  /** One stored field, or undefined. */
  getField(soul: string, field: string): Promise<FieldState | undefined>;
  /**
   * Optional, synchronous (stores that keep values as JSON text and read without I/O waits): what `get` or
   * `getField` would return for each read, values left as JSON text, all read in one snapshot; undefined
   * where nothing is stored. A relay answers reads from it without parsing and re-serialising values.
   */
  readText?(reads: readonly TextRead[]): (StoredFieldText[] | undefined)[];
  /** Resolve and store a batch of writes in order; one resolution per write. */
  put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]>;
  /** Apply deferred writes whose state ≤ machineState; returns those that changed the graph. */
  applyDue(machineState: number): Promise<FieldWrite[]>;
  /** The smallest state among deferred writes (when the next one is due), or undefined. */
  nextDue(): Promise<number | undefined>;
  /** List stored souls (lexical soul queries, the dashboard's soul browser). */
  souls?(q: SoulRange): Promise<string[]>;
  /**
   * Optional: take a batch now (reads see it at once, as HAM ranks it against what is stored) and resolve
   * and commit it off the event loop, in order after the batches taken before it; `durable` resolves with
   * one resolution per write (what `put` gives) once it is on disk (acks wait for it). Stores committing
   * inline omit it.
   */
  accept?(writes: readonly FieldWrite[], machineState: number): { durable: Promise<ConflictResolution[]> };
  /** Subscribe to fields changed by OTHER handles on the same data (PostgreSQL); returns unsubscribe. */
  onExternalChange?(cb: (changes: FieldRef[]) => void): () => void;
  close(): Promise<void>;
}

const key = (soul: string, field: string) => `${soul.length}:${soul}${field}`;

/**
 * HAM over a batch, in order, against `lookup` (the stored state) and the batch's own earlier
 * writes. Returns each write's resolution, the final field values to store, and the deferred writes.
 */
export function resolveBatch(
  writes: readonly FieldWrite[],
  machineState: number,
  lookup: (soul: string, field: string) => FieldState | undefined,
): { resolutions: ConflictResolution[]; updates: FieldWrite[]; deferred: FieldWrite[] } {
  const current = new Map<string, FieldWrite>();
  const resolutions: ConflictResolution[] = [];
  const deferred: FieldWrite[] = [];
  for (const w of writes) {
    const k = key(w.soul, w.field);
    const cur = current.get(k) ?? lookup(w.soul, w.field);
    const r = resolveConflict(cur?.value, cur?.state, w.value, w.state, machineState);
    resolutions.push(r);
    if (isUpdate(r)) current.set(k, w);
    else if (r === 'too-future-deferred') deferred.push(w);
  }
  return { resolutions, updates: [...current.values()], deferred };
}
