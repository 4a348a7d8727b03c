// float64(x): a number sent as a CBOR float64 (0xfb + 8 bytes, big-endian IEEE 754), so a Go peer
// decoding into interface{} gets a float64 even for an integral value (a plain 3 is the integer 0x03).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePayload, encodePayload, float64 } from '../../src/bus/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const h = (s: string) => s.replace(/\s+/g, '');
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

/** v with every number replaced by float64(number). */
function wrapNumbers(v: unknown): unknown {
  if (typeof v === 'number') return float64(v);
  if (Array.isArray(v)) return v.map(wrapNumbers);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrapNumbers(x)]));
  return v;
}

describe('bus payloads: float64()', () => {
  it('writes CBOR float64 bytes for integral and other values', () => {
    assert.equal(hex(encodePayload(3)), '03', 'a plain integral number is a CBOR integer');
    assert.equal(hex(encodePayload(float64(3))), h('fb 4008000000000000'));
    assert.equal(hex(encodePayload(float64(0))), h('fb 0000000000000000'));
    assert.equal(hex(encodePayload(float64(-1))), h('fb bff0000000000000'));
    assert.equal(hex(encodePayload(float64(1.5))), h('fb 3ff8000000000000'));
    assert.equal(hex(encodePayload(float64(2 ** 53))), h('fb 4340000000000000'));
    assert.equal(hex(encodePayload(float64(Infinity))), h('fb 7ff0000000000000'));
    // {"a": 1.0, "b": 2, "c": [0.5, 3, 2^40]}: only the wrapped numbers are floats; 2^40 stays a 64-bit integer
    assert.equal(hex(encodePayload({ a: float64(1), b: 2, c: [float64(0.5), 3, 2 ** 40] })),
      h('a3 6161 fb3ff0000000000000 6162 02 6163 83 fb3fe0000000000000 03 1b0000010000000000'));
    // inside a Map, too (keys as strings, as for every payload)
    assert.equal(hex(encodePayload(new Map([['x', float64(2)]]))), h('a1 6178 fb4000000000000000'));
    assert.equal(decodePayload(encodePayload(float64(3))), 3, 'decodes as a plain number');
  });

  it(`around a wrapper, everything else is byte for byte what it is without one (seed ${seed})`, () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const norm = JSON.parse(JSON.stringify(v)) as unknown;
      const plain = norm === null ? 'f6' : hex(encodePayload(norm));
      // {"f": 1.0, "x": v}
      assert.equal(hex(encodePayload({ f: float64(1), x: norm })), `a2 6166 fb3ff0000000000000 6178`.replace(/ /g, '') + plain);
      // every number wrapped: decodes to the same values
      const w = wrapNumbers(norm);
      assert.deepEqual(decodePayload(encodePayload(w)), norm);
    }), { seed, numRuns: 200 });
  });
});
