/**
 * Message-id de-duplication (gun's DAM `#`): an id is remembered for `windowMs` after it was last seen,
 * at most `maxIds` of them (the oldest forgotten first). Expiry runs off a FIFO beside the Map, so each
 * call costs O(1) amortised: a Map iterated from its front to evict would skip over every entry deleted
 * there before (V8 keeps them as holes until it rehashes), tens of µs per call with a full window.
 */
export class Dedup {
  readonly #windowMs: number;
  readonly #maxIds: number;
  /** id → the number of its last `remember` (its entry in the FIFO). */
  readonly #last = new Map<string, number>();
  /** The FIFO: entry n (n = #base + index) is the id of the n-th `remember` and when it expires then. */
  #ids: string[] = [];
  #at: number[] = [];
  #head = 0;
  #base = 0;

  constructor(windowMs: number, maxIds: number) {
    this.#windowMs = windowMs;
    this.#maxIds = Math.max(1, maxIds);
  }

  /** Remember `id` (or refresh it); true when it was already seen within the window. */
  remember(id: string, now = Date.now()): boolean {
    const prev = this.#last.get(id);
    const prevAt = prev === undefined ? undefined : this.#at[prev - this.#base];
    this.#last.set(id, this.#base + this.#ids.length);
    this.#ids.push(id);
    this.#at.push(now + this.#windowMs);
    while (this.#head < this.#ids.length) {
      if (this.#at[this.#head]! > now && this.#last.size <= this.#maxIds) break;
      const old = this.#ids[this.#head]!;
      // a refreshed id has a later entry: only that one forgets it
      if (this.#last.get(old) === this.#base + this.#head) this.#last.delete(old);
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#ids.length) {
      this.#ids = this.#ids.slice(this.#head);
      this.#at = this.#at.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
    // an id refreshed over and over (a peer resending it) leaves stale entries: drop them, so the FIFO stays within 2 × maxIds
    if (this.#ids.length - this.#head > 2 * this.#maxIds + 64) this.#compact();
    return prevAt !== undefined && prevAt > now;
  }

  /** Keep only each id's last entry, in order. */
  #compact(): void {
    const ids: string[] = [], at: number[] = [], base = this.#base + this.#ids.length;
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i]!;
      if (this.#last.get(id) !== this.#base + i) continue;
      this.#last.set(id, base + ids.length);
      ids.push(id);
      at.push(this.#at[i]!);
    }
    this.#ids = ids;
    this.#at = at;
    this.#base = base;
    this.#head = 0;
  }

  /** Ids remembered now. */
  get size(): number {
    return this.#last.size;
  }
}
