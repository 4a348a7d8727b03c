import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { EDGE_STRINGS } from '../helpers/ws-raw.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const RUNS = 100; // per backend: 200 in all
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom(...EDGE_STRINGS));
/** Percent-encode every UTF-16 code unit as UTF-8 would (a lone surrogate becomes its 3-byte form, which is not UTF-8). */
const pathSegment = (s: string): string => {
  try { return encodeURIComponent(s); } catch { /* lone surrogate */ }
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) out += `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`.toUpperCase();
    else out += encodeURIComponent(ch);
  }
  return out;
};
const validName = (s: string) => s.length > 0 && s.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(s) && Buffer.byteLength(s) <= 1024;

type History = { ref: string; at: number }[];
/**
 * The model of one anchor's history under bs's rules (checked against real bs in test/blob/bs-go-fixtures):
 * the same ref again after the last entry changes nothing; an out-of-order put is sorted in (after
 * entries of the same time); adjacent equal refs collapse, the earlier entry staying.
 */
function bsPut(history: History, ref: string, at: number): History {
  const last = history[history.length - 1];
  if (last && last.at < at) return last.ref === ref ? history : [...history, { ref, at }];
  if (history.some((e) => e.at === at && e.ref === ref)) return history;
  const sorted = [...history, { ref, at }].sort((a, b) => a.at - b.at);
  return sorted.filter((e, i) => i === 0 || sorted[i - 1]!.ref !== e.ref);
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`blob (${backend}): every acked blob and anchor reads back identical after SIGKILL + restart; refused writes change nothing`, () => {
    const d = tmpDir();
    let s: ServeChild | undefined;
    let drop: (() => Promise<void>) | undefined;
    after(async () => { await s?.kill(); await drop?.(); d.rm(); });

    it(`${RUNS} random blob + anchor writes through plexus serve, then SIGKILL and read back`, async () => {
      const args = ['--data', d.path];
      if (backend === 'postgres') { const sc = await freshPgSchema('acked_blob'); drop = sc.drop; args.push('--postgres', sc.url); }
      s = await serveChild(args);
      const blobs = new Set<string>();
      const anchors = new Map<string, History>();
      let refused = 0, n = 0;
      const seed = Number(process.env.PLEXUS_ACKED_SEED ?? Date.now() % 2 ** 31); // PLEXUS_ACKED_SEED replays a printed seed
      console.log(`blob ${backend} seed ${seed}`);
      await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.oneof(fc.constant(''), text), fc.integer({ min: 0, max: 2 ** 40 }), async (bytes, name0, at) => {
        const i = n++;
        const r = await fetch(`${s!.url}/blob`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
        assert.ok(r.status === 200 || r.status === 201, `blob put ${r.status}`);
        const { ref } = await r.json() as { ref: string };
        assert.equal(ref, createHash('sha256').update(bytes).digest('hex'));
        blobs.add(ref);
        const name = i % 3 === 0 ? name0 : `a${i % 5}/${name0}`; // some names written several times
        const a = await fetch(`${s!.url}/anchor/${pathSegment(name)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ref, at }) });
        if (a.ok) {
          assert.ok(validName(name), `acked an invalid name ${JSON.stringify(name)}`);
          anchors.set(name, bsPut(anchors.get(name) ?? [], ref, at));
        } else {
          refused++;
          assert.ok(!validName(name) || name === '', `refused a valid name ${JSON.stringify(name)}: ${a.status}`);
          assert.ok(a.status === 400 || a.status === 404, String(a.status));
        }
      }), { seed, numRuns: RUNS });
      await s.kill();
      const s2: ServeChild = await serveChild(args);
      s = s2;
      for (const ref of blobs) {
        const r: Response = await fetch(`${s2.url}/blob/${ref}`);
        assert.equal(r.status, 200);
        assert.equal(createHash('sha256').update(Buffer.from(await r.arrayBuffer())).digest('hex'), ref);
      }
      for (const [name, history] of anchors) {
        const want = history[history.length - 1]!; // a Get after every entry answers the last one
        const r: Response = await fetch(`${s2.url}/anchor/${pathSegment(name)}?at=${2 ** 41}`);
        assert.equal(r.status, 200, JSON.stringify(name));
        const got = await r.json() as { name: string; ref: string; at: number };
        assert.deepEqual([got.name, got.ref, got.at], [name, want.ref, want.at], JSON.stringify(name));
      }
      const listed = await (await fetch(`${s2.url}/anchor?limit=10000`)).json() as { names: string[] };
      assert.deepEqual([...listed.names].sort(), [...anchors.keys()].sort(), 'no refused name was stored');
      console.log(`blob ${backend}: ${blobs.size} blobs, ${anchors.size} names acked, ${refused} anchor writes refused, all read back identical`);
    });
  });
}
