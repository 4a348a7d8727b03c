import { GRAPH_MAX_LEX_FIELDS } from '../limits.js';
import type { GraphStore, SoulRange } from './store.js';
import type { FieldState, Value } from './value.js';
import type { FieldLex } from './wire.js';

/**
 * Lexical reads as gun 0.2020.1241's relay answers them (lib/store.js over radisk): matches in key
 * order (reverse with `-`), and a `%` budget counted the way gun counts it: each value costs its length
 * when it is a non-empty string, else 9; before each match, stop once the budget is used up, so the
 * first match is always sent. With a prefix (`*`), the `>`/`<` bounds compare what follows the prefix.
 * Soul queries walk the keys `soul + ESC + field` of every matching soul, so the budget, the order and
 * the bounds apply to souls and their fields together, as on gun.
 * Deliberate differences (gun.md Q6): without `%` (or with a `%` gun ignores: 0 or above 100,000) every
 * match is returned up to GRAPH_MAX_LEX_FIELDS, not only the first; a field named exactly like the prefix
 * does not hide the others; range-only soul queries answer real souls (gun prefixes them with "undefined").
 */

/** gun's separator between soul and field in radisk keys. */
const ESC = '\x1b';
/** The largest `%` gun's relay honours (radisk's default pack size); a bigger one means "no budget". */
export const GUN_LEX_MAX_BUDGET = 100_000;
/** Souls fetched from the store per page while a soul query runs. */
const SOUL_PAGE = 256;

/** What one value costs against a `%` budget (gun: `(value || '').length || 9`). */
export function lexCost(v: Value): number {
  return typeof v === 'string' && v.length > 0 ? v.length : 9;
}

/** The budget a `%` gives: Infinity when absent, 0, or larger than gun honours. */
export function lexBudget(pct: number | undefined): number {
  return pct === undefined || pct === 0 || !(pct <= GUN_LEX_MAX_BUDGET) ? Infinity : pct;
}

/** Whether `key` matches a LEX (prefix, then the `>`/`<` bounds on what follows the prefix). */
export function lexMatches(lex: FieldLex, key: string): boolean {
  const prefix = lex.prefix ?? '';
  if (!key.startsWith(prefix)) return false;
  const rest = key.slice(prefix.length);
  if (lex.from !== undefined && rest < lex.from) return false;
  if (lex.to !== undefined && lex.to !== '' && rest > lex.to) return false;
  return true;
}

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/** A running `%` budget and the GRAPH_MAX_LEX_FIELDS cap. */
class Budget {
  #used = 0;
  #n = 0;
  constructor(readonly limit: number, readonly max: number) {}
  /** Whether one more match may be taken (gun checks before adding). */
  get open(): boolean { return this.#used < this.limit && this.#n < this.max; }
  take(v: Value): void { this.#used += lexCost(v); this.#n++; }
}

/** The fields of one node a lexical field get answers, in the order gun sends them. */
export function selectFields(fields: Iterable<[string, FieldState]>, lex: FieldLex, pct?: number, max = GRAPH_MAX_LEX_FIELDS): [string, FieldState][] {
  const sorted = [...fields].filter(([f]) => lexMatches(lex, f)).sort(byKey);
  if (lex.reverse) sorted.reverse();
  const budget = new Budget(lexBudget(pct), max);
  const out: [string, FieldState][] = [];
  for (const e of sorted) {
    if (!budget.open) break;
    out.push(e);
    budget.take(e[1].value);
  }
  return out;
}

/** The store query that lists every soul whose keys `soul + ESC + field` can match `lex`. */
export function soulRange(lex: FieldLex, limit: number): SoulRange {
  const prefix = lex.prefix ?? '';
  const q: SoulRange = { limit, ...(prefix ? { prefix } : {}), ...(lex.reverse ? { reverse: true } : {}) };
  if (lex.from !== undefined) {
    // a key below `from` can only be avoided by souls at or above `from` cut before its first char <= ESC
    const cut = lex.from.search(/[\x00-\x1b]/);
    const from = prefix + (cut < 0 ? lex.from : lex.from.slice(0, cut));
    if (from) q.from = from;
  }
  // a soul is a prefix of its keys, so every soul with a key <= `to` is itself <= `to`
  if (lex.to !== undefined && lex.to !== '') q.to = prefix + lex.to;
  return q;
}

/**
 * Answer a lexical soul query (`{'#': {'*': prefix, '>': from, '<': to}, '%': n}`): the matching souls
 * with the fields that fit the budget, in gun's order. Empty when the store cannot list souls.
 */
export async function selectSouls(store: GraphStore, lex: FieldLex, pct?: number, max = GRAPH_MAX_LEX_FIELDS): Promise<[string, [string, FieldState][]][]> {
  if (!store.souls) return [];
  const budget = new Budget(lexBudget(pct), max);
  const out: [string, [string, FieldState][]][] = [];
  const range = soulRange(lex, SOUL_PAGE);
  for (;;) {
    const souls = await store.souls(range);
    for (const soul of souls) {
      const node = await store.get(soul);
      if (!node) continue;
      const keyed = [...node].map(([f, s]) => [soul + ESC + f, f, s] as const).filter(([k]) => lexMatches(lex, k));
      keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      if (lex.reverse) keyed.reverse();
      const taken: [string, FieldState][] = [];
      for (const [, f, s] of keyed) {
        if (!budget.open) break;
        taken.push([f, s]);
        budget.take(s.value);
      }
      if (taken.length) out.push([soul, taken]);
      if (!budget.open) return out;
    }
    if (souls.length < range.limit) return out;
    range.after = souls[souls.length - 1]!;
  }
}
