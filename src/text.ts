/**
 * The one text validator of plexus: every module's boundary (graph wire, ledger frames, bus payloads and
 * names, blob anchor names, JSON request bodies) checks untrusted values with it, so a string that is not
 * well-formed Unicode (a lone UTF-16 surrogate, which UTF-8 storage and wires would silently replace) and
 * structures nested deeper than MAX_NESTING_DEPTH are refused the same way everywhere: BAD_REQUEST.
 * Free of `node:*` so browser clients can use it too.
 */
import { PlexusError } from './errors.js';
import { MAX_NESTING_DEPTH } from './limits.js';

/** True when `s` has no lone surrogate (so it survives UTF-8 encoding unchanged). */
export function isWellFormedText(s: string): boolean {
  return s.isWellFormed();
}

/**
 * Why `v` is not acceptable input, or undefined: a string (value or object key, at any depth) that is not
 * well-formed Unicode, or arrays/objects nested more than `maxDepth` levels (`{}` and `[]` are one level).
 * Walks iteratively, so hostile depth cannot overflow the stack. Byte arrays are opaque.
 */
export function textProblem(v: unknown, maxDepth = MAX_NESTING_DEPTH): string | undefined {
  if (typeof v === 'string') return v.isWellFormed() ? undefined : 'string is not well-formed Unicode (lone UTF-16 surrogate)';
  if (v === null || typeof v !== 'object') return undefined;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (depth > maxDepth) return `value nested deeper than ${maxDepth} levels`;
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) continue;
    const entries: Iterable<[unknown, unknown]> = x instanceof Map ? x : Array.isArray(x) ? [] : Object.entries(x as object);
    const items: Iterable<unknown> = Array.isArray(x) ? x : x instanceof Set ? x : [];
    for (const [k, y] of entries) {
      if (typeof k === 'string' && !k.isWellFormed()) return 'object key is not well-formed Unicode (lone UTF-16 surrogate)';
      if (typeof y === 'string') { if (!y.isWellFormed()) return 'string is not well-formed Unicode (lone UTF-16 surrogate)'; }
      else if (y !== null && typeof y === 'object') stack.push([y, depth + 1]);
    }
    for (const y of items) {
      if (typeof y === 'string') { if (!y.isWellFormed()) return 'string is not well-formed Unicode (lone UTF-16 surrogate)'; }
      else if (y !== null && typeof y === 'object') stack.push([y, depth + 1]);
    }
  }
  return undefined;
}

/** Throws BAD_REQUEST (naming `what`) unless `v` passes textProblem; returns `v`. */
export function checkText<T>(v: T, what: string, maxDepth = MAX_NESTING_DEPTH): T {
  const p = textProblem(v, maxDepth);
  if (p) throw new PlexusError('BAD_REQUEST', `${what}: ${p}`);
  return v;
}
