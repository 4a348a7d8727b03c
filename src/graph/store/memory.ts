import { PlexusError } from '../../errors.js';
import type { ConflictResolution } from '../ham.js';
import { resolveBatch, type GraphStore } from '../store.js';
import { copyValue, type FieldState, type FieldWrite, type NodeFields } from '../value.js';

export interface MemoryStoreOptions {
  /** Forget fields whose state is older than this many ms (as go-gun's in-memory store). Unset: keep forever. */
  maxAgeMs?: number;
  /** Clock for max-age expiry (default Date.now). */
  now?: () => number;
}

/** An in-memory GraphStore (the client's default; tests). Optional max age by state. */
export class MemoryGraphStore implements GraphStore {
  #nodes = new Map<string, NodeFields>();
  #deferred: FieldWrite[] = [];
  #maxAge: number | undefined;
  #now: () => number;
  #closed = false;
  #puts = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    if (opts.maxAgeMs !== undefined && !(opts.maxAgeMs > 0)) throw new PlexusError('BAD_REQUEST', 'maxAgeMs must be > 0');
    this.#maxAge = opts.maxAgeMs;
    this.#now = opts.now ?? Date.now;
  }

  #check(): void {
    if (this.#closed) throw new PlexusError('CLOSED', 'graph store is closed');
  }

  #expired(s: FieldState): boolean {
    return this.#maxAge !== undefined && s.state < this.#now() - this.#maxAge;
  }

  #lookup(soul: string, field: string): FieldState | undefined {
    const n = this.#nodes.get(soul);
    const f = n?.get(field);
    if (f && this.#expired(f)) { n!.delete(field); if (n!.size === 0) this.#nodes.delete(soul); return undefined; }
    return f;
  }

  /** Drop every expired field now (also done lazily on reads and every 1024 puts). */
  sweep(): void {
    if (this.#maxAge === undefined) return;
    for (const [soul, n] of this.#nodes) {
      for (const [f, s] of n) if (this.#expired(s)) n.delete(f);
      if (n.size === 0) this.#nodes.delete(soul);
    }
  }

  /** Number of stored nodes. */
  get size(): number {
    return this.#nodes.size;
  }

  async recentSouls(limit: number): Promise<string[]> {
    this.#check();
    const top: [number, string][] = [];
    for (const [soul, n] of this.#nodes) {
      let max = -Infinity;
      for (const s of n.values()) if (s.state > max) max = s.state;
      top.push([max, soul]);
    }
    return top.sort((a, b) => b[0] - a[0]).slice(0, limit).map((x) => x[1]);
  }

  async get(soul: string): Promise<NodeFields | undefined> {
    this.#check();
    const n = this.#nodes.get(soul);
    if (!n) return undefined;
    const out: NodeFields = new Map();
    for (const [f, s] of n) {
      if (this.#expired(s)) { n.delete(f); continue; }
      out.set(f, { value: copyValue(s.value), state: s.state });
    }
    if (n.size === 0) { this.#nodes.delete(soul); return undefined; }
    return out;
  }

  /** Synchronous getField (the memory store never waits). */
  getFieldSync(soul: string, field: string): FieldState | undefined {
    this.#check();
    const f = this.#lookup(soul, field);
    return f && { value: copyValue(f.value), state: f.state };
  }

  async getField(soul: string, field: string): Promise<FieldState | undefined> {
    return this.getFieldSync(soul, field);
  }

  /** Synchronous put (the memory store never waits). */
  putSync(writes: readonly FieldWrite[], machineState: number): ConflictResolution[] {
    this.#check();
    const { resolutions, updates, deferred } = resolveBatch(writes, machineState, (s, f) => this.#lookup(s, f));
    for (const w of updates) {
      let n = this.#nodes.get(w.soul);
      if (!n) this.#nodes.set(w.soul, (n = new Map()));
      n.set(w.field, { value: copyValue(w.value), state: w.state });
    }
    for (const w of deferred) this.#deferred.push({ ...w, value: copyValue(w.value) });
    if (this.#maxAge !== undefined && ++this.#puts % 1024 === 0) this.sweep();
    return resolutions;
  }

  async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    return this.putSync(writes, machineState);
  }

  async applyDue(machineState: number): Promise<FieldWrite[]> {
    this.#check();
    const due = this.#deferred.filter((w) => w.state <= machineState).sort((a, b) => a.state - b.state);
    if (due.length === 0) return [];
    this.#deferred = this.#deferred.filter((w) => w.state > machineState);
    const { updates } = resolveBatch(due, machineState, (s, f) => this.#lookup(s, f));
    this.putSync(updates, machineState);
    return updates;
  }

  async nextDue(): Promise<number | undefined> {
    let min: number | undefined;
    for (const w of this.#deferred) if (min === undefined || w.state < min) min = w.state;
    return min;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
