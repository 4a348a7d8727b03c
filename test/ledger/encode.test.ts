import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { goJson, updateFrameParts, updateJson, updateText, type EncodedEvent } from '../../src/ledger/codec.js';
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
});
