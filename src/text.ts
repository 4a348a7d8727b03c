/**
 * The one text validator of plexus: every module's boundary (graph wire, ledger frames, bus payloads and
 * names, blob anchor names, JSON request bodies) checks untrusted values with it, so a string that is not
 * well-formed Unicode (a lone UTF-16 surrogate, which UTF-8 storage and wires would silently replace) and
 * structures nested deeper than MAX_NESTING_DEPTH are refused the same way everywhere: BAD_REQUEST.
 * U+0000 is refused too: PostgreSQL text and jsonb cannot hold it, so SQLite and PostgreSQL servers
 * would otherwise disagree on what they accept.
 * Free of `node:*` so browser clients can use it too.
 */
import { PlexusError } from './errors.js';
import { MAX_NESTING_DEPTH } from './limits.js';

/** True when `s` has no lone surrogate (so it survives UTF-8 encoding unchanged) and no U+0000 (which PostgreSQL cannot store). */
export function isWellFormedText(s: string, allowNul = false): boolean {
  return s.isWellFormed() && (allowNul || !s.includes('\u0000'));
}

/** Options of textProblem / checkText. */
export interface TextOptions {
  /** Deepest nesting accepted (default MAX_NESTING_DEPTH). */
  maxDepth?: number;
  /** Accept U+0000 (for data that never reaches PostgreSQL text: bus payloads). Default false. */
  allowNul?: boolean;
}

const STRING_PROBLEM = 'string is not well-formed Unicode (lone UTF-16 surrogate) or holds U+0000';
const KEY_PROBLEM = 'object key is not well-formed Unicode (lone UTF-16 surrogate) or holds U+0000';

/**
 * Why `v` is not acceptable input, or undefined: a string (value or object key, at any depth) that is not
 * well-formed Unicode or holds U+0000 (unless allowNul), or arrays/objects nested more than `maxDepth` levels (`{}` and `[]` are one level).
 * Walks iteratively, so hostile depth cannot overflow the stack. Byte arrays are opaque.
 */
export function textProblem(v: unknown, { maxDepth = MAX_NESTING_DEPTH, allowNul = false }: TextOptions = {}): string | undefined {
  if (typeof v === 'string') return isWellFormedText(v, allowNul) ? undefined : STRING_PROBLEM;
  if (v === null || typeof v !== 'object') return undefined;
  // two parallel stacks and no entry arrays: every message a relay or hub receives is walked (allocation matters)
  const stack: unknown[] = [v], depths: number[] = [1];
  while (stack.length > 0) {
    const x = stack.pop() as object, depth = depths.pop()!;
    if (depth > maxDepth) return `value nested deeper than ${maxDepth} levels`;
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) continue;
    if (Array.isArray(x)) {
      for (const y of x) {
        if (typeof y === 'string') { if (!isWellFormedText(y, allowNul)) return STRING_PROBLEM; }
        else if (y !== null && typeof y === 'object') { stack.push(y); depths.push(depth + 1); }
      }
      continue;
    }
    if (x instanceof Map) {
      for (const [k, y] of x) {
        if (typeof k === 'string' && !isWellFormedText(k, allowNul)) return KEY_PROBLEM;
        if (typeof y === 'string') { if (!isWellFormedText(y, allowNul)) return STRING_PROBLEM; }
        else if (y !== null && typeof y === 'object') { stack.push(y); depths.push(depth + 1); }
      }
      continue;
    }
    // own enumerable string keys in Object.entries order (for-in lists them first, then inherited ones)
    for (const k in x) {
      if (!Object.hasOwn(x, k)) continue;
      if (!isWellFormedText(k, allowNul)) return KEY_PROBLEM;
      const y: unknown = (x as Record<string, unknown>)[k];
      if (typeof y === 'string') { if (!isWellFormedText(y, allowNul)) return STRING_PROBLEM; }
      else if (y !== null && typeof y === 'object') { stack.push(y); depths.push(depth + 1); }
    }
    if (x instanceof Set) {
      for (const y of x) {
        if (typeof y === 'string') { if (!isWellFormedText(y, allowNul)) return STRING_PROBLEM; }
        else if (y !== null && typeof y === 'object') { stack.push(y); depths.push(depth + 1); }
      }
    }
  }
  return undefined;
}

/** Throws BAD_REQUEST (naming `what`) unless `v` passes textProblem; returns `v`. */
export function checkText<T>(v: T, what: string, opts: TextOptions = {}): T {
  const p = textProblem(v, opts);
  if (p) throw new PlexusError('BAD_REQUEST', `${what}: ${p}`);
  return v;
}
