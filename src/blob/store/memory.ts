import { PlexusError } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refOf, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';

/** An in-memory store (for tests and caches). Copies bytes in and out, so callers cannot corrupt it. */
export class MemoryStore extends AnchorStore implements BlobStore {
  #blobs = new Map<Ref, Uint8Array>();
  #sorted: Ref[] | null = null;
  #anchors = new Map<string, VersionedHistory>();

  async get(ref: Ref): Promise<Uint8Array> {
    const b = this.#blobs.get(parseRef(ref));
    if (!b) throw new PlexusError('NOT_FOUND', `blob ${ref} not found`);
    return b.slice();
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const ref = refOf(bytes);
    if (this.#blobs.has(ref)) return { ref, added: false };
    this.#blobs.set(ref, Uint8Array.prototype.slice.call(bytes));
    this.#sorted = null;
    return { ref, added: true };
  }

  async has(ref: Ref): Promise<boolean> {
    return this.#blobs.has(parseRef(ref));
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    parseRef(after);
    this.#sorted ??= [...this.#blobs.keys()].sort();
    for (const r of this.#sorted) if (r > after) yield r;
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const v = this.#anchors.get(name);
    return v ? { history: v.history.slice(), version: v.version } : { history: [], version: 0 };
  }

  protected async casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const cur = this.#anchors.get(name)?.version ?? 0;
    if (cur !== version) throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} changed concurrently`);
    this.#anchors.set(name, { history: history.map((e) => ({ ...e })), version: version + 1 });
    return version + 1;
  }

  async *anchorNames(): AsyncIterable<string> {
    yield* [...this.#anchors.keys()];
  }

  async close(): Promise<void> {}
}
