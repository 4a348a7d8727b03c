import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eventText, goJson, textPageFrameParts, updateFrameParts, updateJson, updateText, type EncodedEvent } from '../../src/ledger/codec.js';
import { formatFrame } from '../../src/ledger/frame.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { Arg, Event } from '../../src/ledger/event.js';

// strings with the characters Go escapes, quotes, backslashes, control characters and non-ASCII
const text = fc.string({ unit: fc.constantFrom('a', 'Z', '<', '>', '&', '"', '\\', '\n', '\u2028', '\u2029', 'é', '😀', ' ', '\t'), maxLength: 12 });
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(text, tie('v'), { maxKeys: 3 })),
})).v;
const arg = fc.option(fc.dictionary(text.filter((k) => !(k.length > 1 && k.endsWith('-'))), value, { maxKeys: 4 }), { nil: undefined });

describe('ledger codec: updates written as text', () => {
  it('updateText and updateFrameParts are byte-identical to goJson(updateJson(u)) and its pushed frame (property)', () => {
    fc.assert(fc.property(fc.array(fc.record({ top: text, key: text, cmd: fc.constantFrom('new', 'mod', 'del'), arg }), { maxLength: 5 }), fc.integer({ min: 0, max: 4e12 }), (evs, rev) => {
      const u = { rev, evs: evs.map((e, i): Event => { const o: Event = { id: i + 1, rev: rev - i, top: e.top, key: e.key, cmd: e.cmd }; if (e.arg !== undefined) o.arg = e.arg as Arg; return o; }) };
      assert.equal(updateText(u), goJson(updateJson(u)));
      assert.equal(updateFrameParts(u).join(''), formatFrame('evt.update', '', goJson(updateJson(u)), true));
      assert.equal(updateFrameParts({ rev }).join(''), formatFrame('evt.update', '', goJson(updateJson({ rev })), true));
      assert.equal(updateText({ rev }), goJson(updateJson({ rev })));
    }), { numRuns: 300 });
  });

  it('SQLite events pre-encoded from the stored JSON text encode exactly as the parsed events (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.record({ top: text.filter((t) => t.length > 0 && !/[\u0000-\u001f]/.test(t)), key: text, arg }), { minLength: 1, maxLength: 6 }), async (acts) => {
      const l = new SqliteLedger(':memory:');
      try {
        const keys = new Set<string>();
        for (const a of acts) {
          if (keys.has(a.top + '\n' + a.key)) continue;
          keys.add(a.top + '\n' + a.key);
          const act = { top: a.top, key: a.key, cmd: 'new' as const, ...(a.arg === undefined ? {} : { arg: a.arg as Arg }) };
          await l.publish({ acts: [act] });
        }
        const plain: Event[] = [], enc: EncodedEvent[] = [];
        for await (const e of l.events(0)) plain.push(e);
        for await (const e of l.eventsEncoded(0)) enc.push(e);
        assert.equal(enc.length, plain.length);
        assert.ok(enc.every((e) => e.json !== undefined && e.arg === undefined), 'the store encoded them');
        assert.equal(updateText({ rev: 5, evs: enc }), goJson(updateJson({ rev: 5, evs: plain })));
      } finally { await l.close(); }
    }), { numRuns: 60 });
  });

  it('SQLite text pages (built in SQL) equal the events encoded one by one, over revisions of any year and any paging (property)', async () => {
    // revisions from year 0001 to 9999: whole seconds, whole tenths and any ms, before and after 1970
    const rev = fc.oneof(fc.integer({ min: -62135596800, max: 253402300799 }).map((s) => s * 1000), fc.integer({ min: -621355968, max: 2534023007 }).map((t) => t * 100),
      fc.integer({ min: -62135596800000, max: 253402300799999 }));
    const act = fc.record({ top: fc.constantFrom('a', 'b<&>', 'tópico'), key: text, cmd: fc.constantFrom('new', 'mod', 'del'), arg });
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(act, rev), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 4 }), fc.subarray(['a', 'b<&>', 'tópico']), async (evs, limit, tops) => {
      const revs = [...new Set(evs.map(([, r]) => r))].sort((x, y) => x - y);
      let i = 0;
      const l = new SqliteLedger(':memory:', { clock: () => revs[Math.min(i++, revs.length - 1)]! });
      try {
        for (const [a] of evs) {
          if (i >= revs.length) break;
          const rec = await l.get(a.top, a.key);
          const cmd = rec ? (a.cmd === 'new' ? 'mod' : a.cmd) : 'new';
          await l.publish({ acts: [{ top: a.top, key: a.key, cmd, ...(a.arg === undefined || cmd === 'del' ? {} : { arg: a.arg as Arg }) }] });
        }
        const plain: Event[] = [];
        for await (const e of l.events(-62135596800001, tops)) plain.push(e);
        const pages: string[] = [];
        let after = 0, n = 0;
        for (;;) {
          const p = await l.eventsTextPage!(-62135596800001, tops, after, Number.MAX_SAFE_INTEGER, limit);
          if (!p) break;
          const evsOf = plain.slice(n, n + p.count);
          assert.equal(p.lastId, evsOf[evsOf.length - 1]!.id);
          assert.equal(p.lastRev, evsOf[evsOf.length - 1]!.rev);
          assert.equal(textPageFrameParts(p).join(''), updateFrameParts({ rev: p.lastRev, evs: evsOf }).join(''));
          pages.push(p.json);
          n += p.count;
          after = p.lastId;
        }
        assert.equal(n, plain.length);
        assert.equal(pages.join(','), plain.map(eventText).join(','));
      } finally { await l.close(); }
    }), { numRuns: 150 });
  });

  it('a SQLite text page stops at lastId and holds events the SQL does not format (sub-millisecond revisions) as the one-by-one encoding', async () => {
    const l = new SqliteLedger(':memory:', { clock: () => 1_700_000_000_000.5 });
    try {
      await l.publish({ acts: [{ top: 't', key: 'k1', cmd: 'new', arg: { a: 1 } }] });
      await l.publish({ acts: [{ top: 't', key: 'k2', cmd: 'new' }] });
      const plain: Event[] = [];
      for await (const e of l.events(0)) plain.push(e);
      const p = await l.eventsTextPage!(0, [], 0, plain[0]!.id, 10);
      assert.equal(p!.count, 1);
      assert.equal(textPageFrameParts(p!).join(''), updateFrameParts({ rev: p!.lastRev, evs: plain.slice(0, 1) }).join(''));
      assert.equal(await l.eventsTextPage!(0, [], plain[1]!.id, Number.MAX_SAFE_INTEGER, 10), undefined);
    } finally { await l.close(); }
  });
});
