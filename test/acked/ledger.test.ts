import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { rawSocket, EDGE_STRINGS } from '../helpers/ws-raw.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const RUNS = 100; // per backend: 200 in all
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom(...EDGE_STRINGS));
const scalar = fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(0, 1e21, 5e-324, Number.MAX_SAFE_INTEGER, true, false, null));
const arg = fc.dictionary(text, fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(text, scalar, { maxKeys: 3 })), { maxKeys: 4 });

const clean = (x: unknown): boolean => typeof x === 'string' ? x.isWellFormed() && !x.includes('\0')
  : Array.isArray(x) ? x.every(clean) : x !== null && typeof x === 'object' ? Object.entries(x).every(([k, v]) => clean(k) && clean(v)) : true;

/** JSON with object keys sorted (arrays, strings and numbers as they are). */
const canonical = (x: unknown): string => Array.isArray(x) ? `[${x.map(canonical).join(',')}]`
  : x !== null && typeof x === 'object' ? `{${Object.keys(x).sort().map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`).join(',')}}` : JSON.stringify(x);

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`ledger (${backend}): every acked evt.pub reads back byte-identical after SIGKILL + restart; refused ones change nothing`, () => {
    const d = tmpDir();
    let s: ServeChild | undefined;
    let drop: (() => Promise<void>) | undefined;
    after(async () => { await s?.kill(); await drop?.(); d.rm(); });

    it(`${RUNS} random publishes through plexus serve, then SIGKILL and read back`, async () => {
      const args = ['--data', d.path];
      if (backend === 'postgres') { const sc = await freshPgSchema('acked_ledger'); drop = sc.drop; args.push('--postgres', sc.url); }
      s = await serveChild(args);
      let E = await rawSocket(s.url.replace('http', 'ws') + '/evt');
      const acked: Array<{ key: string; arg: unknown }> = [];
      let refused = 0, n = 0;
      const seed = Date.now() % 2 ** 31;
      console.log(`ledger ${backend} seed ${seed}`);
      await fc.assert(fc.asyncProperty(text, arg, async (key0, a) => {
        const i = n++;
        const key = `${i}:${key0}`; // unique: every publish is a `new`
        E.send(`evt.pub#${i}\n${JSON.stringify({ acts: [{ top: 'prop', key, cmd: 'new', arg: a }] })}`);
        const r = await E.next();
        assert.ok(r.startsWith(`evt.pub#${i}\n`), r);
        const body = JSON.parse(r.slice(r.indexOf('\n') + 1)) as { res?: unknown; err?: string; code?: string };
        const ok = clean(key) && clean(a);
        if (body.err === undefined) acked.push({ key, arg: a });
        else { refused++; assert.equal(body.code, 'BAD_REQUEST', body.err); }
        assert.equal(body.err === undefined, ok, `acked exactly the clean publishes (${body.err ?? 'acked'})`);
      }), { seed, numRuns: RUNS });
      E.close();
      await s.kill();
      s = await serveChild(args);
      E = await rawSocket(s.url.replace('http', 'ws') + '/evt');
      E.send('evt.sub#s\n{"rev":"0001-01-01T00:00:00Z","tops":["prop"]}');
      const events: Array<{ key: string; arg: unknown }> = [];
      const first = await E.next();
      const res = (JSON.parse(first.slice(first.indexOf('\n') + 1)) as { res: { evs?: Array<{ key: string; arg?: unknown }> } }).res;
      for (const e of res.evs ?? []) events.push({ key: e.key, arg: e.arg ?? {} });
      while (events.length < acked.length) {
        const push = await E.next();
        const u = JSON.parse(push.slice(push.indexOf('\n') + 1)) as { evs?: Array<{ key: string; arg?: unknown }> };
        for (const e of u.evs ?? []) events.push({ key: e.key, arg: e.arg ?? {} });
      }
      assert.equal(events.length, acked.length, 'nothing refused was stored, nothing acked was lost');
      acked.forEach((w, i) => {
        assert.equal(events[i]!.key, w.key);
        // strings and numbers read back exactly; PostgreSQL's jsonb (like Go's evt, which decodes into maps)
        // does not keep the order of object keys, so objects compare as key sets
        assert.equal(canonical(events[i]!.arg), canonical(w.arg), `arg of ${JSON.stringify(w.key)}`);
        if (backend === 'sqlite') assert.equal(JSON.stringify(events[i]!.arg), JSON.stringify(w.arg), 'SQLite keeps the bytes as sent');
      });
      console.log(`ledger ${backend}: ${acked.length} acked, ${refused} refused, all read back identical`);
      E.close();
    });
  });
}
