/**
 * Background WAL checkpoints for a SQLite file (better-sqlite3), off the writers' path.
 *
 * Shared root file: like errors.ts and limits.ts, any module may import it (the one exception to
 * "modules import only their own files"); it imports nothing from plexus.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, with its fsyncs, on
 * the writing connection. The owner instead sets `wal_autocheckpoint = 0` on its connection and reports
 * the pages it writes here; after `checkpointPages` pages a PASSIVE checkpoint runs on a worker thread
 * with its own connection. A WAL can only restart from its beginning once a checkpoint copied all of it
 * with no write in between, so when it holds `walMaxPages` pages writers await `room()`: the running
 * checkpoint finishes, one more runs while they wait, the WAL restarts on the next write. The owner learns
 * that a checkpoint finished at its next write (a counter shared with the worker), so the next one starts
 * then even if the writer never lets its event loop run, and the part left for writers to wait on stays
 * short (what was written during one checkpoint). Durability is
 * unchanged: a checkpoint copies committed pages into the database file; it never makes a commit less
 * durable than the WAL already made it.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** SqliteCheckpointer thresholds, in pages written (the owner's estimate; each checkpoint corrects it). */
export interface SqliteCheckpointerOptions {
  /** Pages written after which a PASSIVE checkpoint starts on the worker thread. */
  checkpointPages: number;
  /** Pages the WAL may hold before writers wait (`room()`) for a checkpoint that lets it restart. */
  walMaxPages: number;
  /** The worker connection's `synchronous` (the checkpoint's fsyncs); default NORMAL. */
  synchronous?: 'NORMAL' | 'FULL';
}

/** What one checkpoint reported (SQLite's `wal_checkpoint` row). */
export interface CheckpointResult {
  /** 1 when it could not copy every frame (a reader or writer was in the way). */
  busy: number;
  /** Frames in the WAL when it ran. */
  log: number;
  /** Frames copied into the database so far. */
  checkpointed: number;
}

/**
 * Slots of the Int32Array shared with the worker: the number of checkpoints it finished, then the last
 * one's result, then the number it started. The owner reads them at its next write, so it learns of a
 * finished checkpoint without an event-loop turn (a writer that awaits only its own publishes never gives
 * its loop one: a reply message would wait for the next pause, and the WAL would grow to its bound behind
 * a checkpoint done long ago). A commit reported before the asked checkpoint started is in what it measures
 * (`log`), so only the later ones count as written during it.
 */
const DONE = 0, BUSY = 1, LOG = 2, CHECKPOINTED = 3, STARTED = 4;
const SHARED_SLOTS = 5;

/** The worker: its own connection, so checkpoint writes and fsyncs never run inside a commit. CommonJS (eval). */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const shared = new Int32Array(workerData.shared);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 10000');
db.pragma('synchronous = ' + workerData.synchronous);
const checkpoint = () => {
  const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
  return { busy: r.busy, log: r.log, checkpointed: r.checkpointed };
};
let done = 0;
parentPort.on('message', (m) => {
  if (m === 'close') {
    try { checkpoint(); } catch {}
    db.close();
    parentPort.close();
    return;
  }
  let r;
  Atomics.store(shared, ${STARTED}, done + 1);
  try { r = checkpoint(); } catch (err) { r = { error: String((err && err.message) || err) }; }
  done++;
  // the result slots first, then the count the owner polls (a failure is only in the message)
  if (!r.error) {
    Atomics.store(shared, ${BUSY}, r.busy); Atomics.store(shared, ${LOG}, r.log); Atomics.store(shared, ${CHECKPOINTED}, r.checkpointed);
    Atomics.store(shared, ${DONE}, done);
  }
  parentPort.postMessage({ done, ...r });
});
`;

type Reply = CheckpointResult | { error: string };
/** A worker message: the result of its `done`-th checkpoint. */
type Message = Reply & { done: number };

/**
 * Runs the checkpoints of one SQLite file on a worker thread (started at the first write; idle, it keeps
 * no process alive). The owner calls `wrote(pages)` after each commit, awaits `room()` before a write
 * when it returns a promise, and `close()`s it before closing its own connection.
 */
export class SqliteCheckpointer {
  readonly path: string;
  readonly #every: number;
  readonly #max: number;
  readonly #sync: 'NORMAL' | 'FULL';
  #worker: Worker | undefined;
  /** Shared with the current worker (see DONE): its finished checkpoints and the last result. */
  #shared: Int32Array<ArrayBufferLike> = new Int32Array(0);
  /** Checkpoints asked of the current worker; the running one is the #issued-th. */
  #issued = 0;
  #running: { done: Promise<void>; resolve: () => void; reject: (err: Error) => void } | null = null;
  #drain: Promise<void> | null = null;
  #closed = false;
  /** Pages in the WAL since it last restarted (estimated between checkpoints, measured at each). */
  #walPages = 0;
  #sinceStart = 0;
  #duringRun = 0;
  /** walPages at which writers wait next: walMaxPages, raised by walMaxPages after a catch-up that could not restart the WAL. */
  #waitAt: number;
  /** Checkpoints run so far. */
  checkpoints = 0;
  /** The last checkpoint failure, if any (writers are never failed by one: the WAL then just grows). */
  lastError: string | undefined;

  constructor(path: string, opts: SqliteCheckpointerOptions) {
    this.path = path;
    this.#every = Math.max(1, opts.checkpointPages);
    this.#max = Math.max(this.#every, opts.walMaxPages);
    this.#sync = opts.synchronous ?? 'NORMAL';
    this.#waitAt = this.#max;
  }

  /** Pages the WAL is estimated to hold since it last restarted. */
  get walPages(): number { return this.#walPages; }

  /** Report `pages` pages committed to the WAL; starts a checkpoint once enough accumulated. */
  wrote(pages: number): void {
    if (this.#closed || pages <= 0) return;
    this.#start(); // on the first write, so the thread is up by the time the first checkpoint is due
    this.#walPages += pages;
    this.#sinceStart += pages;
    if (this.#running) {
      // counted as written during the run before polling: a commit that raced the checkpoint's end
      // may keep the WAL from restarting, never the other way round (the next checkpoint measures it)
      if (Atomics.load(this.#shared, STARTED) === this.#issued) this.#duringRun += pages;
      this.#poll();
    }
    // the pages written during a finished run start the next one at once, so the WAL's unchecked tail
    // stays about one run's writes long and a catch-up (room) has little left to copy
    if (!this.#running && this.#sinceStart >= this.#every) void this.checkpoint().catch(() => undefined);
  }

  /**
   * undefined while the WAL is under its bound (write on, nothing to await); otherwise a promise that
   * resolves once a checkpoint ran with the writers waiting (so the WAL restarts on the next write).
   * Never rejects: a failed checkpoint is kept in `lastError` and the write goes ahead.
   */
  room(): Promise<void> | undefined {
    if (this.#running) this.#poll();
    if (this.#walPages < this.#waitAt || this.#closed) return undefined;
    return this.#drain ??= this.#catchUp().finally(() => { this.#drain = null; });
  }

  async #catchUp(): Promise<void> {
    if (this.#running) await this.#running.done.catch(() => undefined);
    // the one that ran meanwhile did not let the WAL restart: one more while the writers wait
    if (this.#walPages > 0) await this.checkpoint().catch(() => undefined);
    // still not restarted (a reader pins the WAL, or a checkpoint failed): let another walMaxPages be
    // written before waiting again instead of waiting at every write; the WAL grows meanwhile, as it
    // would with SQLite's own checkpoints
    if (this.#walPages > 0) this.#waitAt = this.#walPages + this.#max;
  }

  /** Run one PASSIVE checkpoint on the worker now (or join the running one). */
  checkpoint(): Promise<void> {
    if (this.#running) return this.#running.done;
    if (this.#closed) return Promise.resolve();
    this.#sinceStart = 0;
    this.#duringRun = 0;
    const worker = this.#start();
    worker.ref(); // a pending checkpoint keeps the process alive; an idle worker does not
    let resolve!: () => void, reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    this.#running = { done, resolve, reject };
    this.#issued++;
    worker.postMessage('checkpoint');
    return done;
  }

  /** Take the running checkpoint's result if the worker finished it (no event-loop turn needed). */
  #poll(): void {
    const s = this.#shared;
    if (Atomics.load(s, DONE) === this.#issued) this.#finish({ busy: Atomics.load(s, BUSY), log: Atomics.load(s, LOG), checkpointed: Atomics.load(s, CHECKPOINTED) });
  }

  /** The running checkpoint ended with `r`: update the WAL estimate, then settle its promise. */
  #finish(r: Reply): void {
    const run = this.#running;
    if (!run) return;
    this.#running = null;
    this.#worker?.unref();
    this.checkpoints++;
    if ('error' in r) {
      this.lastError = r.error;
      this.#walPages = 0; // re-arm the bound after another walMaxPages instead of stalling every write
      this.#waitAt = this.#max;
      run.reject(new Error(`SQLite checkpoint of ${this.path} failed: ${r.error}`));
      return;
    }
    // all copied and nothing written meanwhile: the next write restarts the WAL from its beginning
    if (r.log < 0 || (r.busy === 0 && r.log === r.checkpointed && this.#duringRun === 0)) { this.#walPages = 0; this.#waitAt = this.#max; }
    else this.#walPages = r.log + this.#duringRun;
    run.resolve();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    // resolved from this file, so it works from the sources (tsx) and from dist/ alike
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * Int32Array.BYTES_PER_ELEMENT));
    // plain CommonJS: no loader flags of the parent's (e.g. tsx's --import) to start the thread with
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { driver, path: this.path, synchronous: this.#sync, shared: shared.buffer } });
    w.unref();
    // the reply of a checkpoint #poll has not taken yet (or a failure, which only the message carries)
    w.on('message', (m: Message) => { if (this.#worker === w && m.done === this.#issued) this.#finish(m); });
    const gone = (why: string) => {
      if (this.#worker !== w) return;
      this.#worker = undefined; // the next checkpoint starts a new one
      this.#finish({ error: why });
    };
    w.on('error', (err) => gone(String(err)));
    w.on('exit', (code) => gone(`checkpoint worker exited (${code})`));
    this.#worker = w;
    this.#shared = shared;
    this.#issued = 0;
    return w;
  }

  /**
   * Wait for a running checkpoint, run a last one on the worker and stop it. Call before closing the
   * owner's connection (the last connection to close checkpoints the rest and removes the WAL).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#running?.done.catch(() => undefined);
    const w = this.#worker;
    this.#worker = undefined;
    if (!w) return;
    w.ref();
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage('close');
    await exited;
  }
}
