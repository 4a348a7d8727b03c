/**
 * Revisions: a session's attribute table at one revision, with rinq's optimistic locking. A read at an
 * old revision works while the attribute has not changed since (else STALE); an update needs the
 * session's latest revision (else STALE) and may not change a frozen attribute (else FROZEN); a
 * destroyed session is NOT_FOUND. `LocalRevision` works on a session this peer owns.
 */
import { PlexusError } from '../errors.js';
import type { Attr, AttrTable, VAttr } from './attributes.js';
import { validateNamespace } from './attributes.js';
import type { BusContext } from './context.js';
import { frozenError, notFoundError, staleError } from './failure.js';

/**
 * Options of a revision operation. On a session another peer owns, an operation is a `_sess` call to
 * that peer: like any call made inside a handler it inherits the handled request's trace id and
 * deadline (in Node by itself, else with `{ context: req }`); `timeoutMs`, `signal`, `traceId` override.
 * An owner that is gone never answers: the operation fails with TIMEOUT when that deadline passes (as
 * rinq-go's with `context.DeadlineExceeded`), ABORTED when the signal fires.
 */
export interface RevisionOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  traceId?: string;
  context?: BusContext | null;
}

/** A session at one revision: read and (optimistically) change its attributes. */
export interface Revision {
  /** `<session id>@<rev>`. */
  readonly ref: string;
  readonly sessionId: string;
  readonly rev: number;
  /** The session's latest revision. */
  refresh(opts?: RevisionOptions): Promise<Revision>;
  /** The attribute at this revision (value '' when unset); STALE if it changed since. */
  get(ns: string, key: string, opts?: RevisionOptions): Promise<Attr>;
  /** Several attributes at this revision; options may follow the keys. */
  getMany(ns: string, ...keys: string[]): Promise<AttrTable>;
  getMany(ns: string, ...keysThenOptions: [...string[], RevisionOptions]): Promise<AttrTable>;
  /** Apply the attributes atomically; returns the new revision. Options may follow the attributes. */
  update(ns: string, ...attrs: Attr[]): Promise<Revision>;
  update(ns: string, ...attrsThenOptions: [...Attr[], RevisionOptions]): Promise<Revision>;
  /** Set every attribute of ns to ''. */
  clear(ns: string, opts?: RevisionOptions): Promise<Revision>;
  destroy(opts?: RevisionOptions): Promise<void>;
}

/** Split `getMany`'s / `update`'s arguments into the items and the trailing options (if any). */
export function splitOptions<T>(args: readonly (T | RevisionOptions)[], isItem: (x: unknown) => boolean): [T[], RevisionOptions] {
  const last = args[args.length - 1];
  if (args.length > 0 && !isItem(last) && typeof last === 'object' && last !== null) return [args.slice(0, -1) as T[], last as RevisionOptions];
  return [args as T[], {}];
}
export const isKey = (x: unknown): boolean => typeof x === 'string';
export const isAttr = (x: unknown): boolean => typeof x === 'object' && x !== null && 'key' in x;

/** ABORTED when the operation's signal has fired (local operations are immediate otherwise). */
function checkSignal(opts: RevisionOptions | undefined): void {
  if (opts?.signal?.aborted) throw new PlexusError('ABORTED', 'revision operation aborted', { cause: opts.signal.reason });
}

/** A session's versioned attribute state (owned by this peer). */
export class SessionState {
  rev = 0;
  msgSeq = 0;
  destroyed = false;
  attrs = new Map<string, Map<string, VAttr>>();
  constructor(readonly id: string, private readonly onDestroy: () => void) {}

  ref(rev = this.rev): string { return `${this.id}@${rev}`; }

  lookup = (ns: string, key: string): VAttr | undefined => this.attrs.get(ns)?.get(key);

  tryUpdate(rev: number, ns: string, attrs: readonly Attr[]): { rev: number; table: Map<string, VAttr> } {
    if (this.destroyed) throw notFoundError(this.id);
    if (rev !== this.rev) throw staleError(this.ref(rev));
    const next = this.rev + 1;
    const table = new Map(this.attrs.get(ns) ?? []);
    let changed = false;
    for (const a of attrs) {
      const entry = table.get(a.key);
      if (a.value === (entry?.value ?? '') && a.frozen === (entry?.frozen ?? false)) continue;
      if (entry?.frozen) throw frozenError(this.ref(rev));
      table.set(a.key, { key: a.key, value: a.value, frozen: a.frozen, created: entry ? entry.created : next, updated: next });
      changed = true;
    }
    this.rev = next;
    this.msgSeq = 0;
    if (changed) this.attrs.set(ns, table);
    return { rev: next, table: this.attrs.get(ns) ?? table };
  }

  tryClear(rev: number, ns: string): number {
    if (this.destroyed) throw notFoundError(this.id);
    if (rev !== this.rev) throw staleError(this.ref(rev));
    const next = this.rev + 1;
    const cur = this.attrs.get(ns);
    const table = new Map<string, VAttr>();
    let changed = false;
    for (const [k, e] of cur ?? []) {
      if (e.value !== '') {
        if (e.frozen) throw frozenError(this.ref(rev));
        table.set(k, { ...e, value: '', updated: next });
        changed = true;
      } else table.set(k, e);
    }
    this.rev = next;
    this.msgSeq = 0;
    if (changed) this.attrs.set(ns, table);
    return next;
  }

  tryDestroy(rev: number): void {
    if (rev !== this.rev) throw staleError(this.ref(rev));
    this.close();
  }

  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.onDestroy();
  }

  /** The attribute as of `rev`: '' if created later, STALE if updated later. */
  valueAt(rev: number, ns: string, key: string): Attr {
    if (rev === 0) return { key, value: '', frozen: false };
    const a = this.attrs.get(ns)?.get(key);
    if (!a || a.created > rev) return { key, value: '', frozen: false };
    if (a.updated > rev) throw staleError(this.ref(rev), true);
    return { key: a.key, value: a.value, frozen: a.frozen };
  }
}

/** A revision of a session owned by this peer. */
export class LocalRevision implements Revision {
  readonly ref: string;
  constructor(private readonly state: SessionState, readonly rev: number) { this.ref = state.ref(rev); }
  get sessionId(): string { return this.state.id; }
  async refresh(opts?: RevisionOptions): Promise<Revision> {
    checkSignal(opts);
    if (this.state.destroyed) throw notFoundError(this.state.id);
    return new LocalRevision(this.state, this.state.rev);
  }
  async get(ns: string, key: string, opts?: RevisionOptions): Promise<Attr> {
    validateNamespace(ns);
    checkSignal(opts);
    return this.state.valueAt(this.rev, ns, key);
  }
  async getMany(ns: string, ...args: (string | RevisionOptions)[]): Promise<AttrTable> {
    validateNamespace(ns);
    const [keys, opts] = splitOptions<string>(args, isKey);
    checkSignal(opts);
    const t = new Map<string, Attr>();
    for (const k of keys) t.set(k, this.state.valueAt(this.rev, ns, k));
    return t;
  }
  async update(ns: string, ...args: (Attr | RevisionOptions)[]): Promise<Revision> {
    validateNamespace(ns);
    const [attrs, opts] = splitOptions<Attr>(args, isAttr);
    checkSignal(opts);
    if (attrs.length === 0) return this;
    return new LocalRevision(this.state, this.state.tryUpdate(this.rev, ns, attrs).rev);
  }
  async clear(ns: string, opts?: RevisionOptions): Promise<Revision> {
    validateNamespace(ns);
    checkSignal(opts);
    return new LocalRevision(this.state, this.state.tryClear(this.rev, ns));
  }
  async destroy(opts?: RevisionOptions): Promise<void> { checkSignal(opts); this.state.tryDestroy(this.rev); }
}

/** A revision of a session that no longer exists (or is unknown): every operation is NOT_FOUND. */
export class ClosedRevision implements Revision {
  readonly ref: string;
  constructor(readonly sessionId: string, readonly rev: number) { this.ref = `${sessionId}@${rev}`; }
  async refresh(): Promise<Revision> { throw notFoundError(this.sessionId); }
  async get(ns: string, key: string): Promise<Attr> { validateNamespace(ns); if (this.rev === 0) return { key, value: '', frozen: false }; throw notFoundError(this.sessionId); }
  async getMany(ns: string, ...args: (string | RevisionOptions)[]): Promise<AttrTable> {
    validateNamespace(ns);
    const [keys] = splitOptions<string>(args, isKey);
    if (this.rev === 0) return new Map(keys.map((k) => [k, { key: k, value: '', frozen: false }]));
    throw notFoundError(this.sessionId);
  }
  async update(): Promise<Revision> { throw notFoundError(this.sessionId); }
  async clear(): Promise<Revision> { throw notFoundError(this.sessionId); }
  async destroy(): Promise<void> { throw notFoundError(this.sessionId); }
}
