/**
 * One Node timer for many deadlines (call timeouts, handler deadlines): a call costs a list insert and
 * an unlink instead of a `setTimeout` + `clearTimeout` pair. Deadlines are grouped into buckets of
 * DEADLINE_RESOLUTION_MS and fire when their bucket ends: never early, at most that much late (Node's
 * own timers are late by a loop turn anyway). A bucket is a doubly linked list, so a cancelled entry
 * is unlinked at once and dies young (it is not kept, and promoted by the GC, until its bucket's end
 * seconds later). The timer keeps the process alive exactly while some deadline is armed (as a pending
 * `setTimeout` would).
 */

/** Granularity of the shared deadline timer (ms). */
export const DEADLINE_RESOLUTION_MS = 4;

/** An armed deadline; `cancel()` it when the work finished first. */
export interface Deadline { cancel(): void }

class Bucket {
  head: Entry | null = null;
  constructor(readonly end: number) {}
}

class Entry implements Deadline {
  prev: Entry | null = null;
  next: Entry | null = null;
  constructor(public fn: ((this: unknown) => void) | undefined, public self: unknown, public bucket: Bucket | null, private readonly owner: Deadlines) {}
  cancel(): void {
    if (this.fn === undefined) return;
    this.fn = this.self = undefined;
    const b = this.bucket!;
    if (this.prev) this.prev.next = this.next; else b.head = this.next;
    if (this.next) this.next.prev = this.prev;
    this.prev = this.next = this.bucket = null;
    this.owner.released();
  }
}

export class Deadlines {
  /** Bucket end (ms on the monotonic clock) -> bucket; `order` holds the bucket ends ascending. */
  private readonly buckets = new Map<number, Bucket>();
  private readonly order: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private live = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Call `fn` (with `this` = `self`) once `ms` have passed, unless cancelled before. */
  after<T>(ms: number, fn: (this: T) => void, self?: T): Deadline {
    const at = this.now() + Math.max(0, ms);
    const end = Math.ceil(at / DEADLINE_RESOLUTION_MS) * DEADLINE_RESOLUTION_MS;
    let b = this.buckets.get(end);
    if (!b) {
      b = new Bucket(end);
      this.buckets.set(end, b);
      const o = this.order;
      if (o.length === 0 || o[o.length - 1]! < end) o.push(end);
      else {
        let lo = 0, hi = o.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (o[mid]! < end) lo = mid + 1; else hi = mid; }
        o.splice(lo, 0, end);
      }
    }
    const e = new Entry(fn as (this: unknown) => void, self, b, this);
    e.next = b.head;
    if (b.head) b.head.prev = e;
    b.head = e;
    if (this.live++ === 0) this.timer?.ref();
    if (end < this.timerAt) this.arm(end);
    return e;
  }

  /** @internal an entry was cancelled. */
  released(): void {
    if (--this.live === 0) this.timer?.unref();
  }

  /** Number of armed (not fired, not cancelled) deadlines. */
  get size(): number { return this.live; }

  private arm(end: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = end;
    this.timer = setTimeout(() => this.fire(), Math.max(0, end - this.now()));
    if (this.live === 0) this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const o = this.order;
    let n = 0;
    while (n < o.length && o[n]! <= now) n++;
    const due = o.splice(0, n);
    for (const end of due) {
      const b = this.buckets.get(end)!;
      this.buckets.delete(end);
      // oldest first (entries were pushed at the head)
      const list: Entry[] = [];
      for (let e = b.head; e; e = e.next) list.push(e);
      b.head = null;
      for (let i = list.length - 1; i >= 0; i--) {
        const e = list[i]!;
        const fn = e.fn, self = e.self;
        e.prev = e.next = e.bucket = null;
        if (fn === undefined) continue;
        e.fn = e.self = undefined;
        this.live--;
        try { fn.call(self); } catch (err) { queueMicrotask(() => { throw err; }); }
      }
    }
    // drop leading buckets whose entries were all cancelled, then wait for the next one
    while (o.length && this.buckets.get(o[0]!)!.head === null) this.buckets.delete(o.shift()!);
    if (o.length) this.arm(o[0]!);
  }
}
