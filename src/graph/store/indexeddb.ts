import { PlexusError } from '../../errors.js';
import { isUpdate, type ConflictResolution } from '../ham.js';
import { resolveBatch, type GraphStore, type OutboxStorage } from '../store.js';
import type { FieldState, FieldWrite, NodeFields, Value } from '../value.js';

/** Options of the IndexedDB graph store. */
export interface IndexedDbGraphStoreOptions {
  /** The IndexedDB factory (default: globalThis.indexedDB). */
  indexedDB?: IDBFactory;
}

interface FieldRow { soul: string; field: string; value: Value; state: number }
interface DeferredRow { soul: string; field: string; value: Value; state: number; id?: number }
interface OutboxRow { writes: FieldWrite[]; key?: number }

const VERSION = 1;
const FIELDS = 'fields', DEFERRED = 'deferred', OUTBOX = 'outbox';

const done = <T>(r: IDBRequest<T>): Promise<T> => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
const finished = (tx: IDBTransaction): Promise<void> => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
});
const storeError = (err: unknown) => err instanceof PlexusError ? err : new PlexusError('INTERNAL', `IndexedDB: ${(err as Error)?.message ?? String(err)}`);

/**
 * A GraphStore in the browser's IndexedDB (one database per name): fields keyed by [soul, field], deferred
 * future writes by state, and the client's unacked writes (`outbox`), so a page's data and pending edits
 * survive a reload. HAM runs inside one readwrite transaction per batch; `put` resolves once the
 * transaction committed with strict durability. Several tabs may open the same name.
 */
export class IndexedDbGraphStore implements GraphStore {
  readonly name: string;
  readonly outbox: OutboxStorage;
  readonly #db: Promise<IDBDatabase>;
  #closed = false;

  /** Open (or create) the database `name`. */
  constructor(name = 'plexus-graph', opts: IndexedDbGraphStoreOptions = {}) {
    this.name = name;
    const idb = opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!idb) throw new PlexusError('UNSUPPORTED', 'no IndexedDB in this environment');
    this.#db = new Promise((resolve, reject) => {
      const r = idb.open(name, VERSION);
      r.onupgradeneeded = () => {
        const db = r.result;
        if (!db.objectStoreNames.contains(FIELDS)) db.createObjectStore(FIELDS, { keyPath: ['soul', 'field'] });
        if (!db.objectStoreNames.contains(DEFERRED)) db.createObjectStore(DEFERRED, { keyPath: 'id', autoIncrement: true }).createIndex('state', 'state');
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: 'key', autoIncrement: true });
      };
      r.onsuccess = () => { r.result.onversionchange = () => r.result.close(); resolve(r.result); };
      r.onerror = () => reject(storeError(r.error));
      r.onblocked = () => reject(new PlexusError('UNAVAILABLE', `IndexedDB ${name} is blocked by another tab's older version`));
    });
    this.#db.catch(() => {}); // reported by the first operation
    this.outbox = {
      add: async (writes) => {
        const tx = await this.#tx([OUTBOX], 'readwrite');
        const key = done(tx.objectStore(OUTBOX).add({ writes: writes.map((w) => ({ ...w })) } satisfies OutboxRow));
        await finished(tx);
        return (await key) as number;
      },
      remove: async (key) => {
        const tx = await this.#tx([OUTBOX], 'readwrite');
        tx.objectStore(OUTBOX).delete(key);
        await finished(tx);
      },
      all: async () => {
        const tx = await this.#tx([OUTBOX], 'readonly');
        const rows = await done(tx.objectStore(OUTBOX).getAll() as IDBRequest<OutboxRow[]>);
        return rows.map((r) => ({ key: r.key!, writes: r.writes }));
      },
    };
  }

  async #tx(stores: string[], mode: IDBTransactionMode): Promise<IDBTransaction> {
    if (this.#closed) throw new PlexusError('CLOSED', 'graph store is closed');
    let db: IDBDatabase;
    try { db = await this.#db; } catch (err) { throw storeError(err); }
    if (this.#closed) throw new PlexusError('CLOSED', 'graph store is closed');
    return db.transaction(stores, mode, { durability: mode === 'readwrite' ? 'strict' : 'default' });
  }

  async get(soul: string): Promise<NodeFields | undefined> {
    const tx = await this.#tx([FIELDS], 'readonly');
    const rows = await done(tx.objectStore(FIELDS).getAll(IDBKeyRange.bound([soul], [soul, []])) as IDBRequest<FieldRow[]>);
    if (rows.length === 0) return undefined;
    const out: NodeFields = new Map();
    for (const r of rows) out.set(r.field, { value: r.value, state: r.state });
    return out;
  }

  async getField(soul: string, field: string): Promise<FieldState | undefined> {
    const tx = await this.#tx([FIELDS], 'readonly');
    const r = await done(tx.objectStore(FIELDS).get([soul, field]) as IDBRequest<FieldRow | undefined>);
    return r ? { value: r.value, state: r.state } : undefined;
  }

  async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    const tx = await this.#tx([FIELDS, DEFERRED], 'readwrite');
    const commit = finished(tx);
    commit.catch(() => {});
    const fields = tx.objectStore(FIELDS);
    const current = new Map<string, FieldState>();
    const k = (s: string, f: string) => `${s.length}:${s}${f}`;
    await Promise.all([...new Map(writes.map((w) => [k(w.soul, w.field), w])).values()].map(async (w) => {
      const r = await done(fields.get([w.soul, w.field]) as IDBRequest<FieldRow | undefined>);
      if (r) current.set(k(w.soul, w.field), { value: r.value, state: r.state });
    }));
    const { resolutions, updates, deferred } = resolveBatch(writes, machineState, (s, f) => current.get(k(s, f)));
    for (const w of updates) fields.put({ soul: w.soul, field: w.field, value: w.value, state: w.state } satisfies FieldRow);
    const dq = tx.objectStore(DEFERRED);
    for (const w of deferred) dq.add({ soul: w.soul, field: w.field, value: w.value, state: w.state } satisfies DeferredRow);
    try { await commit; } catch (err) { throw storeError(err); }
    return resolutions;
  }

  async applyDue(machineState: number): Promise<FieldWrite[]> {
    const tx = await this.#tx([DEFERRED], 'readonly');
    const due = await done(tx.objectStore(DEFERRED).index('state').getAll(IDBKeyRange.upperBound(machineState)) as IDBRequest<DeferredRow[]>);
    if (due.length === 0) return [];
    due.sort((a, b) => a.state - b.state || a.id! - b.id!);
    const writes = due.map((d) => ({ soul: d.soul, field: d.field, value: d.value, state: d.state }));
    const res = await this.put(writes, machineState);
    const del = await this.#tx([DEFERRED], 'readwrite');
    for (const d of due) del.objectStore(DEFERRED).delete(d.id!);
    await finished(del);
    const last = new Map<string, FieldWrite>();
    res.forEach((r, i) => { if (isUpdate(r)) last.set(`${writes[i]!.soul.length}:${writes[i]!.soul}${writes[i]!.field}`, writes[i]!); });
    return [...last.values()];
  }

  async nextDue(): Promise<number | undefined> {
    const tx = await this.#tx([DEFERRED], 'readonly');
    const c = await done(tx.objectStore(DEFERRED).index('state').openCursor());
    return c ? (c.value as DeferredRow).state : undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try { (await this.#db).close(); } catch { /* never opened */ }
  }
}
