import { PlexusError, isPlexusError, throwIfAborted } from '../errors.js';
import { ANCHOR_UPDATE_RETRIES, MAX_ANCHOR_NAME_BYTES } from '../limits.js';
import { isWellFormedText } from '../text.js';
import { parseRef, type Ref } from './ref.js';

/**
 * Anchors: named, timestamped refs with history, with bs's semantics.
 * Times are integer milliseconds since the Unix epoch (bs keeps nanoseconds; plexus keeps ms).
 */

/** One entry of a name's history. */
export interface AnchorEntry {
  /** ms since the Unix epoch */
  at: number;
  ref: Ref;
}

/** An anchor as listed by `eachAnchor`. */
export interface Anchor extends AnchorEntry {
  name: string;
}

/** A name's history and its version; version 0 means the name has never been written. */
export interface VersionedHistory {
  history: AnchorEntry[];
  version: number;
}

/** Anything a time may be given as: a Date, ms since epoch, an ISO 8601 string or a string of ms. */
export type TimeInput = Date | number | string;

const MAX_TIME_MS = 8.64e15; // the range of a JS Date

/** Parse a time into integer ms since the epoch, or throw INVALID_TIME. */
export function parseTime(t: TimeInput): number {
  let ms: number;
  if (t instanceof Date) ms = t.getTime();
  else if (typeof t === 'number') ms = t;
  else if (typeof t === 'string' && /^-?\d{1,16}$/.test(t)) ms = Number(t);
  else if (typeof t === 'string' && t.length <= 64 && /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(t)) ms = Date.parse(t);
  else ms = NaN;
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) {
    const shown = typeof t === 'string' ? JSON.stringify(t.slice(0, 80)) : String(t);
    throw new PlexusError('INVALID_TIME', `invalid time ${shown}: want an ISO 8601 time or integer ms since the epoch`);
  }
  return Math.floor(ms);
}

/** Validate an anchor name: 1..MAX_ANCHOR_NAME_BYTES UTF-8 bytes, no control characters. */
export function parseAnchorName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new PlexusError('INVALID_NAME', 'anchor name must be a non-empty string');
  if (Buffer.byteLength(name, 'utf8') > MAX_ANCHOR_NAME_BYTES) throw new PlexusError('INVALID_NAME', `anchor name longer than ${MAX_ANCHOR_NAME_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name) || !isWellFormedText(name)) throw new PlexusError('INVALID_NAME', 'anchor name contains control characters or broken UTF-16');
  return name;
}

/** bs Put on a history (pure; returns the input array itself when nothing changes). */
export function applyPut(history: readonly AnchorEntry[], ref: Ref, at: number): readonly AnchorEntry[] {
  const last = history[history.length - 1];
  if (last && last.at < at) return last.ref === ref ? history : [...history, { at, ref }];
  if (history.some((e) => e.at === at && e.ref === ref)) return history;
  // Stable sort: equal-time entries keep insertion order, so the newest put wins Get at that instant.
  const sorted = [...history, { at, ref }].sort((a, b) => a.at - b.at);
  const out: AnchorEntry[] = [];
  for (const e of sorted) if (out.length === 0 || out[out.length - 1]!.ref !== e.ref) out.push(e);
  return out;
}

/**
 * Validate a whole history as given to `writeAnchors` (PUT /anchor/:name/history, sync): every entry an
 * integer time in range and a valid ref, times in order (equal times allowed: the later entry wins a Get
 * at that instant), no entry twice. Refused with BAD_REQUEST (INVALID_TIME / INVALID_REF for a bad
 * field) rather than normalised, so a writer never reads back something other than what it sent.
 */
export function checkHistory(history: readonly AnchorEntry[]): readonly AnchorEntry[] {
  if (!Array.isArray(history)) throw new PlexusError('BAD_REQUEST', 'history must be an array of { at, ref }');
  const seen = new Set<string>();
  let prev = -Infinity;
  history.forEach((e, i) => {
    if (typeof e !== 'object' || e === null) throw new PlexusError('BAD_REQUEST', `history[${i}] must be an object { at, ref }`);
    if (typeof e.at !== 'number' || !Number.isSafeInteger(e.at) || Math.abs(e.at) > MAX_TIME_MS) throw new PlexusError('INVALID_TIME', `history[${i}].at must be integer ms since the epoch`);
    parseRef(e.ref);
    if (e.at < prev) throw new PlexusError('BAD_REQUEST', `history[${i}] is older than history[${i - 1}]: entries must be in time order, oldest first`);
    const k = `${e.at}:${e.ref}`;
    if (seen.has(k)) throw new PlexusError('BAD_REQUEST', `history[${i}] repeats an earlier entry (same time and ref)`);
    seen.add(k);
    prev = e.at;
  });
  return history;
}

/** bs Get: the latest entry at or before `at`, or undefined. */
export function entryAt(history: readonly AnchorEntry[], at: number): AnchorEntry | undefined {
  for (let i = history.length - 1; i >= 0; i--) if (history[i]!.at <= at) return history[i];
  return undefined;
}

/** bs Expire on one history: drop oldest entries before `oldest` while more than `min` remain. */
export function applyExpire(history: readonly AnchorEntry[], oldest: number, min: number): readonly AnchorEntry[] {
  let drop = 0;
  while (history.length - drop > min && history[drop]!.at < oldest) drop++;
  return drop === 0 ? history : history.slice(drop);
}

/**
 * The convergent union of several histories of one name: every distinct (at, ref) entry once, in time
 * order; equal-time entries in order of first appearance, scanning the inputs in the order given.
 * Sync writes this same list to every store, so all stores end with identical histories.
 */
export function unionHistories(histories: readonly (readonly AnchorEntry[])[]): AnchorEntry[] {
  const seen = new Set<string>();
  const all: AnchorEntry[] = [];
  for (const h of histories) for (const e of h) {
    const k = `${e.at}:${e.ref}`;
    if (!seen.has(k)) { seen.add(k); all.push(e); }
  }
  return all.sort((a, b) => a.at - b.at);
}

function sameHistory(a: readonly AnchorEntry[], b: readonly AnchorEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.at === b[i]!.at && e.ref === b[i]!.ref);
}

export interface RetryOptions {
  retries?: number;
  signal?: AbortSignal;
}

/** Run `fn` again (with jittered backoff) while it fails with CONFLICT, at most `retries` times. */
export async function retryOnConflict<T>(fn: () => Promise<T>, { retries = ANCHOR_UPDATE_RETRIES, signal }: RetryOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn();
    } catch (err) {
      if (!isPlexusError(err, 'CONFLICT') || attempt >= retries) throw err;
      const ms = Math.random() * Math.min(100, 2 ** attempt);
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}

/**
 * Named, timestamped refs with history. Adapters implement three primitives (read a name with its
 * version, compare-and-swap a name, list names); everything else is defined here once, so every
 * adapter has the same semantics.
 */
export abstract class AnchorStore {
  /** A name's history and version (version 0, empty history: never written). */
  abstract readAnchors(name: string): Promise<VersionedHistory>;
  /** The adapter's compare-and-swap of a (validated) history: replace it if its version is still `version`; the new version, or CONFLICT. */
  protected abstract casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number>;

  /**
   * Replace a name's history if its version is still `version`; returns the new version, or throws
   * CONFLICT. The history is validated first (checkHistory), so every adapter refuses the same input.
   */
  writeAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    try {
      parseAnchorName(name);
      if (!Number.isSafeInteger(version) || version < 0) throw new PlexusError('BAD_REQUEST', 'version must be a non-negative integer');
      return this.casAnchors(name, version, checkHistory(history));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  /** Every name that has ever been written, in no particular order. */
  abstract anchorNames(): AsyncIterable<string>;

  /**
   * One optimistic update of a name: read, apply `fn`, compare-and-swap. Throws CONFLICT if another
   * writer got in between (use `retryOnConflict`, or the ops below, which retry).
   */
  async updateAnchors(name: string, fn: (history: readonly AnchorEntry[]) => readonly AnchorEntry[]): Promise<readonly AnchorEntry[]> {
    parseAnchorName(name);
    const { history, version } = await this.readAnchors(name);
    const next = fn(history);
    if (next === history || (version > 0 && sameHistory(next, history))) return history;
    await this.writeAnchors(name, version, next);
    return next;
  }

  /** Anchor `name` to `ref` at time `at` (default now). Same ref and time twice is a no-op. */
  async putAnchor(name: string, ref: Ref, at: TimeInput = Date.now(), opts?: RetryOptions): Promise<void> {
    parseRef(ref);
    const ms = parseTime(at);
    await retryOnConflict(() => this.updateAnchors(name, (h) => applyPut(h, ref, ms)), opts);
  }

  /** The entry current at `at` (default now): the latest at or before it, else NOT_FOUND. */
  async getAnchor(name: string, at: TimeInput = Date.now()): Promise<AnchorEntry> {
    parseAnchorName(name);
    const ms = parseTime(at);
    const e = entryAt((await this.readAnchors(name)).history, ms);
    if (!e) throw new PlexusError('NOT_FOUND', `no anchor ${JSON.stringify(name)} at or before ${new Date(ms).toISOString()}`);
    return e;
  }

  /** A name's whole history, oldest first (empty if unknown). */
  async history(name: string): Promise<AnchorEntry[]> {
    parseAnchorName(name);
    return [...(await this.readAnchors(name)).history];
  }

  /** Every entry of every name; names in no particular order, entries of a name oldest first. */
  async *eachAnchor(): AsyncIterable<Anchor> {
    for await (const name of this.anchorNames()) {
      for (const e of (await this.readAnchors(name)).history) yield { name, at: e.at, ref: e.ref };
    }
  }

  /** Drop entries older than `oldest`, never leaving fewer than `min` per name. */
  async expire(oldest: TimeInput, min: number, opts?: RetryOptions): Promise<{ names: number; dropped: number }> {
    const ms = parseTime(oldest);
    if (!Number.isSafeInteger(min) || min < 0) throw new PlexusError('BAD_REQUEST', 'min must be a non-negative integer');
    let names = 0, dropped = 0;
    for await (const name of this.anchorNames()) {
      let before = 0, after = 0;
      await retryOnConflict(async () => {
        const next = await this.updateAnchors(name, (h) => { before = h.length; return applyExpire(h, ms, min); });
        after = next.length;
      }, opts);
      if (after < before) { names++; dropped += before - after; }
    }
    return { names, dropped };
  }

  /** Merge `entries` into a name's history as a set (sync uses this): exact duplicates are skipped. */
  async mergeAnchors(name: string, entries: readonly AnchorEntry[], opts?: RetryOptions): Promise<void> {
    await retryOnConflict(() => this.updateAnchors(name, (h) => {
      const u = unionHistories([h, entries]);
      return sameHistory(u, h) ? h : u;
    }), opts);
  }

  /** Set a name's history to exactly `history` (sync's final pass). */
  async replaceAnchors(name: string, history: readonly AnchorEntry[], opts?: RetryOptions): Promise<void> {
    await retryOnConflict(() => this.updateAnchors(name, (h) => (sameHistory(h, history) ? h : history)), opts);
  }
}
