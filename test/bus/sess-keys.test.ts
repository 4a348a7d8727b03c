// `_sess` payload bytes equal rinq-go's: its payloads are Go structs (remotesession/types.go:
// fetchRequest{s, ns, k}, fetchResponse{r, a}, updateRequest{s, r, ns, a}, updateResponse{r, cr},
// destroyRequest{s, r}; attributes.VAttr{rinq.Attr{k, v, f}, cr, ur}) and its CBOR encoder (ugorji/go
// codec, the version rinq-go v0.7.0 pins) writes a struct as a map with the keys sorted by name, empty
// `omitempty` fields left out. Fixtures written out by hand from that rule.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freeze, set } from '../../src/bus/index.js';
import { encodePayload } from '../../src/bus/payload.js';
import { RemoteSessions, serveSessionRequest } from '../../src/bus/remote.js';
import { SessionState } from '../../src/bus/revision.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const h = (s: string) => s.replace(/\s+/g, '');

describe('bus _sess payloads: keys sorted by name, as rinq-go writes them', () => {
  it('requests a peer sends to the owner (fetch, update, clear, destroy)', async () => {
    const sent: { cmd: string; bytes: string }[] = [];
    let reply: unknown = null;
    const remote = new RemoteSessions(async (_peer, cmd, payload) => { sent.push({ cmd, bytes: hex(encodePayload(payload)) }); return reply; });
    const rev = remote.at('6553F100-AAAA.7', 3);
    reply = { r: 3 };
    await rev.refresh();
    // fetchRequest for the head: {"s": 7}
    assert.deepEqual(sent.pop(), { cmd: 'fetch', bytes: h('a1 6173 07') });
    reply = { a: [{ k: 'user', v: 'ann', cr: 1, ur: 2 }], r: 3 };
    await rev.getMany('app', 'user', 'id');
    // {"k": ["user", "id"], "ns": "app", "s": 7}
    assert.deepEqual(sent.pop(), { cmd: 'fetch', bytes: h('a3 616b 82 6475736572 626964 626e73 63617070 6173 07') });
    reply = { cr: [4], r: 4 };
    const next = await rev.update('app', freeze('room', 'x'));
    // {"a": [{"f": true, "k": "room", "v": "x"}], "ns": "app", "r": 3, "s": 7}
    assert.deepEqual(sent.pop(), { cmd: 'update', bytes: h('a4 6161 81 a3 6166 f5 616b 64726f6f6d 6176 6178 626e73 63617070 6172 03 6173 07') });
    reply = { r: 5 };
    const cleared = await next.clear('other');
    // the clear command sends updateRequest without attributes: {"ns": "other", "r": 4, "s": 7}
    assert.deepEqual(sent.pop(), { cmd: 'clear', bytes: h('a3 626e73 656f74686572 6172 04 6173 07') });
    reply = null;
    await cleared.destroy();
    // destroyRequest: {"r": 5, "s": 7}
    assert.deepEqual(sent.pop(), { cmd: 'destroy', bytes: h('a2 6172 05 6173 07') });
  });

  it('responses of the owner (fetch, update)', () => {
    const state = new SessionState('6553F100-AAAA.1', () => {});
    state.tryUpdate(0, 'app', [set('user', 'bob'), freeze('id', '7')]);
    const lookup = (seq: number) => (seq === 1 ? state : undefined);
    // fetchResponse: {"a": [{"cr": 1, "k": "user", "ur": 1, "v": "bob"}, {"cr": 1, "f": true, "k": "id", "ur": 1, "v": "7"}], "r": 1}
    assert.equal(hex(encodePayload(serveSessionRequest('fetch', { k: ['user', 'id', 'nope'], ns: 'app', s: 1 }, lookup))),
      h('a2 6161 82 a4 626372 01 616b 6475736572 627572 01 6176 63626f62 a5 626372 01 6166 f5 616b 626964 627572 01 6176 6137 6172 01'));
    // updateResponse: {"cr": [1, 2], "r": 2}
    assert.equal(hex(encodePayload(serveSessionRequest('update', { a: [{ k: 'user', v: 'ann' }, { k: 'new', v: 'x' }], ns: 'app', r: 1, s: 1 }, lookup))),
      h('a2 626372 82 01 02 6172 02'));
    // a fetch of the head only: {"r": 2}
    assert.equal(hex(encodePayload(serveSessionRequest('fetch', { s: 1 }, lookup))), h('a1 6172 02'));
  });
});
