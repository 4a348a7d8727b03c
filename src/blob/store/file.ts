import { createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, promises as fs, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PlexusError } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refOf, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { PutResult } from '../store.js';
import { fileParts, verifiedParts, type BlobReader, type StreamingBlobStore } from './stream.js';
import { decodeHistory, encodeHistory } from './history-json.js';

/** A lock directory older than this is left over from a crashed writer and may be taken over (ms). */
const STALE_LOCK_MS = 10_000;
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
 * A directory of files, bs's layout: `blobs/<hex[0:2]>/<hex[0:4]>/<hex>`. Writes go to a temp file that
 * is then hard-linked into place, so a crash of the process never leaves a partial blob under a valid
 * name and two writers of the same blob agree on who added it. Anchors live in
 * `anchors/<sha256(name)>.json` with a version, updated under a lock directory (compare-and-swap); they
 * are always fsynced (small, rare, and a torn anchor file would lose a name's history).
 */
export class FileStore extends AnchorStore implements StreamingBlobStore {
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
    for (const d of ['blobs', 'anchors', 'tmp']) mkdirSync(join(root, d), { recursive: true });
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

  #anchorFile(name: string): string {
    return join(this.root, 'anchors', createHash('sha256').update(name).digest('hex') + '.json');
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    try {
      const v = JSON.parse(await fs.readFile(this.#anchorFile(name), 'utf8')) as { name: string; version: number; history: unknown };
      return { version: v.version, history: decodeHistory(v.history) };
    } catch (err) {
      if (isCode(err, 'ENOENT')) return { version: 0, history: [] };
      throw err;
    }
  }

  protected async casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const file = this.#anchorFile(name);
    const lock = file + '.lock';
    try {
      await fs.mkdir(lock);
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) await fs.rm(lock, { recursive: true, force: true });
      throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} is being written concurrently`);
    }
    try {
      const current = (await this.readAnchors(name)).version;
      if (current !== version) throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} changed concurrently`);
      const tmp = this.#tmp();
      await this.#writeNew(tmp, JSON.stringify({ name, version: version + 1, history: JSON.parse(encodeHistory(history)) }), true); // anchors: always fsynced
      await fs.rename(tmp, file);
      return version + 1;
    } finally {
      await fs.rm(lock, { recursive: true, force: true });
    }
  }

  async *anchorNames(): AsyncIterable<string> {
    const dir = join(this.root, 'anchors');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      try {
        const v = JSON.parse(await fs.readFile(join(dir, f), 'utf8')) as { name: string };
        yield v.name;
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
      }
    }
  }

  async close(): Promise<void> {}
}
