import { isUpdate, resolveConflict, type ConflictResolution } from './ham.js';
import type { FieldState, FieldWrite, NodeFields } from './value.js';

/** A field that changed, by address (what stores report for changes made by other processes). */
export interface FieldRef { soul: string; field: string }

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

export interface GraphStore {
  /** Where a client keeps its unacked writes across reloads (stores that persist in a browser). */
  readonly outbox?: OutboxStorage;
  /** Up to `limit` souls, those changed last (highest field state) first: what a restarted relay asks its reconnecting clients about. */
  recentSouls?(limit: number): Promise<string[]>;
  /** Every stored field of a node (tombstones included), or undefined for a soul never written. */
  get(soul: string): Promise<NodeFields | undefined>;
  /** One stored field, or undefined. */
  getField(soul: string, field: string): Promise<FieldState | undefined>;
  /** Resolve and store a batch of writes in order; one resolution per write. */
  put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]>;
  /** Apply deferred writes whose state ≤ machineState; returns those that changed the graph. */
  applyDue(machineState: number): Promise<FieldWrite[]>;
  /** The smallest state among deferred writes (when the next one is due), or undefined. */
  nextDue(): Promise<number | undefined>;
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
