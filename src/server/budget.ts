import type { IncomingMessage } from 'node:http';
import { PlexusError } from '../errors.js';
import { SERVER_MEMORY_BUDGET_BYTES, SERVER_MEMORY_SHARE_BYTES, SERVER_SUBSCRIPTION_BUDGET_BYTES, WS_MAX_QUEUED_BYTES, WS_SLOW_CLOSE_GRACE_MS } from '../limits.js';

/** What /healthz (`memory`) and /metrics report of the budget. */
export interface BudgetStats {
  usedBytes: number;
  totalBytes: number;
  shareBytes: number;
  /** The long-lived part of usedBytes (subscriptions), at most SERVER_SUBSCRIPTION_BUDGET_BYTES. */
  subscriptionBytes: number;
  owners: number;
  /** Bytes waiting in WebSocket send buffers (part of usedBytes), and how many sockets hold some. */
  queuedBytes: number;
  queuedSockets: number;
  /** Reservations refused, in total and by what was asked for. */
  refused: number;
  refusedBy: Record<string, number>;
  /** WebSockets closed because their queue was the largest when the total ran out. */
  evicted: number;
}

/**
 * One server-wide memory budget: the work a connection can make the server hold (graph subscriptions,
 * JSON request bodies being read, replies and pushes waiting in a WebSocket's send buffer) is reserved
 * here first, from the connection's share and from the total. Past either, the new work is refused (the
 * caller answers RATE_LIMITED, or closes a WebSocket that does not read) and counted; nothing is buffered
 * to wait for room. Amounts are estimates of heap bytes, not exact.
 */
export class MemoryBudget {
  readonly totalBytes: number;
  readonly shareBytes: number;
  /** Most of the total that long-lived holdings (subscriptions) may take. */
  readonly longBytes: number;
  #used = 0;
  #long = 0;
  #byOwner = new Map<object, number>();
  /** The long-lived part of each owner's holding. */
  #longOwners = new Map<object, number>();
  /** Send queues holding bytes: when the total runs out, the largest one is closed first. */
  readonly #queues = new Set<SendQueue>();
  /** Reservations refused (total, and by what was asked for). */
  refused = 0;
  readonly refusedBy: Record<string, number> = {};
  evicted = 0;

  constructor(totalBytes = SERVER_MEMORY_BUDGET_BYTES, shareBytes = SERVER_MEMORY_SHARE_BYTES, longBytes = Math.min(SERVER_SUBSCRIPTION_BUDGET_BYTES, totalBytes)) {
    this.totalBytes = totalBytes;
    this.shareBytes = shareBytes;
    this.longBytes = longBytes;
  }

  /**
   * Reserve `bytes` for `owner` (a connection); false (and counted under `what`) when over its share
   * (`share`, default `shareBytes`) or the total. Long-lived holdings (`long`: subscriptions) may take
   * at most SERVER_SUBSCRIPTION_BUDGET_BYTES of the total, so the rest stays for replies and requests
   * under way. When the total is full, send queues that stopped draining are cut to make room.
   */
  reserve(owner: object, bytes: number, what = 'other', share = this.shareBytes, long = false): boolean {
    const mine = this.#byOwner.get(owner) ?? 0;
    if (mine + bytes > share || (long && this.#long + bytes > this.longBytes)) {
      this.count(what);
      return false;
    }
    if (!this.fits(bytes) && !(owner instanceof SendQueue) && !this.evictFor(undefined, bytes)) {
      this.count(what);
      return false;
    }
    if (!this.fits(bytes)) { this.count(what); return false; }
    this.#byOwner.set(owner, mine + bytes);
    this.#used += bytes;
    if (long) { this.#long += bytes; this.#longOwners.set(owner, (this.#longOwners.get(owner) ?? 0) + bytes); }
    return true;
  }

  /**
   * Set `owner`'s long-lived holding (its subscriptions) to `bytes`: the growth is reserved as by
   * `reserve(..., long = true)`, a shrink is given back. False (counted) when the growth does not fit.
   */
  hold(owner: object, bytes: number, what: string, share = this.shareBytes): boolean {
    const cur = this.#longOwners.get(owner) ?? 0;
    if (bytes >= cur) return bytes === cur || this.reserve(owner, bytes - cur, what, share, true);
    const d = cur - bytes, mine = this.#byOwner.get(owner) ?? 0;
    this.#long -= d;
    this.#used -= d;
    if (bytes === 0) this.#longOwners.delete(owner); else this.#longOwners.set(owner, bytes);
    if (mine - d <= 0) this.#byOwner.delete(owner); else this.#byOwner.set(owner, mine - d);
    return true;
  }

  /** True when `bytes` more fit in the total now. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.totalBytes;
  }

  /** Count a refusal under `what` (for refusals decided by the caller). */
  count(what: string): void {
    this.refused++;
    this.refusedBy[what] = (this.refusedBy[what] ?? 0) + 1;
  }

  /** Give back `bytes` reserved by `owner` (transient holdings; long-lived ones go with releaseAll). */
  release(owner: object, bytes: number): void {
    const mine = this.#byOwner.get(owner) ?? 0;
    const n = Math.min(mine - (this.#longOwners.get(owner) ?? 0), bytes);
    if (n <= 0) return;
    if (mine - n === 0) this.#byOwner.delete(owner); else this.#byOwner.set(owner, mine - n);
    this.#used -= n;
  }

  /** Give back everything `owner` holds (its connection closed). */
  releaseAll(owner: object): void {
    this.#used -= this.#byOwner.get(owner) ?? 0;
    this.#byOwner.delete(owner);
    const l = this.#longOwners.get(owner);
    if (l !== undefined) { this.#long -= l; this.#longOwners.delete(owner); }
  }

  /** Bytes `owner` holds now. */
  held(owner: object): number {
    return this.#byOwner.get(owner) ?? 0;
  }

  /** @internal SendQueue bookkeeping. */
  track(q: SendQueue, on: boolean): void {
    if (on) this.#queues.add(q); else this.#queues.delete(q);
  }

  /**
   * Make room for `bytes` by closing the WebSockets with the largest send queues, each larger than
   * `asker`'s would be with them: a reader that stopped reading loses its connection, one that keeps up
   * keeps being served. True when the bytes fit afterwards.
   */
  evictFor(asker: SendQueue | undefined, bytes: number): boolean {
    // another kind of work only displaces queues that are clearly not draining
    const mine = asker ? this.held(asker) + bytes : Math.max(bytes, WS_MAX_QUEUED_BYTES / 4);
    while (!this.fits(bytes)) {
      let worst: SendQueue | undefined, most = mine;
      for (const q of this.#queues) {
        const h = this.held(q);
        if (q !== asker && h > most) { worst = q; most = h; }
      }
      if (!worst) return false;
      this.evicted++;
      worst.evict();
    }
    return true;
  }

  /** For /healthz and /metrics. */
  stats(): BudgetStats {
    let queuedBytes = 0;
    for (const q of this.#queues) queuedBytes += this.held(q);
    return {
      usedBytes: this.#used, totalBytes: this.totalBytes, shareBytes: this.shareBytes, subscriptionBytes: this.#long, owners: this.#byOwner.size,
      queuedBytes, queuedSockets: this.#queues.size, refused: this.refused, refusedBy: { ...this.refusedBy }, evicted: this.evicted,
    };
  }
}

/** The part of a `ws` WebSocket a SendQueue uses. */
export interface QueueSocket {
  readonly bufferedAmount: number;
  send(data: string | Buffer, opts: { binary: boolean }, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/**
 * The send side of one server WebSocket, charged to the memory budget: each frame reserves its bytes
 * (from the socket's own share, WS_MAX_QUEUED_BYTES, and the total) until the kernel took it. A peer that
 * does not read (its TCP window is full) cannot make the server hold more than its share: the frame that
 * would pass it is not sent, the refusal is counted under `what`, and the socket is closed with 1013
 * (try again later) and cut WS_SLOW_CLOSE_GRACE_MS later if the close does not get through. When the
 * total runs out, the sockets with the largest queues are cut first (see MemoryBudget.evictFor); when
 * none is larger than this one, this one is cut at once.
 */
export class SendQueue {
  readonly #budget: MemoryBudget;
  readonly #ws: QueueSocket;
  readonly #what: string;
  readonly #share: number;
  readonly #onClose: (() => void) | undefined;
  #open = true;
  #tracked = false;
  /** After each write: give back what left the process. One function per socket, not one per frame. */
  readonly #sync = (): void => {
    const held = this.#budget.held(this);
    const now = this.#ws.bufferedAmount;
    if (now < held) this.#budget.release(this, held - now);
    if (now === 0 || this.#budget.held(this) === 0) this.#untrack();
  };

  /** `onClose` runs once when the queue gives up on its socket (the module forgets the connection at once). */
  constructor(budget: MemoryBudget, ws: QueueSocket, what: string, onClose?: () => void, share = WS_MAX_QUEUED_BYTES) {
    this.#budget = budget;
    this.#ws = ws;
    this.#what = what;
    this.#onClose = onClose;
    this.#share = share;
  }

  /** False once the queue closed its socket (or `closed` was called). */
  get open(): boolean {
    return this.#open;
  }

  /**
   * Send a text frame unless its bytes do not fit the socket's share or the total: then close the socket
   * (1013) and return false. `done` runs once the frame left the process (or failed), as with ws's send.
   */
  send(data: string | Buffer, done?: (err?: Error | null) => void): boolean {
    if (!this.#open) { done?.(new Error('connection closed: too slow')); return false; }
    const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const held = this.#budget.held(this);
    // a single frame always fits an empty queue (frames are bounded by the modules' own limits)
    const share = held === 0 ? Math.max(this.#share, n) : this.#share;
    if (held + n > share) return this.#refuse(done, WS_SLOW_CLOSE_GRACE_MS);
    // the total ran out and no larger queue could be closed: this one goes at once, its memory is needed now
    if (!this.#budget.fits(n) && !this.#budget.evictFor(this, n)) return this.#refuse(done, 0);
    if (!this.#budget.reserve(this, n, this.#what, share)) return this.#refuse(done, 0, false);
    if (!this.#tracked) { this.#tracked = true; this.#budget.track(this, true); }
    const cb = done ? (err?: Error) => { this.#sync(); done(err); } : this.#sync;
    this.#ws.send(data, { binary: false }, cb);
    return true;
  }

  /** The socket closed: give back everything it held. */
  closed(): void {
    this.#open = false;
    this.#untrack();
    this.#budget.releaseAll(this);
  }

  /** @internal Closed to make room for others (MemoryBudget.evictFor): cut at once so its buffers are freed. */
  evict(): void {
    this.#open = false;
    try { this.#ws.close(1013, 'server memory budget used up: this connection was not reading'); } catch { /* already closing */ }
    this.#ws.terminate();
    this.closed();
    this.#onClose?.();
  }

  #refuse(done: ((err?: Error | null) => void) | undefined, graceMs: number, count = true): false {
    if (count) this.#budget.count(this.#what);
    this.#open = false;
    try { this.#ws.close(1013, 'too slow: replies are piling up'); } catch { /* already closing */ }
    if (graceMs > 0) setTimeout(() => this.#ws.terminate(), graceMs).unref?.();
    else { this.#ws.terminate(); this.closed(); }
    this.#onClose?.();
    done?.(new Error('connection closed: too slow'));
    return false;
  }

  #untrack(): void {
    if (!this.#tracked) return;
    this.#tracked = false;
    this.#budget.track(this, false);
  }
}

const budgets = new WeakMap<IncomingMessage, MemoryBudget>();

/** Tie a request to its server's budget (http.ts does this for every request) so body readers find it. */
export function attachBudget(req: IncomingMessage, budget: MemoryBudget): void {
  budgets.set(req, budget);
}

/** The budget of the server that received `req`, if any (requests built by tests have none). */
export function budgetOf(req: IncomingMessage): MemoryBudget | undefined {
  return budgets.get(req);
}

/**
 * Reserve `bytes` of the budget of the server that received `req` (from its connection's share) for as
 * long as a request streams (a blob download's read-ahead, an upload's part); RATE_LIMITED when there is
 * no room (counted under `what`). Returns the release, to call once the request is done.
 */
export function holdFor(req: IncomingMessage, bytes: number, what: string): () => void {
  const budget = budgetOf(req), owner = req.socket;
  if (!budget) return () => {};
  if (!budget.reserve(owner, bytes, what)) throw new PlexusError('RATE_LIMITED', `server memory budget for ${what} is used up: retry later`);
  let held = true;
  return () => { if (held) { held = false; budget.release(owner, bytes); } };
}
