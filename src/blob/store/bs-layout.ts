import type { AnchorMapStore } from '../bs/anchor-map.js';
import { loadMapNode } from '../bs/schema-map.js';

/** Anchor names in a bs-layout store's anchor map: the root node's member count (one read), for stats. */
export async function anchorCount(store: AnchorMapStore): Promise<number> {
  const root = await store.anchorMapRef();
  return root ? (await loadMapNode(store, root)).size : 0;
}
