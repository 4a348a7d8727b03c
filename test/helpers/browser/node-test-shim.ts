// A tiny stand-in for node:test in a browser page: describe/it/before/after are collected and run in
// order by `runCollected()`, which reports each test's name, pass/fail and error text.
type Fn = () => unknown | Promise<unknown>;
interface Suite { name: string; before: Fn[]; after: Fn[]; items: (Suite | { name: string; fn: Fn })[] }
const root: Suite = { name: '', before: [], after: [], items: [] };
let cur = root;

export function describe(name: string, fn: () => void): void {
  const s: Suite = { name, before: [], after: [], items: [] };
  cur.items.push(s);
  const prev = cur;
  cur = s;
  try { fn(); } finally { cur = prev; }
}
export function it(name: string, fn: Fn): void { cur.items.push({ name, fn }); }
export const test = it;
export function before(fn: Fn): void { cur.before.push(fn); }
export function after(fn: Fn): void { cur.after.push(fn); }

export interface Outcome { name: string; ok: boolean; error?: string }

async function run(s: Suite, prefix: string, out: Outcome[]): Promise<void> {
  const name = prefix ? `${prefix} > ${s.name}` : s.name;
  try { for (const b of s.before) await b(); } catch (err) { out.push({ name: `${name} (before)`, ok: false, error: String((err as Error)?.stack ?? err) }); return; }
  for (const item of s.items) {
    if ('items' in item) { await run(item, name, out); continue; }
    try { await item.fn(); out.push({ name: `${name} > ${item.name}`, ok: true }); } catch (err) { out.push({ name: `${name} > ${item.name}`, ok: false, error: String((err as Error)?.stack ?? err) }); }
  }
  try { for (const a of s.after) await a(); } catch (err) { out.push({ name: `${name} (after)`, ok: false, error: String(err) }); }
}

/** Run everything registered so far. */
export async function runCollected(): Promise<Outcome[]> {
  const out: Outcome[] = [];
  await run(root, '', out);
  return out;
}
export default { describe, it, test, before, after };
