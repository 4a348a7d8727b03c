/**
 * The plexus anchor name under which a BsStore keeps its anchor map's root ref in the store it wraps
 * (a one-entry history, swapped with that store's per-name compare-and-swap).
 */
export const ANCHOR_MAP_ROOT_NAME = '__plexus__bs_anchor_map_root__';
