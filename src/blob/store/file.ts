import { createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, promises as fs, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PlexusError } from '../../errors.js';
import { FILE_STORE_LOCK_WAIT_MS } from '../../limits.js';
import type { AnchorEntry } from '../anchor.js';
import { parseRef, refFromBytes, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import { RootPointerStore, anchorPair, buildMap } from '../bs/anchor-map.js';
import { ANCHOR_MAP_ROOT_NAME } from '../bs/root-name.js';
import type { PutResult } from '../store.js';
import { fileParts, verifiedParts, type BlobReader, type StreamingBlobStore } from './stream.js';
import { decodeHistory } from './history-json.js';

/** bs's store/file: the anchor map's root ref, 32 raw bytes, in this file under the store's root. */
const ANCHOR_MAP_REF_FILE = 'anchormapref';
/** A lock file older than this was left by a crashed writer and is removed (github.com/bobg/flock's default, which bs uses). */
const BS_LOCK_EXPIRY_MS = 60_000;
/** Where plexus kept anchors before it used bs's anchor map (read once, by the migration). */
const LEGACY_ANCHOR_DIR = 'anchors';
const HEX2 = /^[0-9a-f]{2}$/, HEX4 = /^[0-9a-f]{4}$/, HEX64 = /^[0-9a-f]{64}$/;

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
}

/** FileStore options. */
export interface FileStoreOptions {
  /**
   * Also survive a power loss / OS crash: fsync each blob and its directory before acknowledging a put
   * (~3 ms per put on an SSD). Default false: every acknowledged put survives a crash of the process,
   * as with plexus's SQLite stores (WAL, synchronous=NORMAL), and a blob damaged by a power loss is
   * detected (size check on put, hash check on get) and repaired by the next put of the same bytes.
   */
  fsync?: boolean;
}

/**
 * A directory of files in bs's store/file layout (github.com/bobg/bs v0.4.5): blobs in
 * `blobs/<hex[0:2]>/<hex[0:4]>/<hex>`, anchors in bs's anchor map (a schema.Map in the blobs) whose root
 * ref is the 32 bytes of `anchormapref`. So a directory bs wrote opens as it is, and bs reads what plexus
 * writes. Beyond bs: writes go to a temp file under `tmp/` that is then hard-linked into place, so a
 * crash never leaves a partial blob under a valid name and two writers of the same blob agree on who
 * added it; the root is swapped by compare-and-swap under bs's own lock file (`anchormapref.lock`),
 * replaced atomically and always fsynced. (bs's own writer takes the lock but does not compare, so a bs
 * program writing anchors at the same moment as plexus can still overwrite plexus's change.)
 */
export class FileStore extends RootPointerStore implements StreamingBlobStore {
  readonly root: string;
  readonly fsync: boolean;
  /** Second-level blob directories known to exist (at most 65536). */
  #dirs = new Set<string>();
  #tmpPrefix = `${process.pid}-${randomBytes(6).toString('hex')}-`;
  #tmpSeq = 0;

  constructor(root: string, opts: FileStoreOptions = {}) {
    super();
    this.root = root;
    this.fsync = opts.fsync ?? false;
    for (const d of ['blobs', 'tmp']) mkdirSync(join(root, d), { recursive: true });
    // The 256 first-level directories are made once, up front (`ff` is made last: its presence says all
    // are there), so a put creates at most one directory.
    if (!existsSync(join(root, 'blobs', 'ff'))) {
      for (let i = 0; i < 256; i++) mkdirSync(join(root, 'blobs', i.toString(16).padStart(2, '0')), { recursive: true });
    }
  }

  #path(ref: Ref): string {
    return join(this.root, 'blobs', ref.slice(0, 2), ref.slice(0, 4), ref);
  }

  #tmp(): string {
    return join(this.root, 'tmp', this.#tmpPrefix + (this.#tmpSeq++).toString(36));
  }

  async #syncDir(dir: string): Promise<void> {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const path = this.#path(parseRef(ref));
    let data: Buffer;
    try {
      data = await fs.readFile(path);
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
      throw err;
    }
    try {
      verifyRef(ref, data);
    } catch (err) {
      await this.#quarantine(ref, path);
      throw err;
    }
    return data;
  }

  /**
   * Move a damaged blob file out of `blobs/` so the next put of the same bytes stores them again. A put
   * may have repaired the file after we read it: if what we moved verifies, link it back.
   */
  async #quarantine(ref: Ref, path: string): Promise<void> {
    const aside = this.#tmp();
    try {
      await fs.rename(path, aside);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      throw err;
    }
    try {
      const moved = await fs.readFile(aside);
      if (refOf(moved) === ref) await fs.link(aside, path).catch((err: unknown) => { if (!isCode(err, 'EEXIST')) throw err; });
    } finally {
      await fs.rm(aside, { force: true });
    }
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    return this.#install(ref, bytes.byteLength, (tmp) => this.#writeNew(tmp, bytes, this.fsync));
  }

  /** Store a staged file: hashed as it is copied (one part at a time) into a temp file, then linked into place. */
  async putFile(path: string, ref: Ref): Promise<PutResult> {
    parseRef(ref);
    const size = (await fs.stat(path)).size;
    return this.#install(ref, size, async (tmp) => {
      const h = createHash('sha256');
      const fh = await fs.open(tmp, 'wx');
      try {
        for await (const p of fileParts(path)) {
          h.update(p);
          for (let off = 0; off < p.byteLength; ) off += (await fh.write(p, off, p.byteLength - off)).bytesWritten;
        }
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      const actual = h.digest('hex');
      if (actual !== ref) throw new PlexusError('HASH_MISMATCH', `content hashes to ${actual}, not ${ref}`, { detail: { ref, actual } });
    });
  }

  /** Read a blob with a read stream (one part in memory), hash-verified; a corrupt file is moved aside. */
  async openRead(ref: Ref): Promise<BlobReader> {
    const path = this.#path(parseRef(ref));
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    return { size: st.size, parts: verifiedParts(ref, fileParts(path), () => this.#quarantine(ref, path)) };
  }

  /** Put `size` bytes under `ref`: `write` fills a temp file, which is then linked into place (see put). */
  async #install(ref: Ref, size: number, write: (tmp: string) => Promise<void>): Promise<PutResult> {
    const final = this.#path(ref);
    const dir = dirname(final);
    // Metadata calls are synchronous: a few microseconds each on a local disk, less than a round trip
    // through libuv's thread pool. One stat: present with the right size is a hit. A wrong size is a blob
    // damaged by a power loss (without `fsync`): replace it. Same-size damage is caught by get's hash
    // check, which moves the file aside.
    const st = statSync(final, { throwIfNoEntry: false });
    if (st && st.size === size) return { ref, added: false };
    const tmp = this.#tmp();
    try {
      // A new directory (0.3 ms here, most puts into a young store need one) is made while the data is written.
      let made: Promise<void> | undefined;
      if (!st && !this.#dirs.has(dir)) {
        made = fs.mkdir(dir, { recursive: true }).then(async (created) => {
          if (created !== undefined && this.fsync) await this.#syncDir(dirname(dir));
          this.#dirs.add(dir);
        });
      }
      await Promise.all([write(tmp), made]);
      if (st) {
        renameSync(tmp, final); // atomic replace of the damaged file
      } else {
        try {
          try {
            linkSync(tmp, final);
          } catch (err) {
            if (!isCode(err, 'ENOENT')) throw err;
            // The directory went away since we cached it (someone cleaned up): make it again.
            mkdirSync(dir, { recursive: true });
            if (this.fsync) await this.#syncDir(dirname(dir));
            linkSync(tmp, final);
          }
        } catch (err) {
          if (!isCode(err, 'EEXIST')) throw err;
          if (statSync(final).size === size) return { ref, added: false }; // another writer won the race
          renameSync(tmp, final);
        }
      }
      if (this.fsync) await this.#syncDir(dir);
      return { ref, added: true };
    } finally {
      unlinkQuietly(tmp);
    }
  }

  /** Write a new file (temp name) with one write call (writeFile would cut it in 512 KiB writes); fsync it when `sync`. */
  async #writeNew(path: string, data: Uint8Array | string, sync: boolean): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const fh = await fs.open(path, 'wx');
    try {
      for (let off = 0; off < bytes.byteLength; ) off += (await fh.write(bytes, off, bytes.byteLength - off)).bytesWritten;
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async has(ref: Ref): Promise<boolean> {
    try {
      await fs.access(this.#path(parseRef(ref)));
      return true;
    } catch {
      return false;
    }
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    parseRef(after);
    const base = join(this.root, 'blobs');
    const ls = (dir: string, re: RegExp) => {
      try {
        return readdirSync(dir).filter((n) => re.test(n)).sort();
      } catch {
        return [];
      }
    };
    for (const a of ls(base, HEX2)) {
      if (a < after.slice(0, 2)) continue;
      for (const b of ls(join(base, a), HEX4)) {
        if (b < after.slice(0, 4)) continue;
        for (const r of ls(join(base, a, b), HEX64)) if (r > after && r.startsWith(b)) yield r as Ref;
      }
    }
  }

  // ---- anchors: bs's anchor map, its root in `anchormapref` (32 raw bytes), as bs's store/file keeps it

  #rootFile(): string {
    return join(this.root, ANCHOR_MAP_REF_FILE);
  }

  /** Migration of a directory from plexus's earlier anchor layout, run once before the first anchor access. */
  #migrated: Promise<void> | undefined;

  /** The migration, run once; a failed one is tried again at the next anchor access. */
  #migration(): Promise<void> {
    return (this.#migrated ??= this.#migrate().catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    }));
  }

  async anchorMapRef(): Promise<Ref | undefined> {
    await this.#migration();
    return this.#readRoot();
  }

  async #readRoot(locked = false): Promise<Ref | undefined> {
    let b: Buffer;
    try {
      b = await fs.readFile(this.#rootFile());
    } catch (err) {
      if (isCode(err, 'ENOENT')) return undefined;
      throw err;
    }
    if (b.length !== 32) {
      // bs rewrites the file in place (truncate, write) under its lock: read again holding the lock.
      if (!locked) return this.#withRootLock(() => this.#readRoot(true));
      throw new PlexusError('INTERNAL', `${this.#rootFile()} holds ${b.length} bytes, not a 32-byte ref`);
    }
    const ref = refFromBytes(b);
    return ref === ZERO_REF ? undefined : ref;
  }

  /**
   * Run `fn` holding bs's lock on the anchor map ref: the file `anchormapref.lock`, created exclusively
   * (github.com/bobg/flock, as bs's store/file uses it), so plexus and bs writers exclude each other. A
   * lock older than BS_LOCK_EXPIRY_MS is left by a crashed writer and removed, as bs does; a live one is
   * waited for up to FILE_STORE_LOCK_WAIT_MS, then CONFLICT.
   */
  async #withRootLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = this.#rootFile() + '.lock';
    const deadline = Date.now() + FILE_STORE_LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      try {
        await (await fs.open(lock, 'wx')).close();
        break;
      } catch (err) {
        if (!isCode(err, 'EEXIST')) throw err;
        const st = statSync(lock, { throwIfNoEntry: false });
        if (st && Date.now() - st.mtimeMs > BS_LOCK_EXPIRY_MS) { unlinkQuietly(lock); continue; }
        if (Date.now() > deadline) throw new PlexusError('CONFLICT', 'the anchor map ref is locked by another writer');
        await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
      }
    }
    try {
      return await fn();
    } finally {
      unlinkQuietly(lock);
    }
  }

  protected async casRoot(prev: Ref, next: Ref): Promise<void> {
    await this.#migration();
    await this.#withRootLock(async () => {
      const cur = (await this.#readRoot(true)) ?? ZERO_REF;
      if (cur !== prev) throw new PlexusError('CONFLICT', 'anchor map root changed concurrently');
      await this.#writeRoot(next);
    });
  }

  /** Replace `anchormapref` atomically (temp file, fsync, rename, fsync of the directory): anchors are always durable. */
  async #writeRoot(ref: Ref): Promise<void> {
    const tmp = this.#tmp();
    try {
      await this.#writeNew(tmp, refToBytes(ref), true);
      await fs.rename(tmp, this.#rootFile());
      await this.#syncDir(this.root);
    } finally {
      unlinkQuietly(tmp);
    }
  }

  /**
   * A directory written by an earlier plexus kept anchors in `anchors/<sha256(name)>.json`: on first use
   * they are written into an anchor map and `anchormapref` is created (exclusively, so concurrent
   * migrators agree). A directory a BsStore wrapped already has its map: its root pointer, the reserved
   * name ANCHOR_MAP_ROOT_NAME, becomes `anchormapref`. The old files stay and are no longer read.
   */
  async #migrate(): Promise<void> {
    if (existsSync(this.#rootFile())) return;
    const dir = join(this.root, LEGACY_ANCHOR_DIR);
    let files: string[];
    try {
      files = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      throw err;
    }
    const histories = new Map<string, AnchorEntry[]>();
    for (const f of files) {
      try {
        const v = JSON.parse(await fs.readFile(join(dir, f), 'utf8')) as { name: string; history: unknown };
        histories.set(v.name, decodeHistory(v.history));
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
      }
    }
    let root: Ref | undefined = histories.get(ANCHOR_MAP_ROOT_NAME)?.at(-1)?.ref;
    if (root === ZERO_REF) root = undefined;
    if (!root) {
      const pairs = [...histories].filter(([name, h]) => name !== ANCHOR_MAP_ROOT_NAME && h.length > 0).map(([name, h]) => anchorPair(name, h));
      if (pairs.length === 0) return;
      root = await buildMap(this, pairs);
    }
    const tmp = this.#tmp();
    try {
      await this.#writeNew(tmp, refToBytes(root), true);
      try {
        await fs.link(tmp, this.#rootFile());
      } catch (err) {
        if (!isCode(err, 'EEXIST')) throw err; // another process migrated first
      }
      await this.#syncDir(this.root);
    } finally {
      unlinkQuietly(tmp);
    }
  }

  async close(): Promise<void> {}
}
