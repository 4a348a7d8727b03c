import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBody, decodeTrans } from '../../src/ledger/codec.js';
import { MAX_NESTING_DEPTH, LEDGER_MAX_TRANS_BYTES } from '../../src/limits.js';

const nested = (levels: number): string => '['.repeat(levels - 1) + ']'.repeat(levels - 1);
const pub = (arg: string, key = 'k') => `{"acts":[{"top":"t","key":"${key}","cmd":"new","arg":${arg}}]}`;
const code = (f: () => unknown): string | undefined => { try { f(); return undefined; } catch (err) { return (err as { code?: string }).code; } };

// decodeBody checks short bodies on their text and walks only the others: both ways must agree
describe('ledger codec: text checks of publish bodies (short bodies checked on their text)', () => {
  it('accepts a short ordinary publish and decodes it', () => {
    const t = decodeTrans(decodeBody(pub('{"name":"x","n":1,"tags":["a","b"]}')));
    assert.deepEqual(t.acts, [{ top: 't', key: 'k', cmd: 'new', arg: { name: 'x', n: 1, tags: ['a', 'b'] } }]);
  });

  it('refuses escaped lone surrogates and U+0000 in keys, values and object keys (short and long bodies)', () => {
    const pad = 'p'.repeat(5000);
    for (const body of [pub('{"v":"\\ud800"}'), pub('{"\\udc00":1}'), pub('{"v":"a\\u0000"}'), pub('{"v":1}', '\\ud800x'), pub(`{"v":"\\ud800","pad":"${pad}"}`)]) {
      assert.equal(code(() => decodeTrans(decodeBody(body))), 'BAD_REQUEST', body.slice(0, 60));
    }
  });

  it('refuses a raw lone surrogate or U+0000 character in the text', () => {
    assert.equal(code(() => decodeTrans(decodeBody(pub('{"v":"\ud800"}')))), 'BAD_REQUEST');
    assert.equal(code(() => decodeTrans(decodeBody(pub('{"v":"a\u0000"}')))), 'BAD_REQUEST');
  });

  it('accepts well-formed escapes (a surrogate pair, é) and decodes them', () => {
    const t = decodeTrans(decodeBody(pub('{"v":"\\ud83d\\ude00\\u00e9"}')));
    assert.equal(t.acts[0]!.arg!.v, '😀é');
  });

  it('nesting: exactly MAX_NESTING_DEPTH levels pass, one more is refused (brackets inside strings do not count)', () => {
    // body object, acts array, action object, arg object = 4 levels, then the nested arrays
    const ok = pub(`{"a":${nested(MAX_NESTING_DEPTH - 3)}}`);
    assert.doesNotThrow(() => decodeTrans(decodeBody(ok)));
    assert.equal(code(() => decodeTrans(decodeBody(pub(`{"a":${nested(MAX_NESTING_DEPTH - 2)}}`)))), 'BAD_REQUEST');
    // many brackets inside a string: the text count says "maybe too deep", the walk accepts it
    assert.doesNotThrow(() => decodeTrans(decodeBody(pub(`{"s":"${'['.repeat(200)}"}`))));
  });

  it('a long body is still measured: actions over LEDGER_MAX_TRANS_BYTES are TOO_LARGE', () => {
    const big = pub(`{"s":"${'x'.repeat(LEDGER_MAX_TRANS_BYTES)}"}`);
    assert.equal(code(() => decodeTrans(decodeBody(big))), 'TOO_LARGE');
  });
});
