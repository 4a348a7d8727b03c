import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PlexusError } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refFromBytes, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';
import { decodeHistory, encodeHistory } from './history-json.js';

const PAGE = 1000;
/** Blob bytes written after which the background checkpointer copies the WAL into the database (SQLite's default is 1000 pages, 64 MiB at our page size). */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;
/**
 * Blob bytes in the WAL since it last restarted after which puts wait for a checkpoint to catch up, so
 * the WAL can restart (it cannot while writes keep coming). Bounds the WAL file and the checkpoint debt.
 */
const WAL_MAX_BYTES = 1024 * 1024 * 1024;

/** SqliteStore options. */
export interface SqliteStoreOptions {
  /**
   * 'normal' (default, WAL + synchronous=NORMAL, as every plexus SQLite store): an acknowledged put
   * survives a crash of the process; a power loss may lose the last puts but never corrupts the file.
   * 'full': synchronous=FULL, the WAL is fsynced at every commit, so puts survive a power loss too.
   */
  synchronous?: 'normal' | 'full';
  /** Tuning: blob bytes the WAL may hold before puts wait for a checkpoint (default WAL_MAX_BYTES, 1 GiB). */
  walMaxBytes?: number;
}

/** The checkpointer thread: its own connection, so checkpoint writes and fsyncs never block puts. */
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 10000');
db.pragma('synchronous = ' + workerData.synchronous);
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
`;

interface CheckpointResult {
  busy?: number;
  log?: number;
  checkpointed?: number;
  error?: string;
}

/**
 * SQLite store (better-sqlite3), the embedded default. WAL mode: a crash of the process never loses a
 * committed put or anchor. Several stores (or processes) may open one file; anchors use CAS on a version.
 * Checkpoints (copying the WAL into the database, with its fsyncs) run on a worker thread with its own
 * connection instead of inside a put; puts wait for one only when the WAL holds `walMaxBytes`.
 */
export class SqliteStore extends AnchorStore implements BlobStore {
  readonly path: string;
  #db: Database.Database;
  #get: Database.Statement<[Buffer], { data: Buffer }>;
  #has: Database.Statement<[Buffer], { one: number }>;
  #put: Database.Statement<[Buffer, Buffer]>;
  #list: Database.Statement<[Buffer, number], { ref: Buffer }>;
  #readA: Database.Statement<[string], { version: number; history: string }>;
  #insA: Database.Statement<[string, string]>;
  #updA: Database.Statement<[number, string, string, number]>;
  #names: Database.Statement<[string, number], { name: string }>;

  readonly synchronous: 'normal' | 'full';
  readonly #walMax: number;
  #worker: Worker | undefined;
  #replies: ((r: CheckpointResult) => void)[] = [];
  #ckpt: Promise<void> | null = null;
  #drain: Promise<void> | null = null;
  #walBytes = 0;
  #sinceCkpt = 0;
  #writesDuringCkpt = 0;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    super();
    this.path = path;
    this.synchronous = opts.synchronous ?? 'normal';
    this.#walMax = opts.walMaxBytes ?? WAL_MAX_BYTES;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    // Big pages: blobs are large; 64 KiB pages make 1 MiB puts ~1.6x faster than the 4 KiB default.
    // (Takes effect only on a new database, before WAL mode is set.)
    this.#db.pragma('page_size = 65536');
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${this.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma('busy_timeout = 10000');
    // In-memory databases have no WAL; files get their checkpoints from #checkpoint (off the put path).
    if (path !== ':memory:') this.#db.pragma('wal_autocheckpoint = 0');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS blobs (ref BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS anchors (name TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, history TEXT NOT NULL);
    `);
    this.#get = this.#db.prepare('SELECT data FROM blobs WHERE ref = ?');
    this.#has = this.#db.prepare('SELECT 1 AS one FROM blobs WHERE ref = ?');
    this.#put = this.#db.prepare('INSERT INTO blobs (ref, data) VALUES (?, ?) ON CONFLICT DO NOTHING');
    this.#list = this.#db.prepare('SELECT ref FROM blobs WHERE ref > ? ORDER BY ref LIMIT ?');
    this.#readA = this.#db.prepare('SELECT version, history FROM anchors WHERE name = ?');
    this.#insA = this.#db.prepare('INSERT INTO anchors (name, version, history) VALUES (?, 1, ?) ON CONFLICT DO NOTHING');
    this.#updA = this.#db.prepare('UPDATE anchors SET version = ?, history = ? WHERE name = ? AND version = ?');
    this.#names = this.#db.prepare('SELECT name FROM anchors WHERE name > ? ORDER BY name LIMIT ?');
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const row = this.#get.get(refToBytes(parseRef(ref)));
    if (!row) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    verifyRef(ref, row.data);
    return row.data;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    if (this.#walBytes >= this.#walMax) await (this.#drain ??= this.#catchUp().finally(() => (this.#drain = null)));
    const info = this.#put.run(refToBytes(ref), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (info.changes > 0) this.#wrote(bytes.byteLength);
    return { ref, added: info.changes > 0 };
  }

  #wrote(n: number): void {
    if (this.path === ':memory:') return;
    this.#walBytes += n;
    this.#sinceCkpt += n;
    if (this.#ckpt) this.#writesDuringCkpt++;
    else if (this.#sinceCkpt >= CHECKPOINT_BYTES) void this.#checkpoint().catch(() => {});
  }

  /** Run one PASSIVE checkpoint on the worker thread (starting it on first use). */
  #checkpoint(): Promise<void> {
    if (this.#ckpt) return this.#ckpt;
    this.#sinceCkpt = 0;
    this.#writesDuringCkpt = 0;
    if (!this.#worker) {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      this.#worker = new Worker(CHECKPOINTER, { eval: true, workerData: { driver, path: this.path, synchronous: this.synchronous === 'full' ? 'FULL' : 'NORMAL' } });
      this.#worker.unref();
      this.#worker.on('message', (r: CheckpointResult) => this.#replies.shift()?.(r));
      this.#worker.on('error', (err) => { for (const f of this.#replies.splice(0)) f({ error: String(err) }); });
    }
    const worker = this.#worker;
    worker.ref(); // keep the process alive while a checkpoint is pending (idle, the thread holds nothing up)
    this.#ckpt = new Promise<CheckpointResult>((resolve) => {
      this.#replies.push(resolve);
      worker.postMessage('checkpoint');
    }).then((r) => {
      worker.unref();
      this.#ckpt = null;
      if (r.error !== undefined) throw new PlexusError('INTERNAL', `blob store checkpoint failed: ${r.error}`);
      // All of the WAL copied and nothing written meanwhile: the next write restarts the WAL.
      if (r.busy === 0 && r.log === r.checkpointed && this.#writesDuringCkpt === 0) this.#walBytes = 0;
    }, (err: unknown) => {
      worker.unref();
      this.#ckpt = null;
      throw err;
    });
    return this.#ckpt;
  }

  /** Too much WAL: let the running checkpoint finish, then run one with no write in between. */
  async #catchUp(): Promise<void> {
    if (this.#ckpt) await this.#ckpt.catch(() => {});
    await this.#checkpoint();
  }

  async has(ref: Ref): Promise<boolean> {
    return this.#has.get(refToBytes(parseRef(ref))) !== undefined;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    let cursor = refToBytes(parseRef(after));
    for (;;) {
      const rows = this.#list.all(cursor, PAGE);
      for (const r of rows) yield refFromBytes(r.ref);
      if (rows.length < PAGE) return;
      cursor = rows[rows.length - 1]!.ref;
    }
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const row = this.#readA.get(name);
    return row ? { version: row.version, history: decodeHistory(row.history) } : { version: 0, history: [] };
  }

  async writeAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const text = encodeHistory(history);
    const changed = version === 0 ? this.#insA.run(name, text).changes : this.#updA.run(version + 1, text, name, version).changes;
    if (changed === 0) throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} changed concurrently`);
    return version + 1;
  }

  async *anchorNames(): AsyncIterable<string> {
    let cursor = '';
    for (;;) {
      const rows = this.#names.all(cursor, PAGE);
      for (const r of rows) yield r.name;
      if (rows.length < PAGE) return;
      cursor = rows[rows.length - 1]!.name;
    }
  }

  /** Number of blobs and their total size (for /healthz). */
  async stats(): Promise<{ blobs: number; bytes: number; anchors: number }> {
    const b = this.#db.prepare('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM blobs').get() as { n: number; bytes: number };
    const a = this.#db.prepare('SELECT count(*) AS n FROM anchors').get() as { n: number };
    return { blobs: b.n, bytes: b.bytes, anchors: a.n };
  }

  async close(): Promise<void> {
    await this.#ckpt?.catch(() => {});
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) {
      worker.ref();
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('close');
      await exited;
    }
    if (this.#db.open) this.#db.close();
  }
}
