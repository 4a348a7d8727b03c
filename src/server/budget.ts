import type { IncomingMessage } from 'node:http';
import { SERVER_MEMORY_BUDGET_BYTES, SERVER_MEMORY_SHARE_BYTES } from '../limits.js';

/**
 * One server-wide memory budget: the work a connection can make the server hold (graph subscriptions,
 * JSON request bodies being read) is reserved here first, from the connection's share and from the
 * total. Past either, the new work is refused (the caller answers RATE_LIMITED) and counted; nothing is
 * buffered to wait for room. Amounts are estimates of heap bytes, not exact.
 */
export class MemoryBudget {
  readonly totalBytes: number;
  readonly shareBytes: number;
  #used = 0;
  #byOwner = new Map<object, number>();
  /** Reservations refused (total, and by what was asked for). */
  refused = 0;
  readonly refusedBy: Record<string, number> = {};

  constructor(totalBytes = SERVER_MEMORY_BUDGET_BYTES, shareBytes = SERVER_MEMORY_SHARE_BYTES) {
    this.totalBytes = totalBytes;
    this.shareBytes = shareBytes;
  }

  /** Reserve `bytes` for `owner` (a connection); false (and counted under `what`) when over its share or the total. */
  reserve(owner: object, bytes: number, what = 'other'): boolean {
    const mine = this.#byOwner.get(owner) ?? 0;
    if (mine + bytes > this.shareBytes || this.#used + bytes > this.totalBytes) {
      this.refused++;
      this.refusedBy[what] = (this.refusedBy[what] ?? 0) + 1;
      return false;
    }
    this.#byOwner.set(owner, mine + bytes);
    this.#used += bytes;
    return true;
  }

  /** Give back `bytes` reserved by `owner`. */
  release(owner: object, bytes: number): void {
    const mine = this.#byOwner.get(owner) ?? 0;
    const n = Math.min(mine, bytes);
    if (mine - n === 0) this.#byOwner.delete(owner); else this.#byOwner.set(owner, mine - n);
    this.#used -= n;
  }

  /** Give back everything `owner` holds (its connection closed). */
  releaseAll(owner: object): void {
    this.#used -= this.#byOwner.get(owner) ?? 0;
    this.#byOwner.delete(owner);
  }

  /** For /healthz and /metrics. */
  stats(): { usedBytes: number; totalBytes: number; shareBytes: number; owners: number; refused: number; refusedBy: Record<string, number> } {
    return { usedBytes: this.#used, totalBytes: this.totalBytes, shareBytes: this.shareBytes, owners: this.#byOwner.size, refused: this.refused, refusedBy: { ...this.refusedBy } };
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
