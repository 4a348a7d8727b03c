import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyAction, collect, collectAll, merge, mergeDeltas, nextRev, sortEvents, type Action, type Arg } from '../../src/ledger/event.js';
import { formatTime, parseTime, ZERO_TIME } from '../../src/ledger/time.js';
import { goJson } from '../../src/ledger/codec.js';
import { isPlexusError } from '../../src/errors.js';

const T = (s: string) => parseTime(s);

describe('time encoding', () => {
  it('formats like Go (trimmed fraction, zero time literal)', () => {
    assert.equal(formatTime(T('2024-02-10T17:02:51.456Z')), '2024-02-10T17:02:51.456Z');
    assert.equal(formatTime(T('2024-02-10T17:02:51.450Z')), '2024-02-10T17:02:51.45Z');
    assert.equal(formatTime(T('2024-02-10T17:02:51Z')), '2024-02-10T17:02:51Z');
    assert.equal(formatTime(ZERO_TIME), '0001-01-01T00:00:00Z');
    assert.equal(formatTime(T('2024-02-10T17:05:00.001234Z')), '2024-02-10T17:05:00.001234Z');
  });
  it('parses offsets and many fraction digits', () => {
    assert.equal(T('2024-02-10T18:02:51.456+01:00'), T('2024-02-10T17:02:51.456Z'));
    assert.equal(T('0001-01-01T00:00:00Z'), ZERO_TIME);
    assert.throws(() => T('2024-02-30T00:00:00Z'));
    assert.throws(() => T('yesterday'));
  });
  it('escapes like Go', () => {
    assert.equal(goJson({ a: '<&>\u2028' }), '{"a":"\\u003c\\u0026\\u003e\\u2028"}');
  });
});

describe('nextRev (evt.md §14.1)', () => {
  const Z = ZERO_TIME;
  const vectors: Array<[number, string, string]> = [
    [Z, '2024-02-10T17:02:51.456789Z', '2024-02-10T17:02:51.456Z'],
    [T('2024-02-10T17:02:51.456Z'), '2024-02-10T17:02:51.456999Z', '2024-02-10T17:02:51.457Z'],
    [T('2024-02-10T17:02:51.456Z'), '2024-02-10T17:02:51.457001Z', '2024-02-10T17:02:51.457Z'],
    [T('2024-02-10T17:02:51.456Z'), '2024-02-10T17:02:50Z', '2024-02-10T17:02:51.457Z'],
    [T('2024-02-10T17:02:51.999Z'), '2024-02-10T17:02:51.999Z', '2024-02-10T17:02:52Z'],
    [T('2024-02-10T17:02:51.456Z'), '2024-02-10T17:02:51.458Z', '2024-02-10T17:02:51.458Z'],
    [Z, '0001-01-01T00:00:00Z', '0001-01-01T00:00:00.001Z'],
    [Z, '1969-12-31T23:59:59.9995Z', '1969-12-31T23:59:59.999Z'],
  ];
  vectors.forEach(([last, t, want], i) => it(`vector ${i + 1}`, () => assert.equal(formatTime(nextRev(last, T(t))), want)));
});

describe('merge (evt.md §14.2)', () => {
  const s = { top: 'prod.cat', key: '1' };
  const A = (cmd: string, arg?: Arg, key = '1'): Action => (arg ? { ...s, key, cmd, arg } : { ...s, key, cmd });
  const ok: Array<[Action, Action, Action]> = [
    [A('new', { name: 'a' }), A('mod', { name: 'b' }), A('new', { name: 'b' })],
    [A('new', { name: 'a' }), A('mod', { label: 'x' }), A('new', { name: 'a', label: 'x' })],
    [A('mod', { name: 'a', n: 1 }), A('mod', { n: 2, label: 'x' }), A('mod', { name: 'a', n: 2, label: 'x' })],
    [A('mod', { n: 1 }), A('mod', { n: 2 }), A('mod', { n: 2 })],
    [A('mod', { n: 1 }), A('del'), A('del')],
    [A('new', { name: 'a' }), A('del'), A('del')],
    [A('del'), A('new', { name: 'c' }), A('mod', { name: 'c' })],
  ];
  ok.forEach(([a, b, want], i) => it(`vector ${i + 1}`, () => {
    const got = merge(a, b);
    assert.deepEqual(got, want);
    assert.deepEqual(Object.keys(got.arg ?? {}), Object.keys(want.arg ?? {}), 'key order');
  }));
  const errs: Array<[Action, Action, string]> = [
    [A('del'), A('mod', { n: 1 }), 'mod after del action for {prod.cat 1}'],
    [A('del'), A('del'), 'double del action for {prod.cat 1}'],
    [A('new', { x: 1 }), A('new', { x: 2 }), 'new action for existing {prod.cat 1}'],
    [A('mod', { x: 1 }), A('new', { x: 2 }), 'new action for existing {prod.cat 1}'],
    [A('new'), A('mod', {}, '2'), 'event signature mismatch {prod.cat 1} != {prod.cat 2}'],
    [A('foo'), A('mod'), 'unresolved action foo'],
    [A('new'), A('foo'), 'unresolved action foo'],
    [A('del'), A('foo'), 'unresolved action foo'],
  ];
  errs.forEach(([a, b, msg], i) => it(`error vector ${i + 8}`, () => {
    assert.throws(() => merge(a, b), (e: unknown) => isPlexusError(e, 'INVALID_TRANS') && e.message === msg);
  }));
  it('does not mutate its inputs', () => {
    const a = A('mod', { n: 1 });
    merge(a, A('mod', { m: 2 }));
    assert.deepEqual(a.arg, { n: 1 });
  });
  it('mergeDeltas keeps order and appends', () => {
    assert.deepEqual(Object.entries(mergeDeltas({ a: 1, b: 2 }, { c: 3, a: 4 })), [['a', 4], ['b', 2], ['c', 3]]);
  });

  it('property: apply(apply(S,a),b) = apply(S,merge(a,b)) (rows 1-5, 7 with full args)', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    const field = fc.constantFrom('name', 'n', 'label', 'x');
    const delta = fc.dictionary(field, fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean()), { maxKeys: 4 });
    const state = fc.option(delta, { nil: undefined });
    const pair = fc.tuple(state, fc.constantFrom('new', 'mod', 'del'), delta, fc.constantFrom('new', 'mod', 'del'), delta);
    try {
      fc.assert(fc.property(pair, ([S, ca, da, cb, db]) => {
        const a = A(ca, ca === 'del' ? undefined : da), b = A(cb, cb === 'del' ? undefined : db);
        let mid: Arg | undefined, seq: Arg | undefined;
        try { mid = applyAction(S, a); seq = applyAction(mid, b); } catch { return; } // pair does not apply to S
        if (a.cmd === 'new' && b.cmd === 'del') return; // documented exception (row 6)
        if (a.cmd === 'del' && b.cmd === 'new') {
          // row 7 holds when b lists every field of the record
          const full = { ...Object.fromEntries(Object.keys(S ?? {}).map((k) => [k, null])), ...db };
          const m = merge(a, A('new', full));
          assert.deepEqual(applyAction(S, m), applyAction(mid, A('new', full)));
          return;
        }
        assert.deepEqual(applyAction(S, merge(a, b)), seq);
      }), { seed, numRuns: 300 });
    } catch (err) { console.error(`merge property failed, seed ${seed}`); throw err; }
  });
});

describe('collect', () => {
  const evs = [
    { id: 1, rev: 5, top: 't', key: '1', cmd: 'new' }, { id: 2, rev: 5, top: 't', key: '2', cmd: 'new' },
    { id: 3, rev: 6, top: 't', key: '1', cmd: 'del' }, { id: 4, rev: 6, top: 'u', key: '1', cmd: 'new' },
  ];
  it('collect picks one record in input order', () => {
    assert.deepEqual(collect(evs, { top: 't', key: '1' }).map((e) => e.id), [1, 3]);
    assert.deepEqual(collect(evs, { top: 'x', key: '1' }), []);
  });
  it('collectAll groups by record', () => {
    const m = collectAll(evs);
    assert.equal(m.size, 3);
    assert.deepEqual(m.get('t\n1')!.map((e) => e.id), [1, 3]);
  });
  it('sortEvents orders by (rev, id)', () => {
    assert.deepEqual(sortEvents([evs[3]!, evs[1]!, evs[2]!, evs[0]!]).map((e) => e.id), [1, 2, 3, 4]);
  });
});

describe('a field named __proto__', () => {
  it('is stored as a field by new and mod, on every ledger, never as the record\'s prototype', async () => {
    const { MemoryLedger } = await import('../../src/ledger/memory.js');
    const { SqliteLedger } = await import('../../src/ledger/sqlite.js');
    for (const l of [new MemoryLedger(), new SqliteLedger(':memory:')]) {
      try {
        await l.publish({ acts: [{ top: 't', key: 'k', cmd: 'new', arg: JSON.parse('{"a":1,"__proto__":{"x":1}}') as Arg }] });
        await l.publish({ acts: [{ top: 't', key: 'k', cmd: 'mod', arg: JSON.parse('{"__proto__":{"y":2}}') as Arg }] });
        const rec = await l.get('t', 'k');
        assert.equal(JSON.stringify(rec!.data), '{"a":1,"__proto__":{"y":2}}');
        assert.equal(Object.getPrototypeOf(rec!.data), Object.prototype);
        await l.publish({ acts: [{ top: 't', key: 'k', cmd: 'mod', arg: JSON.parse('{"__proto__-":null}') as Arg }] });
        assert.equal(JSON.stringify((await l.get('t', 'k'))!.data), '{"a":1}');
      } finally { await l.close(); }
    }
    const m = mergeDeltas(JSON.parse('{"a":1}') as Arg, JSON.parse('{"__proto__":{"z":3}}') as Arg);
    assert.equal(JSON.stringify(m), '{"a":1,"__proto__":{"z":3}}');
  });
});
