/**
 * Commits of the SQLite graph store on a worker thread with its own connection, so the relay's event
 * loop keeps answering reads while a commit's fsync runs. The store resolves conflicts (HAM) on its own
 * thread and hands the resulting rows here; batches handed over while a commit runs are committed
 * together in the next transaction (group commit), each batch's promise resolving once its transaction
 * is durable (synchronous=FULL unless told otherwise).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { PlexusError, storageFault } from '../../errors.js';

/** One row to write: soul, field, value (JSON text), state. */
export type GraphRow = [string, string, string, number];

/** The worker: plain CommonJS (eval), so it needs none of the parent's loader flags. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('busy_timeout = 10000');
const upsert = db.prepare('INSERT INTO graph_fields (soul, field, value, state) VALUES (?, ?, ?, ?) ON CONFLICT (soul, field) DO UPDATE SET value = excluded.value, state = excluded.state');
const defer = db.prepare('INSERT INTO graph_deferred (soul, field, value, state) VALUES (?, ?, ?, ?)');
const commit = db.transaction((updates, deferred) => {
  for (const r of updates) upsert.run(r[0], r[1], r[2], r[3]);
  for (const r of deferred) defer.run(r[0], r[1], r[2], r[3]);
});
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try { commit(m.updates, m.deferred); parentPort.postMessage({ ok: true }); }
  catch (err) { parentPort.postMessage({ error: String((err && err.message) || err), code: err && typeof err.code === 'string' ? err.code : undefined }); }
});
`;

interface Pending { updates: GraphRow[]; deferred: GraphRow[]; resolve: () => void; reject: (e: unknown) => void }

export class SqliteGraphWriter {
  readonly #path: string;
  readonly #sync: 'FULL' | 'NORMAL';
  #worker: Worker | undefined;
  /** Batches waiting for the next transaction. */
  #queue: Pending[] = [];
  /** The batches of the transaction running on the worker. */
  #running: Pending[] | undefined;
  #idle: Array<() => void> = [];
  #closed = false;
  /** Transactions committed (stats, tests). */
  commits = 0;

  constructor(path: string, synchronous: 'FULL' | 'NORMAL') {
    this.#path = path;
    this.#sync = synchronous;
  }

  /** Commit these rows; resolves once they are durable. */
  write(updates: GraphRow[], deferred: GraphRow[]): Promise<void> {
    if (this.#closed) return Promise.reject(new PlexusError('CLOSED', 'graph store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ updates, deferred, resolve, reject });
      this.#next();
    });
  }

  /** True while a commit runs or batches wait. */
  get busy(): boolean { return this.#running !== undefined || this.#queue.length > 0; }

  /** Resolves once every batch handed over so far was committed (or failed). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #next(): void {
    if (this.#running || this.#queue.length === 0) {
      if (!this.busy) for (const f of this.#idle.splice(0)) f();
      return;
    }
    const batch = this.#queue;
    this.#queue = [];
    this.#running = batch;
    const updates: GraphRow[] = [], deferred: GraphRow[] = [];
    for (const b of batch) { for (const r of b.updates) updates.push(r); for (const r of b.deferred) deferred.push(r); }
    const w = this.#start();
    w.ref(); // a commit under way keeps the process alive; an idle writer does not
    w.postMessage({ updates, deferred });
  }

  #done(r: { ok?: true; error?: string; code?: string }): void {
    const batch = this.#running ?? [];
    this.#running = undefined;
    this.#worker?.unref();
    if (r.ok) { this.commits++; for (const b of batch) b.resolve(); }
    else {
      // a full or read-only disk keeps its code (STORAGE_FULL / READ_ONLY); anything else is INTERNAL
      const e = storageFault({ code: r.code }) ?? new PlexusError('INTERNAL', `graph commit failed: ${r.error}`);
      for (const b of batch) b.reject(e);
    }
    this.#next();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    // resolved from this file, so it works from the sources (tsx) and from dist/ alike
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { driver, path: this.#path, synchronous: this.#sync } });
    w.unref();
    w.on('message', (r: { ok?: true; error?: string; code?: string }) => this.#done(r));
    const gone = (why: string) => {
      if (this.#worker !== w) return;
      this.#worker = undefined; // the next commit starts a new one
      if (this.#running) this.#done({ error: why });
    };
    w.on('error', (err) => gone(String(err)));
    w.on('exit', (code) => gone(`graph writer exited (${code})`));
    this.#worker = w;
    return w;
  }

  /** Commit what was handed over, then stop the worker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.idle();
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    if (!w) return;
    w.ref();
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage('close');
    await exited;
  }
}
