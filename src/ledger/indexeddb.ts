import { PlexusError } from '../errors.js';
import type { Event, Rec } from './event.js';
import { StoreLedger, type AuditRow, type LedgerOptions, type LedgerStore, type StoreReader, type WriteBatch } from './ledger.js';
import { MemoryStore } from './memory.js';
import type { Rev } from './time.js';

/** Options of the IndexedDB ledger. */
export interface IndexedDbLedgerOptions extends LedgerOptions {
  /** The IndexedDB factory (default: globalThis.indexedDB). */
  indexedDB?: IDBFactory;
}

const BATCHES = 'batches';

const finished = (tx: IDBTransaction): Promise<void> => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
});

/**
 * A LedgerStore for a browser satellite: the memory store's indexes, with every write batch appended to
 * IndexedDB (strict durability) before the write resolves; opening replays the batches in order, so the
 * replicated events, records, audit rows and pending local transactions survive a reload. Once a batch
 * could not be stored the store refuses further writes (nothing acked that is not stored).
 */
class IndexedDbLedgerStore implements LedgerStore {
  readonly #mem = new MemoryStore();
  readonly #db: IDBDatabase;
  #broken: PlexusError | undefined;
  #closed = false;
  /** Transactions run one at a time: a write awaits IndexedDB between its reads and the memory update. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(db: IDBDatabase) {
    this.#db = db;
  }

  /** Re-apply the stored batches (opening). */
  async replay(): Promise<void> {
    const tx = this.#db.transaction([BATCHES], 'readonly');
    const rows = await new Promise<WriteBatch[]>((resolve, reject) => {
      const r = tx.objectStore(BATCHES).getAll();
      r.onsuccess = () => resolve(r.result as WriteBatch[]);
      r.onerror = () => reject(r.error);
    });
    for (const b of rows) await this.#mem.tx(async (_r, write) => write(b));
  }

  #check(): void {
    if (this.#closed) throw new PlexusError('CLOSED', 'ledger closed');
    if (this.#broken) throw this.#broken;
  }

  async #persist(b: WriteBatch): Promise<void> {
    try {
      const tx = this.#db.transaction([BATCHES], 'readwrite', { durability: 'strict' });
      tx.objectStore(BATCHES).add(b);
      await finished(tx);
    } catch (err) {
      this.#broken = new PlexusError('UNAVAILABLE', `IndexedDB write failed, ledger is read-only until reopened: ${(err as Error)?.message ?? String(err)}`);
      throw this.#broken;
    }
  }

  tx<T>(fn: (r: StoreReader, write: (b: WriteBatch) => Promise<Event[]>) => Promise<T>): Promise<T> {
    this.#check();
    const run = () => this.#mem.tx((r, write) => fn(r, async (b) => {
      this.#check();
      const copy = structuredClone(b); // the memory store fills in ids on `b`; replay must do the same
      await this.#persist(copy);
      return write(b);
    }));
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  reader(): StoreReader { return this.#mem.reader(); }
  eventsPage(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> { return this.#mem.eventsPage(since, tops, afterId, limit); }
  eventsUpTo(rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> { return this.#mem.eventsUpTo(rev, tops, afterId, limit); }
  lastEventId(): Promise<number> { return this.#mem.lastEventId(); }
  listRecs(top: string): Promise<Rec[]> { return this.#mem.listRecs(top); }
  audit(rev: Rev): Promise<AuditRow | undefined> { return this.#mem.audit(rev); }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

/** A ledger kept in the browser's IndexedDB (database `name`): a satellite's local ledger that survives a reload. */
export class IndexedDbLedger extends StoreLedger {
  private constructor(store: LedgerStore, opts: LedgerOptions) {
    super(store, opts);
  }

  /** Open (or create) the ledger in IndexedDB database `name`. */
  static async open(name = 'plexus-ledger', opts: IndexedDbLedgerOptions = {}): Promise<IndexedDbLedger> {
    const { indexedDB: given, ...ledgerOpts } = opts;
    const idb = given ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!idb) throw new PlexusError('UNSUPPORTED', 'no IndexedDB in this environment');
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = idb.open(name, 1);
      r.onupgradeneeded = () => { if (!r.result.objectStoreNames.contains(BATCHES)) r.result.createObjectStore(BATCHES, { autoIncrement: true }); };
      r.onsuccess = () => { r.result.onversionchange = () => r.result.close(); resolve(r.result); };
      r.onerror = () => reject(new PlexusError('UNAVAILABLE', `cannot open IndexedDB ${name}: ${r.error?.message ?? 'error'}`));
      r.onblocked = () => reject(new PlexusError('UNAVAILABLE', `IndexedDB ${name} is blocked by another tab's older version`));
    });
    const store = new IndexedDbLedgerStore(db);
    await store.replay();
    return new IndexedDbLedger(store, ledgerOpts);
  }
}

