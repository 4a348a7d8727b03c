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
 * checkpoint finishes, one more runs while they wait, the WAL restarts on the next write. Durability is
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

/** The worker: its own connection, so checkpoint writes and fsyncs never run inside a commit. CommonJS (eval). */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 10000');
db.pragma('synchronous = ' + workerData.synchronous);
const checkpoint = () => {
  const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
  return { busy: r.busy, log: r.log, checkpointed: r.checkpointed };
};
parentPort.on('message', (m) => {
  if (m === 'close') {
    try { checkpoint(); } catch {}
    db.close();
    parentPort.close();
    return;
  }
  try { parentPort.postMessage(checkpoint()); } catch (err) { parentPort.postMessage({ error: String((err && err.message) || err) }); }
});
`;

type Reply = CheckpointResult | { error: string };

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
  #replies: Array<(r: Reply) => void> = [];
  #running: Promise<void> | null = null;
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
    if (this.#running) this.#duringRun += pages;
    else if (this.#sinceStart >= this.#every) void this.checkpoint().catch(() => undefined);
  }

  /**
   * undefined while the WAL is under its bound (write on, nothing to await); otherwise a promise that
   * resolves once a checkpoint ran with the writers waiting (so the WAL restarts on the next write).
   * Never rejects: a failed checkpoint is kept in `lastError` and the write goes ahead.
   */
  room(): Promise<void> | undefined {
    if (this.#walPages < this.#waitAt || this.#closed) return undefined;
    return this.#drain ??= this.#catchUp().finally(() => { this.#drain = null; });
  }

  async #catchUp(): Promise<void> {
    if (this.#running) await this.#running.catch(() => undefined);
    if (this.#walPages >= this.#waitAt) await this.checkpoint().catch(() => undefined);
    // still full (a reader pins the WAL, or a checkpoint failed): let another walMaxPages be written
    // before waiting again instead of waiting at every write; the WAL grows meanwhile, as it would
    // with SQLite's own checkpoints
    if (this.#walPages >= this.#waitAt) this.#waitAt = this.#walPages + this.#max;
  }

  /** Run one PASSIVE checkpoint on the worker now (or join the running one). */
  checkpoint(): Promise<void> {
    if (this.#running) return this.#running;
    if (this.#closed) return Promise.resolve();
    this.#sinceStart = 0;
    this.#duringRun = 0;
    const worker = this.#start();
    worker.ref(); // a pending checkpoint keeps the process alive; an idle worker does not
    this.#running = new Promise<Reply>((resolve) => {
      this.#replies.push(resolve);
      worker.postMessage('checkpoint');
    }).then((r) => {
      this.#running = null;
      this.#worker?.unref();
      this.checkpoints++;
      if ('error' in r) {
        this.lastError = r.error;
        this.#walPages = 0; // re-arm the bound after another walMaxPages instead of stalling every write
        this.#waitAt = this.#max;
        throw new Error(`SQLite checkpoint of ${this.path} failed: ${r.error}`);
      }
      // all copied and nothing written meanwhile: the next write restarts the WAL from its beginning
      if (r.log < 0 || (r.busy === 0 && r.log === r.checkpointed && this.#duringRun === 0)) { this.#walPages = 0; this.#waitAt = this.#max; }
      else this.#walPages = r.log + this.#duringRun;
    });
    return this.#running;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    // resolved from this file, so it works from the sources (tsx) and from dist/ alike
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    // plain CommonJS: no loader flags of the parent's (e.g. tsx's --import) to start the thread with
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { driver, path: this.path, synchronous: this.#sync } });
    w.unref();
    w.on('message', (r: Reply) => this.#replies.shift()?.(r));
    const gone = (why: string) => {
      if (this.#worker === w) this.#worker = undefined; // the next checkpoint starts a new one
      for (const f of this.#replies.splice(0)) f({ error: why });
    };
    w.on('error', (err) => gone(String(err)));
    w.on('exit', (code) => gone(`checkpoint worker exited (${code})`));
    this.#worker = w;
    return w;
  }

  /**
   * Wait for a running checkpoint, run a last one on the worker and stop it. Call before closing the
   * owner's connection (the last connection to close checkpoints the rest and removes the WAL).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#running?.catch(() => undefined);
    const w = this.#worker;
    this.#worker = undefined;
    if (!w) return;
    w.ref();
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage('close');
    await exited;
  }
}
