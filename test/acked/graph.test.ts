import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { rawSocket, EDGE_STRINGS } from '../helpers/ws-raw.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

type Value = string | number | boolean | null;
const RUNS = 100; // per backend: 200 in all

const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom(...EDGE_STRINGS));
const value: fc.Arbitrary<Value> = fc.oneof(text, fc.string({ unit: 'binary', maxLength: 300 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(0, 1e308, -1e-308, Number.MAX_SAFE_INTEGER + 2, true, false, null));

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`graph (${backend}): every acked put reads back byte-identical after SIGKILL + restart; refused puts change nothing`, () => {
    const d = tmpDir();
    let s: ServeChild | undefined;
    let drop: (() => Promise<void>) | undefined;
    after(async () => { await s?.kill(); await drop?.(); d.rm(); });

    it(`${RUNS} random puts through plexus serve, then SIGKILL and read back`, async () => {
      const args = ['--data', d.path];
      if (backend === 'postgres') { const sc = await freshPgSchema('acked_graph'); drop = sc.drop; args.push('--postgres', sc.url); }
      s = await serveChild(args);
      let G = await rawSocket(s.url.replace('http', 'ws') + '/gun');
      const model = new Map<string, { soul: string; field: string; value: Value }>();
      const refusedKeys: Array<{ soul: string; field: string }> = [];
      let acked = 0, refused = 0, n = 0;
      const state0 = Date.now();
      const seed = Date.now() % 2 ** 31;
      console.log(`graph ${backend} seed ${seed}`);
      await fc.assert(fc.asyncProperty(text, text, value, async (soul0, field0, v) => {
        const i = n++;
        const soul = `p${i % 7}${soul0.replace(/[~#]/g, '_')}`, field = `f${field0}`; // a few souls shared across runs; no `~`/`#` (SEA-checked souls, tested in test/graph/sea*)
        const id = `w${i}`;
        G.send(JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [field]: state0 + i } }, [field]: v } } }));
        const a = JSON.parse(await G.next()) as { '@'?: string; ok?: unknown; err?: string; code?: string };
        assert.equal(a['@'], id);
        const ok = (x: string) => x.isWellFormed() && !x.includes('\0');
        const wellFormed = ok(soul) && ok(field) && (typeof v !== 'string' || ok(v));
        if (a.err === undefined) { acked++; model.set(JSON.stringify([soul, field]), { soul, field, value: v }); }
        else {
          refused++;
          assert.equal(wellFormed, false, `refused a well-formed put: ${a.err}`);
          assert.equal(a.code, 'BAD_REQUEST');
          if (ok(soul) && ok(field)) refusedKeys.push({ soul, field });
        }
        assert.equal(wellFormed, a.err === undefined, 'acked exactly the well-formed puts');
      }), { seed, numRuns: RUNS });
      G.close();
      await s.kill();
      s = await serveChild(args);
      G = await rawSocket(s.url.replace('http', 'ws') + '/gun');
      const read = async (soul: string, field: string): Promise<unknown> => {
        const id = `r${n++}`;
        G.send(JSON.stringify({ '#': id, get: { '#': soul, '.': field } }));
        const a = JSON.parse(await G.next()) as { put?: Record<string, Record<string, unknown>> };
        return a.put?.[soul] === undefined ? undefined : Object.hasOwn(a.put[soul]!, field) ? a.put[soul]![field] : undefined;
      };
      for (const w of model.values()) {
        const got = await read(w.soul, w.field);
        assert.equal(JSON.stringify(got), JSON.stringify(w.value), `${JSON.stringify(w.soul)}.${JSON.stringify(w.field)}`);
      }
      for (const k of refusedKeys) {
        const m = model.get(JSON.stringify([k.soul, k.field]));
        assert.equal(JSON.stringify(await read(k.soul, k.field)), JSON.stringify(m?.value), 'a refused put changed nothing');
      }
      console.log(`graph ${backend}: ${acked} acked, ${refused} refused, all read back identical`);
      G.close();
    });
  });
}
