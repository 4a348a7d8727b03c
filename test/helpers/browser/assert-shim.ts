// The parts of node:assert/strict the conformance suites use, for a browser page.
function fail(msg: string): never { throw new Error(msg); }
const show = (v: unknown) => { try { return JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x)); } catch { return String(v); } };

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Map && b instanceof Map) return a.size === b.size && [...a].every(([k, v]) => b.has(k) && same(v, b.get(k)));
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  const ka = Reflect.ownKeys(a), kb = Reflect.ownKeys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && same((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k]));
}

const assert = {
  ok(v: unknown, msg?: string) { if (!v) fail(msg ?? `expected truthy, got ${show(v)}`); },
  equal(a: unknown, b: unknown, msg?: string) { if (!Object.is(a, b)) fail(msg ?? `expected ${show(b)}, got ${show(a)}`); },
  notEqual(a: unknown, b: unknown, msg?: string) { if (Object.is(a, b)) fail(msg ?? `expected not ${show(b)}`); },
  deepEqual(a: unknown, b: unknown, msg?: string) { if (!same(a, b)) fail(msg ?? `expected ${show(b)}, got ${show(a)}`); },
  notDeepEqual(a: unknown, b: unknown, msg?: string) { if (same(a, b)) fail(msg ?? `expected not ${show(b)}`); },
  async rejects(p: Promise<unknown> | (() => Promise<unknown>), check?: (e: unknown) => boolean) {
    try { await (typeof p === 'function' ? p() : p); } catch (err) { if (check && !check(err)) fail(`rejected with an unexpected error: ${String(err)}`); return; }
    fail('expected a rejection');
  },
  throws(fn: () => unknown, check?: (e: unknown) => boolean) {
    try { fn(); } catch (err) { if (check && !check(err)) fail(`threw an unexpected error: ${String(err)}`); return; }
    fail('expected a throw');
  },
};
export default assert;
