import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFrame } from '../../src/graph/wire.js';
import { GRAPH_MAX_FIELD_LENGTH, GRAPH_MAX_MESSAGES_PER_FRAME, GRAPH_MAX_SOUL_LENGTH } from '../../src/limits.js';

const now = 1_700_000_000_000;
const node = (soul: string, fields: Record<string, unknown>, state: unknown = now) => ({ _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, state])) }, ...fields });

describe('graph wire: parseFrame', () => {
  it('parses object and array frames, put/get/dam/ack', () => {
    const f = parseFrame(JSON.stringify([
      { '#': 'p1', put: { h1: node('h1', { greeting: 'hello', n: 1, l: { '#': 'x' }, d: null, b: true }) }, ok: { '@': 9, '/': 1 } },
      { '#': 'g1', get: { '#': 'h1', '.': 'n' } },
      { '#': 'g2', get: { '#': 'h1', '.': { '*': 'ap' }, '%': 5e4 } },
      { '#': 'd1', dam: '?', pid: 'abc' },
      { '#': 'a1', '@': 'p1', ok: true },
    ]), { now });
    assert.equal(f.ignored, false);
    assert.equal(f.items.length, 5);
    const [p, g, g2, d, a] = f.items.map((i) => i.msg!);
    assert.deepEqual(p!.put, [
      { soul: 'h1', field: 'greeting', value: 'hello', state: now }, { soul: 'h1', field: 'n', value: 1, state: now },
      { soul: 'h1', field: 'l', value: { '#': 'x' }, state: now }, { soul: 'h1', field: 'd', value: null, state: now }, { soul: 'h1', field: 'b', value: true, state: now },
    ]);
    assert.deepEqual(g!.get, { soul: 'h1', field: 'n' });
    assert.deepEqual(g2!.get, { soul: 'h1', lex: { prefix: 'ap' }, budget: 5e4 });
    assert.equal(d!.dam, '?'); assert.equal(d!.pid, 'abc');
    assert.equal(a!.ack, 'p1'); assert.equal(a!.ok, true);
    const single = parseFrame('{"get":{"#":"x"}}', { now });
    assert.equal(single.items.length, 1);
    assert.match(single.items[0]!.msg!.id, /^[0-9A-Za-z]{9}$/);
    assert.deepEqual(parseFrame('[]').items, []);
  });

  it('ignores non-JSON-looking frames; answers malformed JSON with an error', () => {
    assert.equal(parseFrame('hello').ignored, true);
    const f = parseFrame('{"#":"x", nope');
    assert.equal(f.items[0]!.error!.message, 'DAM JSON parse error.');
  });

  it('rejects invalid puts as a whole (Q7), with the message id and a typed code', () => {
    const cases: [unknown, string][] = [
      [{ h: { _: { '#': 'other', '>': { a: now } }, a: 1 } }, 'BAD_REQUEST'],
      [{ h: { a: 1 } }, 'BAD_REQUEST'],
      [{ h: node('h', { a: [1] }) }, 'BAD_REQUEST'],
      [{ h: node('h', { a: { b: 1 } }) }, 'BAD_REQUEST'],
      [{ h: { _: { '#': 'h', '>': {} }, a: 1 } }, 'INVALID_STATE'],
      [{ h: node('h', { a: 1 }, 'zzz') }, 'INVALID_STATE'],
      [{ h: node('h', { a: 1 }, -1) }, 'INVALID_STATE'],
      [{ h: node('h', { a: 1 }, now + 365 * 86400e3) }, 'INVALID_STATE'],
      [{ ['s'.repeat(GRAPH_MAX_SOUL_LENGTH + 1)]: node('s'.repeat(GRAPH_MAX_SOUL_LENGTH + 1), { a: 1 }) }, 'BAD_REQUEST'],
      [{ h: node('h', { ['f'.repeat(GRAPH_MAX_FIELD_LENGTH + 1)]: 1 }) }, 'BAD_REQUEST'],
      ['x', 'BAD_REQUEST'],
    ];
    for (const [put, code] of cases) {
      const f = parseFrame(JSON.stringify({ '#': 'm1', put }), { now });
      assert.equal(f.items[0]!.error?.code, code, JSON.stringify(put).slice(0, 80));
      assert.equal(f.items[0]!.id, 'm1');
    }
    // NaN cannot be JSON, but a state of 1e999 parses to Infinity
    assert.equal(parseFrame(`{"#":"m","put":{"h":{"_":{"#":"h",">":{"a":1e999}},"a":1}}}`, { now }).items[0]!.error?.code, 'INVALID_STATE');
  });

  it('limits: huge frames, too many messages, deep nesting', () => {
    assert.equal(parseFrame('[' + '"x",'.repeat(100) + '"x"]', { maxFrameBytes: 100 }).items[0]!.error!.code, 'TOO_LARGE');
    const many = parseFrame(JSON.stringify(Array.from({ length: GRAPH_MAX_MESSAGES_PER_FRAME + 5 }, () => ({ get: { '#': 'a' } }))));
    assert.equal(many.dropped, 5);
    assert.equal(many.items.length, GRAPH_MAX_MESSAGES_PER_FRAME);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const d = parseFrame(deep);
    assert.ok(d.items.every((i) => i.error));
    const deepPut = parseFrame(JSON.stringify({ '#': 'm', put: { h: node('h', { a: JSON.parse('{"b":'.repeat(1000) + '1' + '}'.repeat(1000)) }) } }), { now });
    assert.equal(deepPut.items[0]!.error!.code, 'BAD_REQUEST');
  });

  it('fuzz: parseFrame never throws and every item is a message or an error (500 runs)', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    const json = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.double(), fc.string(), fc.constantFrom('#', '@', '_', '>', 'put', 'get', '.', 'dam'), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.constantFrom('#', '@', '_', '>', '.', 'put', 'get', 'dam', 'ok', 'err', 'h', 'a', '%', '><', '*'), tie('v'), { maxKeys: 5 })),
    })).v;
    try {
      fc.assert(fc.property(fc.oneof(json.map((v) => JSON.stringify(v) ?? 'null'), fc.string(), json.map((v) => (JSON.stringify(v) ?? '').slice(0, 7))), (text) => {
        const f = parseFrame(text, { now });
        for (const i of f.items) assert.ok((i.msg === undefined) !== (i.error === undefined));
      }), { numRuns: 500, seed });
    } catch (err) {
      console.error(`wire fuzz failed, seed=${seed}`);
      throw err;
    }
  });
});
