import { PlexusError } from '../errors.js';
import { floorMs, ZERO_TIME, type Rev, type Time } from './time.js';

/** A JSON object (an action's `arg` or an audit's `extra`); key order is kept (except integer-like keys, which JS orders first). */
export type Arg = { [k: string]: unknown };

/** Event signature: topic (model name such as `prod.cat`) + record key. */
export interface Sig { top: string; key: string }

/** The three known commands; any other string is "unresolved". */
export type Cmd = 'new' | 'mod' | 'del';

/** An unpublished change to one record. `arg` holds the fields (new) or a flat delta (mod). */
export interface Action extends Sig { cmd: string; arg?: Arg }

/** An action published to a ledger: unique increasing id and the revision of its transaction. */
export interface Event extends Action { id: number; rev: Rev }

/** One row per published transaction (per revision). */
export interface Audit { rev: Rev; created: Time; arrived: Time; usr?: string; extra?: Arg }

/**
 * A request to publish `acts` against base revision `base` (ZERO_TIME = no conflict check).
 * `tid` (plexus extension) is a client-chosen unique id: a transaction with a known tid is applied once.
 */
export interface Trans extends Audit { id: number; base: Rev; acts: Action[]; tid?: string }

/** What a caller hands to `publish`: only `acts` is required. */
export interface TransInput { acts: Action[]; base?: Rev; created?: Time; arrived?: Time; usr?: string; extra?: Arg; tid?: string }

/** What a monitor watches; the key `"new"` matches every new record of the topic. */
export interface Watch { top: string; keys: string[] | null }

/** "These watched records changed" notice for monitor `mon`. */
export interface Note { mon: number; watch: Watch[] }

/** What a subscriber receives (reply or push). */
export interface Update { rev: Rev; evs?: Event[]; note?: Note[] }

/** Ledger revision, schema version, connected-since / disconnected-since. */
export interface Status { rev: Rev; mig: string; on: Time; off: Time }

/** A projected record: the latest state of (top, key) and the revision that last changed it. */
export interface Rec extends Sig { rev: Rev; data: Arg }

/** Go's `%v` rendering of a Sig, used in error texts: `{prod.cat 1}`. */
export function sigText(s: Sig): string {
  return `{${s.top} ${s.key}}`;
}

/** The revision for a transaction arriving at `t` when the ledger's latest is `last` (strictly increasing ms). */
export function nextRev(last: Rev, t: Time): Rev {
  const r = floorMs(t);
  return r > last ? r : last + 1;
}

/** Intended evt MergeDeltas: every key of b overwrites a's; a's keys keep their order, new keys are appended. */
export function mergeDeltas(a: Arg | undefined, b: Arg | undefined): Arg {
  const out: Arg = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b ?? {})) setField(out, k, v);
  return out;
}

/** o[k] = v, where a key `__proto__` (JSON.parse makes it an own key) stays a field instead of setting o's prototype. */
export function setField(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** Apply a flat delta to a record: `k` sets a field, `k-` deletes field k. Returns a fresh object. */
export function applyDelta(data: Arg, delta: Arg | undefined): Arg {
  const out: Arg = { ...data };
  if (delta == null) return out;
  for (const k in delta) {
    if (!Object.hasOwn(delta, k)) continue;
    if (k.length > 1 && k.endsWith('-')) delete out[k.slice(0, -1)];
    else setField(out, k, delta[k]);
  }
  return out;
}

function known(cmd: string): cmd is Cmd {
  return cmd === 'new' || cmd === 'mod' || cmd === 'del';
}

/**
 * Combine two actions on one record (a first, then b) into one, as evt's Merge (with the intended
 * key-wise MergeDeltas). new+del yields b (Go's result, not a cancel-out). Throws INVALID_TRANS.
 */
export function merge(a: Action, b: Action): Action {
  if (a.top !== b.top || a.key !== b.key) throw new PlexusError('INVALID_TRANS', `event signature mismatch ${sigText(a)} != ${sigText(b)}`);
  if (!known(a.cmd)) throw new PlexusError('INVALID_TRANS', `unresolved action ${a.cmd}`);
  if (!known(b.cmd)) throw new PlexusError('INVALID_TRANS', `unresolved action ${b.cmd}`);
  const sig = { top: a.top, key: a.key };
  switch (a.cmd) {
    case 'new':
      if (b.cmd === 'new') throw new PlexusError('INVALID_TRANS', `new action for existing ${sigText(a)}`);
      if (b.cmd === 'mod') return { ...sig, cmd: 'new', arg: applyDelta(a.arg ?? {}, b.arg) };
      return copyAction(b);
    case 'mod':
      if (b.cmd === 'new') throw new PlexusError('INVALID_TRANS', `new action for existing ${sigText(a)}`);
      if (b.cmd === 'mod') return { ...sig, cmd: 'mod', arg: mergeDeltas(a.arg, b.arg) };
      return copyAction(b);
    case 'del':
      if (b.cmd === 'new') return { ...sig, cmd: 'mod', arg: { ...(b.arg ?? {}) } };
      if (b.cmd === 'mod') throw new PlexusError('INVALID_TRANS', `mod after del action for ${sigText(a)}`);
      throw new PlexusError('INVALID_TRANS', `double del action for ${sigText(a)}`);
  }
}

function copyAction(x: Action): Action {
  const out: Action = { top: x.top, key: x.key, cmd: x.cmd };
  if (x.arg !== undefined) out.arg = { ...x.arg };
  return out;
}

/** The events of one record, in input order. */
export function collect<E extends Sig>(evs: readonly E[], sig: Sig): E[] {
  return evs.filter((e) => e.top === sig.top && e.key === sig.key);
}

/** Events grouped by record (Map keyed by `top + "\n" + key`, in first-seen order), each in input order. */
export function collectAll<E extends Sig>(evs: readonly E[]): Map<string, E[]> {
  const out = new Map<string, E[]>();
  for (const e of evs) {
    const k = sigKey(e);
    const l = out.get(k);
    if (l) l.push(e); else out.set(k, [e]);
  }
  return out;
}

/** A Map key for a Sig. */
export function sigKey(s: Sig): string {
  return `${s.top}\n${s.key}`;
}

/** Sort events by (rev, id) ascending (stable for one transaction's events). */
export function sortEvents<E extends { rev: Rev; id: number }>(evs: E[]): E[] {
  return evs.sort((x, y) => x.rev - y.rev || x.id - y.id);
}

/**
 * Apply one action to a record's state (undefined = absent); returns the new state (undefined = deleted).
 * new on an existing record → CONFLICT; mod/del on a missing one → NOT_FOUND; unknown cmd → INVALID_TRANS.
 */
export function applyAction(prev: Arg | undefined, act: Action): Arg | undefined {
  switch (act.cmd) {
    case 'new':
      if (prev !== undefined) throw new PlexusError('CONFLICT', `new action for existing ${sigText(act)}`, { detail: { top: act.top, key: act.key } });
      return applyDelta({}, act.arg);
    case 'mod':
      if (prev === undefined) throw new PlexusError('NOT_FOUND', `apply mod ${act.top}, ${act.key}: no value found`, { detail: { top: act.top, key: act.key } });
      return applyDelta(prev, act.arg);
    case 'del':
      if (prev === undefined) throw new PlexusError('NOT_FOUND', `apply del ${act.top}, ${act.key}: no value found`, { detail: { top: act.top, key: act.key } });
      return undefined;
    default:
      throw new PlexusError('INVALID_TRANS', `unexpected command ${act.cmd}`);
  }
}

export { ZERO_TIME };
