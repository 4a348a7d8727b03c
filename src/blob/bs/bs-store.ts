import { PlexusError } from '../../errors.js';
import { retryOnConflict } from '../anchor.js';
import { ZERO_REF, type Ref } from '../ref.js';
import type { PutResult, Store } from '../store.js';
import { openReadAny, putFileAny, type BlobReader } from '../store/stream.js';
import { AnchorMapStore, anchorPair, buildMap, checkRootSwap } from './anchor-map.js';

import { ANCHOR_MAP_ROOT_NAME } from './root-name.js';

export { ANCHOR_MAP_ROOT_NAME };

/**
 * A plexus store whose anchors live in bs's anchor map (a schema.Map in the store's own blobs), so a
 * Go bs program (through the gRPC service) and plexus's anchor API read and write the same anchors.
 * Blobs go straight to the wrapped store; the map's root pointer is kept in the wrapped store's own
 * anchors under ANCHOR_MAP_ROOT_NAME and swapped by its compare-and-swap, so it works over every
 * plexus adapter (memory, SQLite, PostgreSQL) and across processes sharing one store. A store that
 * keeps bs's anchor map itself (FileStore, BsSqliteStore, BsPgStore) is used as it is: its own root.
 */
export class BsStore extends AnchorMapStore {
  private constructor(readonly inner: Store) { super(); }

  /**
   * Wrap `inner`. A store that has plexus anchors but no anchor map yet (made by an earlier plexus)
   * is migrated in place: its anchors are written into a new anchor map (the old per-name rows are
   * left as they were and no longer read through this wrapper).
   */
  static async open(inner: Store): Promise<BsStore> {
    const s = new BsStore(inner);
    if (inner instanceof AnchorMapStore) return s; // keeps bs's anchor map itself (FileStore, BsSqliteStore, BsPgStore)
    await retryOnConflict(async () => {
      if (await s.anchorMapRef()) return;
      const pairs = [];
      for await (const name of inner.anchorNames()) {
        if (name === ANCHOR_MAP_ROOT_NAME) continue;
        pairs.push(anchorPair(name, (await inner.readAnchors(name)).history));
      }
      if (pairs.length === 0) return;
      await s.swapAnchorMap(ZERO_REF, await buildMap(inner, pairs));
    });
    return s;
  }

  get(ref: Ref): Promise<Uint8Array> { return this.inner.get(ref); }
  put(bytes: Uint8Array): Promise<PutResult> { return this.inner.put(bytes); }
  has(ref: Ref): Promise<boolean> { return this.inner.has(ref); }
  refs(opts?: { after?: Ref }): AsyncIterable<Ref> { return this.inner.refs(opts); }
  close(): Promise<void> { return this.inner.close(); }
  /** Streamed reads and staged-file puts go to the wrapped store (whole-blob fallbacks where it has none). */
  openRead(ref: Ref): Promise<BlobReader> { return openReadAny(this.inner, ref); }
  putFile(path: string, ref: Ref): Promise<PutResult> { return putFileAny(this.inner, path, ref); }

  async anchorMapRef(): Promise<Ref | undefined> {
    if (this.inner instanceof AnchorMapStore) return this.inner.anchorMapRef();
    const { history } = await this.inner.readAnchors(ANCHOR_MAP_ROOT_NAME);
    const last = history[history.length - 1];
    return last && last.ref !== ZERO_REF ? last.ref : undefined;
  }

  async swapAnchorMap(prev: Ref, next: Ref): Promise<void> {
    if (this.inner instanceof AnchorMapStore) return this.inner.swapAnchorMap(prev, next); // which checks them
    await checkRootSwap(this.inner, prev, next);
    return this.#swap(prev, next);
  }

  protected override swapOwnAnchorMap(prev: Ref, next: Ref): Promise<void> {
    if (this.inner instanceof AnchorMapStore) return this.inner.swapAnchorMap(prev, next);
    return this.#swap(prev, next);
  }

  async #swap(prev: Ref, next: Ref): Promise<void> {
    const { history, version } = await this.inner.readAnchors(ANCHOR_MAP_ROOT_NAME);
    const cur = history[history.length - 1]?.ref ?? ZERO_REF;
    if (cur !== prev) throw new PlexusError('CONFLICT', `anchor map root is ${cur === ZERO_REF ? 'unset' : cur}, not ${prev === ZERO_REF ? 'unset' : prev}`);
    if (cur === next) return;
    await this.inner.writeAnchors(ANCHOR_MAP_ROOT_NAME, version, [{ at: Date.now(), ref: next }]);
  }

  /** The wrapped store's figures (for /healthz), when it has them. */
  async stats(): Promise<Record<string, number>> {
    const s = this.inner as Store & { stats?(): Promise<Record<string, number>> };
    return s.stats ? s.stats() : {};
  }
}
