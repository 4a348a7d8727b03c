/**
 * Commits of the SQLite graph store on a worker thread with its own connection, so the relay's event
 * loop keeps answering reads while a commit's fsync runs. The worker also resolves conflicts (HAM) of the
 * rows it is handed, against what its own connection stores: it is the only writer, so its page cache
 * stays warm, while the relay's connection loses its cache after every commit of the worker and would
 * read the B-tree again from the files to learn that a new node's soul is not stored yet. Batches handed
 * over while a commit runs are committed together in the next transaction (group commit), in order, each
 * batch's promise resolving with its rows' resolutions once its transaction is durable (synchronous=FULL
 * unless told otherwise).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { PlexusError, storageFault } from '../../errors.js';
import { isUpdate, resolveStored } from '../ham.js';

/** One row to write: soul, field, value (JSON text), state. */
export type GraphRow = [string, string, string, number];

/**
 * Rows to resolve and write, flat: soul, field, value (JSON text), state, then the next row's four (one
 * array is cloned to the worker much faster than an array per row).
 */
export type FlatRows = (string | number)[];

/** What the worker answers per row of FlatRows, in order (gun's HAM outcomes; `too-future` rows are never handed over). */
export const ROW_RESOLUTIONS = ['never-seen-update', 'newer-update', 'same-update', 'older-historical', 'same-keep'] as const;

/** The worker: plain CommonJS (eval), so it needs none of the parent's loader flags. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('busy_timeout = 10000');
const defer = db.prepare('INSERT INTO graph_deferred (soul, field, value, state) VALUES (?, ?, ?, ?)');
const insertNew = db.prepare('INSERT INTO graph_fields (soul, field, value, state) VALUES (?, ?, ?, ?) ON CONFLICT (soul, field) DO NOTHING');
const stored = db.prepare('SELECT value, state FROM graph_fields WHERE soul = ? AND field = ?').raw(true);
const update = db.prepare('UPDATE graph_fields SET value = ?, state = ? WHERE soul = ? AND field = ?');
// HAM per row in order (an earlier row of the same transaction is what a later one meets): a field never stored
// is inserted by the one statement that also tells it was new (no read first), else ham.ts's resolveStored
// decides; codes index ROW_RESOLUTIONS
const resolveStored = ${resolveStored.toString()};
const isUpdate = ${isUpdate.toString()};
const CODE = new Map(workerData.resolutions.map((r, i) => [r, i]));
const ham = (soul, field, json, state) => {
  if (insertNew.run(soul, field, json, state).changes === 1) return 0;
  const cur = stored.get(soul, field);
  const r = resolveStored(state, json, cur[1], cur[0]);
  if (isUpdate(r)) update.run(json, state, soul, field);
  return CODE.get(r);
};
const commit = db.transaction((rows, deferred, codes) => {
  for (let i = 0, j = 0; i < rows.length; i += 4, j++) codes[j] = ham(rows[i], rows[i + 1], rows[i + 2], rows[i + 3]);
  for (const r of deferred) defer.run(r[0], r[1], r[2], r[3]);
});
// deferred writes now due, oldest state first, resolved like any write; answers the final winner of each field
// it changed (flat, as FlatRows), in the order each field first changed (resolveBatch's updates)
const dueRows = db.prepare('SELECT id, soul, field, value, state FROM graph_deferred WHERE state <= ? ORDER BY state, id').raw(true);
const undefer = db.prepare('DELETE FROM graph_deferred WHERE id = ?');
const nextDue = db.prepare('SELECT MIN(state) FROM graph_deferred').pluck();
const applyDue = db.transaction((machineState) => {
  const won = new Map();
  for (const [id, soul, field, json, state] of dueRows.all(machineState)) {
    if (ham(soul, field, json, state) <= 2) won.set(soul + '\u0000' + field, [soul, field, json, state]);
    undefer.run(id);
  }
  const out = [];
  for (const r of won.values()) out.push(r[0], r[1], r[2], r[3]);
  return out;
});
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    if (m.due !== undefined) { parentPort.postMessage({ ok: true, applied: applyDue(m.due) }); return; }
    if (m.next) { parentPort.postMessage({ ok: true, next: nextDue.get() ?? undefined }); return; }
    const codes = new Uint8Array(m.rows.length / 4); commit(m.rows, m.deferred, codes); parentPort.postMessage({ ok: true, codes });
  }
  catch (err) { parentPort.postMessage({ error: String((err && err.message) || err), code: err && typeof err.code === 'string' ? err.code : undefined }); }
});
`;

/** What the worker answers: a commit's codes, due writes applied (FlatRows), or the next due state. */
interface Reply { ok?: true; codes?: Uint8Array; applied?: FlatRows; next?: number; error?: string; code?: string }
/** A job run on its own transaction, in its place among the batches: apply due writes, or read the next due state. */
type Job = { due: number } | { next: true };

interface Pending { rows: FlatRows; deferred: GraphRow[]; job?: Job; resolve: (r: Reply) => void; reject: (e: unknown) => void }

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

  /**
   * Resolve `rows` against the stored fields (and the rows handed over before them), store those that win and
   * the deferred rows; resolves once durable with one code per row (an index of ROW_RESOLUTIONS).
   */
  write(rows: FlatRows, deferred: GraphRow[]): Promise<Uint8Array> {
    return this.#push(rows, deferred, undefined).then((r) => r.codes!);
  }

  /**
   * Apply the deferred writes due at `machineState` on the worker, after the batches handed over before:
   * each resolved against what is stored, the winners stored, the deferred rows removed, in one
   * transaction (never on the caller's thread). Resolves with the final winner of each field it changed.
   */
  applyDue(machineState: number): Promise<FlatRows> {
    return this.#push([], [], { due: machineState }).then((r) => r.applied!);
  }

  /** The smallest deferred state once the batches handed over before are stored, or undefined. */
  nextDue(): Promise<number | undefined> {
    return this.#push([], [], { next: true }).then((r) => r.next);
  }

  #push(rows: FlatRows, deferred: GraphRow[], job: Job | undefined): Promise<Reply> {
    if (this.#closed) return Promise.reject(new PlexusError('CLOSED', 'graph store is closed'));
    return new Promise<Reply>((resolve, reject) => {
      this.#queue.push({ rows, deferred, job, resolve, reject });
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
    const w = this.#start();
    w.ref(); // a commit under way keeps the process alive; an idle writer does not
    const first = this.#queue[0]!;
    if (first.job) {
      // a job runs alone, after the batches before it and before those after it
      this.#running = [first];
      this.#queue.shift();
      w.postMessage(first.job);
      return;
    }
    // the batches up to the next job commit together
    let n = 1;
    while (n < this.#queue.length && !this.#queue[n]!.job) n++;
    const batch = this.#queue.splice(0, n);
    this.#running = batch;
    let rows: FlatRows = batch[0]!.rows;
    const deferred: GraphRow[] = [];
    if (batch.length > 1) { rows = []; for (const b of batch) for (const x of b.rows) rows.push(x); }
    for (const b of batch) for (const r of b.deferred) deferred.push(r);
    w.postMessage({ rows, deferred });
  }

  #done(r: Reply): void {
    const batch = this.#running ?? [];
    this.#running = undefined;
    this.#worker?.unref();
    if (r.ok && batch[0]?.job) batch[0].resolve(r);
    else if (r.ok) {
      this.commits++;
      // each batch gets the codes of its own rows
      let at = 0;
      for (const b of batch) { const n = b.rows.length / 4; b.resolve({ codes: r.codes!.subarray(at, at + n) }); at += n; }
    }
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
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { driver, path: this.#path, synchronous: this.#sync, resolutions: ROW_RESOLUTIONS } });
    w.unref();
    w.on('message', (r: Reply) => this.#done(r));
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
