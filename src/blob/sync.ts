import { throwIfAborted } from '../errors.js';
import { unionHistories } from './anchor.js';
import type { Ref } from './ref.js';
import type { Store } from './store.js';

/** Progress of a sync, reported as it goes. */
export interface SyncProgress {
  phase: 'blobs' | 'anchors';
  /** refs (or names) looked at so far */
  seen: number;
  /** blobs (or anchor histories) copied so far */
  copied: number;
  /** bytes of blobs copied so far */
  bytes: number;
}

export interface SyncOptions {
  signal?: AbortSignal;
  onProgress?(p: SyncProgress): void;
}

/** Merge the sorted ref listings of several stores: yields each ref once, with which stores hold it. */
async function* mergedRefs(stores: readonly Store[]): AsyncGenerator<{ ref: Ref; holders: boolean[] }> {
  const its = stores.map((s) => s.refs()[Symbol.asyncIterator]());
  const heads = await Promise.all(its.map((it) => it.next()));
  for (;;) {
    let min: Ref | undefined;
    for (const h of heads) if (!h.done && (min === undefined || h.value < min)) min = h.value;
    if (min === undefined) return;
    const holders = heads.map((h) => !h.done && h.value === min);
    yield { ref: min, holders };
    await Promise.all(heads.map(async (h, i) => { if (holders[i]) heads[i] = await its[i]!.next(); }));
  }
}

/**
 * Make every store hold every blob and every anchor of every other (bs's Sync, made convergent):
 * blobs missing anywhere are copied from a holder; each name's history becomes the union of all
 * stores' histories (exact duplicates once), written identically to every store.
 */
export async function sync(stores: readonly Store[], opts: SyncOptions = {}): Promise<{ blobsCopied: number; bytesCopied: number; anchorsUpdated: number }> {
  const progress: SyncProgress = { phase: 'blobs', seen: 0, copied: 0, bytes: 0 };
  if (stores.length < 2) return { blobsCopied: 0, bytesCopied: 0, anchorsUpdated: 0 };
  for await (const { ref, holders } of mergedRefs(stores)) {
    throwIfAborted(opts.signal);
    progress.seen++;
    if (holders.every(Boolean)) continue;
    const data = await stores[holders.indexOf(true)]!.get(ref);
    for (const [i, s] of stores.entries()) if (!holders[i]) { await s.put(data); progress.copied++; progress.bytes += data.length; }
    opts.onProgress?.(progress);
  }
  const blobsCopied = progress.copied, bytesCopied = progress.bytes;
  Object.assign(progress, { phase: 'anchors', seen: 0, copied: 0 });
  const names = new Set<string>();
  for (const s of stores) for await (const n of s.anchorNames()) names.add(n);
  for (const name of [...names].sort()) {
    throwIfAborted(opts.signal);
    progress.seen++;
    const histories = await Promise.all(stores.map((s) => s.history(name)));
    const union = unionHistories(histories);
    for (const [i, s] of stores.entries()) {
      const h = histories[i]!;
      if (h.length === union.length && h.every((e, j) => e.at === union[j]!.at && e.ref === union[j]!.ref)) continue;
      // A concurrent writer may have added entries since we read: merge them in, then converge.
      await s.replaceAnchors(name, unionHistories([union, await s.history(name)]));
      progress.copied++;
    }
    opts.onProgress?.(progress);
  }
  return { blobsCopied, bytesCopied, anchorsUpdated: progress.copied };
}
