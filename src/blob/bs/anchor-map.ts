import { createHash } from 'node:crypto';
import { PlexusError, isPlexusError } from '../../errors.js';
import { ANCHOR_UPDATE_RETRIES } from '../../limits.js';
import { AnchorStore, type Anchor, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, refFromBytes, refOf, refToBytes, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';
import { mapEach, mapLookup, mapSet, loadMapNode, buildMap, type NodeStore } from './schema-map.js';

/** Map nodes an AnchorMapStore keeps in memory (least recently used dropped first). */
const NODE_CACHE_NODES = 512;
/** Nodes bigger than this are not cached (a node of 128 long histories can be large). */
const NODE_CACHE_MAX_NODE_BYTES = 256 * 1024;
import { decodeAnchor, decodeList, encodeAnchor, encodeList, msToNs, nsToMs, type MapPair } from './wire.js';

/**
 * Anchors kept as bs keeps them (github.com/bobg/bs v0.4.5, anchor/anchor.go): the whole anchor state
 * is one schema.Map in the blob store, keyed by anchor name; each payload is a serialized schema.List
 * whose members are serialized anchor.Anchor protobufs (ref + nanosecond timestamp), oldest first.
 * The store keeps one mutable thing, the ref of the map's root, swapped by compare-and-swap.
 *
 * Precision: bs keeps nanoseconds, plexus's API milliseconds. Reads round bs times down to the
 * millisecond; a write through plexus keeps the exact bytes (so the nanoseconds) of every entry it
 * leaves unchanged, and writes new entries at whole milliseconds.
 *
 * A name's `version` (plexus's per-name compare-and-swap) is derived from the bytes of its payload:
 * 0 for a name not in the map, else a 48-bit hash of the payload plus one. A write with a stale
 * version fails with CONFLICT; a write to one name retries the root swap by itself while only other
 * names changed, so writers of different names do not fail each other.
 */
export abstract class AnchorMapStore extends AnchorStore implements BlobStore {
  abstract get(ref: Ref): Promise<Uint8Array>;
  abstract put(bytes: Uint8Array): Promise<PutResult>;
  abstract has(ref: Ref): Promise<boolean>;
  abstract refs(opts?: { after?: Ref }): AsyncIterable<Ref>;
  abstract close(): Promise<void>;

  /** Ref of the current anchor map's root, or undefined when no anchor map exists yet. */
  abstract anchorMapRef(): Promise<Ref | undefined>;
  /**
   * Make `next` the anchor map's root if the root is still `prev` (ZERO_REF: no map yet); else throw
   * CONFLICT and change nothing. `next` must be a stored schema.Map node.
   */
  abstract swapAnchorMap(prev: Ref, next: Ref): Promise<void>;

  /**
   * Map nodes are immutable (content-addressed), so recently read or written ones are kept here:
   * an update then costs one root read, the new nodes' puts and one swap.
   */
  readonly #nodes = new Map<Ref, Uint8Array>();
  /** The map functions' view of this store, through the node cache. */
  protected readonly nodes: NodeStore = {
    get: async (ref) => {
      const hit = this.#nodes.get(ref);
      if (hit) { this.#nodes.delete(ref); this.#nodes.set(ref, hit); return hit; }
      const bytes = await this.get(ref);
      this.#remember(ref, bytes);
      return bytes;
    },
    put: async (bytes) => {
      const ref = refOf(bytes);
      if (this.#nodes.has(ref)) return { ref, added: false };
      const r = await this.put(bytes);
      this.#remember(r.ref, bytes);
      return r;
    },
  };

  #remember(ref: Ref, bytes: Uint8Array): void {
    if (bytes.length > NODE_CACHE_MAX_NODE_BYTES) return;
    this.#nodes.set(ref, bytes);
    if (this.#nodes.size > NODE_CACHE_NODES) this.#nodes.delete(this.#nodes.keys().next().value!);
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const root = await this.anchorMapRef();
    if (!root) return { history: [], version: 0 };
    const payload = await mapLookup(this.nodes, root, nameKey(name));
    return payload === undefined ? { history: [], version: 0 } : { history: historyOf(payload), version: versionOf(payload) };
  }

  /** Writes through this instance run one at a time, so they never fail each other's root swap. */
  #writing: Promise<unknown> = Promise.resolve();

  /** The compare-and-swap behind writeAnchors (which validates the history first, in AnchorStore). */
  protected async casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const run = this.#writing.then(() => this.#write(name, version, history));
    this.#writing = run.catch(() => {});
    return run;
  }

  /** Swap a root this instance built itself (subclasses may skip re-checking it). */
  protected swapOwnAnchorMap(prev: Ref, next: Ref): Promise<void> {
    return this.swapAnchorMap(prev, next);
  }

  async #write(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const key = nameKey(name);
    for (let attempt = 0; ; attempt++) {
      const root = await this.anchorMapRef();
      const payload = root ? await mapLookup(this.nodes, root, key) : undefined;
      const current = payload === undefined ? 0 : versionOf(payload);
      if (current !== version) throw new PlexusError('CONFLICT', `anchor ${JSON.stringify(name)} changed concurrently`);
      const next = encodeHistory(history, payload === undefined ? [] : decodeList(payload));
      const { ref } = await mapSet(this.nodes, root, key, next);
      try {
        if (ref !== root) await this.swapOwnAnchorMap(root ?? ZERO_REF, ref);
        return versionOf(next);
      } catch (err) {
        // Another name changed under us: our name may still be at `version`, so look again.
        if (!isPlexusError(err, 'CONFLICT') || attempt >= ANCHOR_UPDATE_RETRIES) throw err;
      }
    }
  }

  async *anchorNames(): AsyncIterable<string> {
    const root = await this.anchorMapRef();
    if (!root) return;
    for await (const p of mapEach(this.nodes, root)) yield nameOf(p.key);
  }

  /** Every entry of every name from one snapshot of the map (names in key-hash order). */
  override async *eachAnchor(): AsyncIterable<Anchor> {
    const root = await this.anchorMapRef();
    if (!root) return;
    for await (const p of mapEach(this.nodes, root)) {
      const name = nameOf(p.key);
      for (const e of historyOf(p.payload)) yield { name, ...e };
    }
  }

  /** Every entry of every name with bs's nanosecond times, from one snapshot of the map. */
  async *eachAnchorNs(): AsyncIterable<{ name: string; ref: Ref; atNs: bigint }> {
    const root = await this.anchorMapRef();
    if (!root) return;
    for await (const p of mapEach(this.nodes, root)) {
      const name = nameOf(p.key);
      for (const m of decodeList(p.payload)) { const a = decodeAnchor(m); yield { name, ref: refFromBytes(a.ref), atNs: a.atNs }; }
    }
  }
}

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }); // a name may start with U+FEFF: keep it
const nameKey = (name: string): Uint8Array => te.encode(name);
const nameOf = (key: Uint8Array): string => td.decode(key);

/** A name's history from its map payload (times rounded down to ms). */
export function historyOf(payload: Uint8Array): AnchorEntry[] {
  return decodeList(payload).map((m) => {
    const a = decodeAnchor(m);
    if (a.ref.length !== 32) throw new PlexusError('BAD_REQUEST', 'anchor entry with a ref that is not 32 bytes');
    return { at: nsToMs(a.atNs), ref: refFromBytes(a.ref) };
  });
}

/** The plexus version of a payload: 48 bits of its SHA-256, plus one (0 is "not in the map"). */
export function versionOf(payload: Uint8Array): number {
  return createHash('sha256').update(payload).digest().readUIntBE(0, 6) + 1;
}

/**
 * A history as a map payload. Entries equal (ms and ref) to an entry of `previous` keep that entry's
 * exact bytes, so nanoseconds written by bs survive plexus edits of other entries.
 */
export function encodeHistory(history: readonly AnchorEntry[], previous: readonly Uint8Array[]): Uint8Array {
  const pool = new Map<string, Uint8Array[]>();
  for (const m of previous) {
    const a = decodeAnchor(m);
    const k = `${nsToMs(a.atNs)}:${refFromBytes(a.ref)}`;
    pool.set(k, [...(pool.get(k) ?? []), m]);
  }
  return encodeList(history.map((e) => pool.get(`${e.at}:${e.ref}`)?.shift() ?? encodeAnchor({ ref: refToBytes(e.ref), atNs: msToNs(e.at) })));
}

/** The map pair of one name with a plexus history (new entries at whole ms), as bs would store it. */
export function anchorPair(name: string, history: readonly AnchorEntry[]): MapPair {
  return { key: nameKey(name), payload: encodeHistory(history, []) };
}

/** Check that `ref` is a stored schema.Map root (BAD_REQUEST if not a map node, NOT_FOUND if absent). */
export async function checkMapRoot(store: BlobStore, ref: Ref): Promise<void> {
  await loadMapNode(store, ref);
}

/**
 * The checks of bs's UpdateAnchorMap on a root handed in from outside (gRPC, another store): both refs
 * valid, `next` not the zero ref and a stored schema.Map node of `store`.
 */
export async function checkRootSwap(store: BlobStore, prev: Ref, next: Ref): Promise<void> {
  parseRef(prev);
  parseRef(next);
  if (next === ZERO_REF) throw new PlexusError('BAD_REQUEST', 'the anchor map root cannot be set to the zero ref');
  await checkMapRoot(store, next);
}

/**
 * An anchor-map store that keeps bs's root pointer itself (bs's file, sqlite3 and pg layouts): a root
 * from outside gets UpdateAnchorMap's checks, one this instance built does not, and a swap to the same
 * root only checks that it is still current; `casRoot` is the pointer's own compare-and-swap.
 */
export abstract class RootPointerStore extends AnchorMapStore {
  /** Make `next` the root if it is still `prev` (ZERO_REF: none), else CONFLICT; `prev !== next`, both checked. */
  protected abstract casRoot(prev: Ref, next: Ref): Promise<void>;

  async swapAnchorMap(prev: Ref, next: Ref): Promise<void> {
    await checkRootSwap(this, prev, next);
    return this.swapOwnAnchorMap(prev, next);
  }

  protected override async swapOwnAnchorMap(prev: Ref, next: Ref): Promise<void> {
    if (prev !== next) return this.casRoot(prev, next);
    if ((await this.anchorMapRef() ?? ZERO_REF) !== prev) throw new PlexusError('CONFLICT', 'anchor map root changed concurrently');
  }
}

/** A root pointer as bs's sqlite3 and pg stores keep it (a 32-byte column; the zero ref: no map yet). */
export function rootFromColumn(bytes: Uint8Array): Ref | undefined {
  if (bytes.length !== 32) throw new PlexusError('BAD_REQUEST', `anchor_map_ref holds ${bytes.length} bytes, not a 32-byte ref`);
  const ref = refFromBytes(bytes);
  return ref === ZERO_REF ? undefined : ref;
}

export { buildMap };
