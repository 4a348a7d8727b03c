/**
 * One Node timer for many deadlines (call timeouts, handler deadlines): a call costs an array push and
 * a flag instead of a `setTimeout` + `clearTimeout` pair. Deadlines are grouped into buckets of
 * DEADLINE_RESOLUTION_MS and fire when their bucket ends: never early, at most that much late (Node's
 * own timers are late by a loop turn anyway). Cancelling only drops the callback; the slot goes with
 * its bucket. The timer keeps the process alive exactly while some deadline is armed (as a pending
 * `setTimeout` would).
 */

/** Granularity of the shared deadline timer (ms). */
export const DEADLINE_RESOLUTION_MS = 4;

/** An armed deadline; `cancel()` it when the work finished first. */
export interface Deadline { cancel(): void }

class Entry implements Deadline {
  constructor(public fn: (() => void) | undefined, private readonly owner: Deadlines) {}
  cancel(): void {
    if (this.fn === undefined) return;
    this.fn = undefined;
    this.owner.released();
  }
}

export class Deadlines {
  /** Bucket end (ms on the monotonic clock) -> its entries; `order` holds the bucket ends ascending. */
  private readonly buckets = new Map<number, Entry[]>();
  private readonly order: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private live = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Call `fn` once `ms` have passed (unless cancelled before). */
  after(ms: number, fn: () => void): Deadline {
    const at = this.now() + Math.max(0, ms);
    const end = Math.ceil(at / DEADLINE_RESOLUTION_MS) * DEADLINE_RESOLUTION_MS;
    const e = new Entry(fn, this);
    let b = this.buckets.get(end);
    if (!b) {
      b = [];
      this.buckets.set(end, b);
      const o = this.order;
      if (o.length === 0 || o[o.length - 1]! < end) o.push(end);
      else {
        let lo = 0, hi = o.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (o[mid]! < end) lo = mid + 1; else hi = mid; }
        o.splice(lo, 0, end);
      }
    }
    b.push(e);
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
      for (const e of b) {
        const fn = e.fn;
        if (fn === undefined) continue;
        e.fn = undefined;
        this.live--;
        try { fn(); } catch (err) { queueMicrotask(() => { throw err; }); }
      }
    }
    // drop leading buckets whose entries were all cancelled, then wait for the next one
    while (o.length && this.buckets.get(o[0]!)!.every((e) => e.fn === undefined)) this.buckets.delete(o.shift()!);
    if (o.length) this.arm(o[0]!);
  }
}
