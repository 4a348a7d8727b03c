import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PlexusError } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refOf, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';
import { decodeHistory, encodeHistory } from './history-json.js';

/** A lock directory older than this is left over from a crashed writer and may be taken over (ms). */
const STALE_LOCK_MS = 10_000;
const HEX2 = /^[0-9a-f]{2}$/, HEX4 = /^[0-9a-f]{4}$/, HEX64 = /^[0-9a-f]{64}$/;

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * A directory of files, bs's layout: `blobs/<hex[0:2]>/<hex[0:4]>/<hex>`. Writes go to a temp file,
 * are fsynced and then hard-linked into place, so a crash never leaves a partial blob under a valid
 * name and two writers of the same blob agree on who added it. Anchors live in
 * `anchors/<sha256(name)>.json` with a version, updated under a lock directory (compare-and-swap).
 */
export class FileStore extends AnchorStore implements BlobStore {
  readonly root: string;
  #dirs = new Set<string>();

  constructor(root: string) {
    super();
    this.root = root;
    for (const d of ['blobs', 'anchors', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  }

  #path(ref: Ref): string {
    return join(this.root, 'blobs', ref.slice(0, 2), ref.slice(0, 4), ref);
  }

  #tmp(): string {
    return join(this.root, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  async #writeDurable(path: string, data: Uint8Array | string): Promise<void> {
    const fh = await fs.open(path, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async get(ref: Ref): Promise<Uint8Array> {
    let data: Buffer;
    try {
      data = await fs.readFile(this.#path(parseRef(ref)));
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
      throw err;
    }
    verifyRef(ref, data);
    return data;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    const final = this.#path(ref);
    try {
      await fs.access(final);
      return { ref, added: false };
    } catch { /* absent: write it */ }
    const tmp = this.#tmp();
    await this.#writeDurable(tmp, bytes);
    try {
      const dir = join(final, '..');
      if (!this.#dirs.has(dir)) { await fs.mkdir(dir, { recursive: true }); this.#dirs.add(dir); }
      await fs.link(tmp, final);
      return { ref, added: true };
    } catch (err) {
      if (isCode(err, 'EEXIST')) return { ref, added: false };
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
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

  async writeAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
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
      await this.#writeDurable(tmp, JSON.stringify({ name, version: version + 1, history: JSON.parse(encodeHistory(history)) }));
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
