// Unit tests of the rinq wire formats: ids, CBOR payloads (byte fixtures as rinq-go's ugorji codec
// writes them), constraints, attributes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isPlexusError } from '../../src/errors.js';
import { encodePayload, decodePayload } from '../../src/bus/payload.js';
import {
  formatMessageId, formatPeerId, formatRef, formatSessionId, newPeerId, parseMessageId, parsePeerId, parseRef, parseSessionId, shortPeerId,
} from '../../src/bus/ids.js';
import { and, constraintFromWire, constraintToWire, equal, matchConstraint, none, not, notEqual, or, within, empty } from '../../src/bus/constraint.js';
import { attrToWire, vattrFromWire, vattrToWire, validateNamespace } from '../../src/bus/attributes.js';
import type { VAttr } from '../../src/bus/attributes.js';

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const seed = Number(process.env.SEED ?? Date.now() % 1e9);

describe('bus ids (rinq formats)', () => {
  it('formats peer, session, ref and message ids as rinq-go', () => {
    const peer = { clock: 0x58aee146, rand: 0x191c };
    assert.equal(formatPeerId(peer), '58AEE146-191C');
    assert.equal(shortPeerId(peer), '191C');
    assert.equal(shortPeerId({ clock: 1, rand: 0xa }), '000A');
    const sess = { peer, seq: 45 };
    assert.equal(formatSessionId(sess), '58AEE146-191C.45');
    assert.equal(formatRef({ session: sess, rev: 3 }), '58AEE146-191C.45@3');
    assert.equal(formatMessageId({ ref: { session: sess, rev: 3 }, seq: 7 }), '58AEE146-191C.45@3#7');
  });
  it('parses them back and rejects invalid ones', () => {
    assert.deepEqual(parseMessageId('58AEE146-191C.45@3#7'), { ref: { session: { peer: { clock: 0x58aee146, rand: 0x191c }, seq: 45 }, rev: 3 }, seq: 7 });
    assert.deepEqual(parseRef('58AEE146-191C.0@0'), { session: { peer: { clock: 0x58aee146, rand: 0x191c }, seq: 0 }, rev: 0 });
    for (const s of ['', 'x', '58AEE146-0000', '0-191C', '58AEE146-191C.45@3#0', '58AEE146-191C.45#1', 'ZZ-191C.1@1#1', '58AEE146-191C.-1@1#1', '58AEE146-191C.1@99999999999#1']) {
      assert.throws(() => parseMessageId(s), (e) => isPlexusError(e, 'BAD_REQUEST'), s);
    }
    assert.throws(() => parsePeerId('58AEE146-191C-1'));
    assert.throws(() => parseSessionId('58AEE146-191C'));
  });
  it('new peer ids have a non-zero 16-bit random part and the unix-seconds clock', () => {
    const p = newPeerId(1_700_000_000_123, () => 0);
    assert.equal(p.clock, 1_700_000_000);
    assert.equal(p.rand, 1);
    assert.ok(newPeerId(Date.now(), () => 0.999999).rand <= 0xffff);
  });
  it(`round-trips random ids (seed ${seed})`, () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0xffffffff }), (clock, rand, sseq, rev, mseq) => {
      const id = { ref: { session: { peer: { clock, rand }, seq: sseq }, rev }, seq: mseq };
      assert.deepEqual(parseMessageId(formatMessageId(id)), id);
    }), { seed, numRuns: 200 });
  });
});

describe('bus payloads (CBOR as rinq-go writes it)', () => {
  const fixtures: [unknown, string][] = [
    [{ a: 1, b: 'x' }, 'a2 6161 01 6162 6178'],
    [1.5, 'fb 3ff8000000000000'],
    [2 ** 40, '1b 0000010000000000'],
    [-1, '20'],
    [-(2 ** 33), '3b 00000001ffffffff'],
    [4294967295, '1a ffffffff'],
    ['héllo', '66 68c3a96c6c6f'],
    [new Uint8Array([1, 2]), '42 0102'],
    [[1, 'a'], '82 01 6161'],
    [true, 'f5'],
    [false, 'f4'],
    [{}, 'a0'],
    [{ nested: { list: [1, 2, 3] } }, 'a1 666e6573746564 a1 646c697374 83 010203'],
  ];
  it('encodes to the fixture bytes and decodes them back', () => {
    for (const [v, h] of fixtures) {
      assert.equal(hex(encodePayload(v)), h.replace(/\s+/g, ''), JSON.stringify(v, (_k, x) => x instanceof Uint8Array ? [...x] : x));
      assert.deepEqual(decodePayload(bytes(h)), v);
    }
  });
  it('nil is the empty body, both ways', () => {
    assert.equal(encodePayload(null).length, 0);
    assert.equal(encodePayload(undefined).length, 0);
    assert.equal(decodePayload(new Uint8Array(0)), null);
    assert.equal(decodePayload(bytes('f6')), null);
  });
  it('decodes what Go sends for maps with non-string keys and 64-bit ints', () => {
    assert.deepEqual(decodePayload(bytes('a1 01 6161')), { 1: 'a' });
    assert.equal(typeof decodePayload(bytes('1b ffffffffffffffff')), 'bigint');
    assert.deepEqual(decodePayload(bytes('bf 6161 01 ff')), { a: 1 }); // indefinite-length map
  });
  it('rejects invalid CBOR and trailing bytes with BAD_REQUEST', () => {
    for (const h of ['ff', 'a2 6161', '61', '0101', '1c']) assert.throws(() => decodePayload(bytes(h)), (e) => isPlexusError(e, 'BAD_REQUEST'), h);
  });
  it('rejects oversized payloads with TOO_LARGE', () => {
    assert.throws(() => encodePayload('x'.repeat(1024 * 1024 + 1)), (e) => isPlexusError(e, 'TOO_LARGE'));
  });
  it('keeps a `__proto__` key as an own field both ways (cbor-x alone renames it)', () => {
    const v = JSON.parse('{"__proto__":{"x":1},"a":[{"__proto__":null}]}') as Record<string, unknown>;
    const back = decodePayload(encodePayload(v)) as Record<string, unknown>;
    assert.deepEqual(back, v);
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.deepEqual(Object.keys(back), ['__proto__', 'a']);
    assert.deepEqual(decodePayload(bytes('a1 69 5f5f70726f746f5f5f f6')), JSON.parse('{"__proto__":null}'));
    assert.deepEqual(decodePayload(bytes('a1 68 5f5f70726f746f5f f6')), { __proto_: null }); // a real `__proto_` stays itself
  });
  it(`round-trips random JSON values (seed ${seed})`, () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const norm = JSON.parse(JSON.stringify(v)) as unknown; // -0 and the like as JSON sees them
      assert.deepEqual(decodePayload(encodePayload(norm)), norm === null ? null : norm);
    }), { seed, numRuns: 200 });
  });
});

describe('bus constraints', () => {
  it('encode as the CBOR maps rinq-go writes (keys sorted: k, o, t, v; empty fields omitted)', () => {
    assert.equal(hex(encodePayload(constraintToWire(none))), 'a1616f612a');
    // {k: "room", o: "=", v: "x"}
    assert.equal(hex(encodePayload(constraintToWire(equal('room', 'x')))), 'a3 616b 64726f6f6d 616f 613d 6176 6178'.replace(/ /g, ''));
    assert.equal(hex(encodePayload(constraintToWire(empty('room')))), 'a2616b64726f6f6d616f613d');
    // {o: "ns", t: [{k: "room", o: "=", v: "x"}], v: "app"}
    assert.equal(hex(encodePayload(constraintToWire(within('app', equal('room', 'x'))))), 'a3616f626e73617481a3616b64726f6f6d616f613d61766178617663617070');
    assert.equal(hex(encodePayload(constraintToWire(not(none)))), 'a2616f6121617481a1616f612a');
  });
  it('round-trip through the wire form', () => {
    const c = or(and(equal('a', '1'), notEqual('b', '')), not(within('x', equal('c', 'd'))), none);
    assert.deepEqual(constraintFromWire(decodePayload(encodePayload(constraintToWire(c)))), c);
  });
  it('match as rinq (missing = empty, within switches namespace)', () => {
    const attrs = new Map<string, Map<string, VAttr>>([['app', new Map([['room', { key: 'room', value: 'x', frozen: false, created: 1, updated: 1 }]])]]);
    const lookup = (ns: string, k: string) => attrs.get(ns)?.get(k);
    const m = (c: Parameters<typeof matchConstraint>[0], ns = 'app') => matchConstraint(c, ns, lookup);
    assert.equal(m(none), true);
    assert.equal(m(equal('room', 'x')), true);
    assert.equal(m(equal('room', 'x'), 'chat'), false);
    assert.equal(m(within('app', equal('room', 'x')), 'chat'), true);
    assert.equal(m(equal('nope', '')), true);
    assert.equal(m(notEqual('room', 'x')), false);
    assert.equal(m(not(equal('room', 'x'))), false);
    assert.equal(m(and(equal('room', 'x'), empty('other'))), true);
    assert.equal(m(or(equal('room', 'y'), equal('room', 'x'))), true);
    assert.equal(m(and()), true);
    assert.equal(m(or()), false);
  });
  it('reject malformed wire constraints', () => {
    for (const w of [null, 1, 'x', [], { o: '?' }, { o: '!' }, { o: 'ns' }, { o: '=', k: 1 }, { o: '&', t: 'x' }]) {
      assert.throws(() => constraintFromWire(w), (e) => isPlexusError(e, 'BAD_REQUEST'), JSON.stringify(w));
    }
    let deep: unknown = { o: '*' };
    for (let i = 0; i < 100; i++) deep = { o: '!', t: [deep] };
    assert.throws(() => constraintFromWire(deep), /nested too deeply/);
  });
});

describe('bus attributes', () => {
  it('wire form with short keys sorted by name (as rinq-go writes structs), empty fields omitted', () => {
    assert.equal(hex(encodePayload(attrToWire({ key: 'k', value: '', frozen: false }))), 'a1616b616b');
    // {f: true, k: "k", v: "v"}
    assert.equal(hex(encodePayload(attrToWire({ key: 'k', value: 'v', frozen: true }))), 'a36166f5616b616b61766176');
    // {cr: 1, f: true, k: "k", ur: 2, v: "v"}
    assert.equal(hex(encodePayload(vattrToWire({ key: 'k', value: 'v', frozen: true, created: 1, updated: 2 }))), 'a5626372016166f5616b616b6275720261766176');
    assert.deepEqual(vattrFromWire({ k: 'k', v: 'v', f: true, cr: 1, ur: 2 }), { key: 'k', value: 'v', frozen: true, created: 1, updated: 2 });
    assert.throws(() => vattrFromWire({ k: 1 }));
  });
  it('validates namespaces as rinq (non-empty, charset, _ reserved)', () => {
    assert.equal(validateNamespace('a.b-c:d_1'), 'a.b-c:d_1');
    for (const ns of ['', '_sess', 'a b', 'ü']) assert.throws(() => validateNamespace(ns), (e) => isPlexusError(e, 'BAD_REQUEST'));
  });
});
