// Interop with a rinq-go-shaped peer on the real RabbitMQ: the other side is plain amqplib publishing
// and consuming exactly what rinq-go v0.7.0 does (properties and CBOR bytes written out by hand).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { set, freeze, float64, type Peer, type Notification } from '../../src/bus/index.js';
import { amqpTestNetwork } from '../bus/amqp-helpers.js';
import { RawPeer, hexBytes, type Msg } from '../bus/raw-peer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bus interop: rinq-go wire format on RabbitMQ', () => {
  let net: Awaited<ReturnType<typeof amqpTestNetwork>>;
  let peer: Peer;
  let raw: RawPeer;
  let ns: string;
  before(async () => {
    net = await amqpTestNetwork('interop');
    peer = await net.peer({ logger: () => {} });
    raw = await RawPeer.open();
    ns = net.ns('interop');
    await peer.listen(ns, (req, res) => {
      const p = req.payload as { a: number; b: number };
      if (req.command === 'add') res.done({ sum: p.a + p.b });
      else if (req.command === 'fail') res.fail('bad-input', 'a is wrong', 7);
      else res.error(new Error('unknown command'));
    });
  });
  after(async () => {
    await raw.close();
    await net.close();
  });

  it('serves a balanced Call published as rinq-go does; the response carries Type s, the deadline and CBOR', async () => {
    await raw.declareBalanced(ns);
    const id = `${raw.id}.1@0#1`;
    const dl = Date.now() + 5000;
    // {"a": 1, "b": 2} as ugorji's CBOR writes it
    raw.publish('cmd.bal', ns, hexBytes('a2 6161 01 6162 02'), { messageId: id, priority: 1, replyTo: 'c', expiration: '5000', headers: { n: ns, c: 'add', dl: { '!': 'int64', value: dl } } });
    const m = await raw.waitResponse(id);
    assert.equal(m.fields.exchange, 'cmd.rsp');
    assert.equal(m.properties.type, 's');
    assert.equal(m.properties.correlationId, id, 'trace id: the root request id');
    assert.equal(Number(m.properties.headers?.dl), dl);
    assert.ok(Number(m.properties.expiration) > 0 && Number(m.properties.expiration) <= 5000);
    assert.equal(m.content.toString('hex'), 'a163' + Buffer.from('sum').toString('hex') + '03');
  });

  it('answers failures with Type f, headers t/m and the CBOR failure payload', async () => {
    const id = `${raw.id}.1@0#2`;
    raw.publish('cmd.bal', ns, hexBytes('a2 6161 01 6162 02'), { messageId: id, priority: 1, replyTo: 'c', expiration: '5000', headers: { n: ns, c: 'fail', dl: { '!': 'int64', value: Date.now() + 5000 } } });
    const m = await raw.waitResponse(id);
    assert.equal(m.properties.type, 'f');
    assert.equal(m.properties.headers?.t, 'bad-input');
    assert.equal(m.properties.headers?.m, 'a is wrong');
    assert.equal(m.content.toString('hex'), '07');
  });

  it('answers a unicast _sess fetch for one of its sessions with rinq\'s short-key map', async () => {
    const s = peer.session();
    await s.currentRevision().update('app', set('user', 'bob'), freeze('id', '7'));
    const id = `${raw.id}.0@0#3`;
    // rinq-go's fetchRequest{s, ns, k}, keys sorted as its codec writes them: {"k": ["user", "id", "nope"], "ns": "app", "s": seq}
    const body = Buffer.concat([hexBytes('a3 616b 83 6475736572 626964 646e6f7065 626e73 63617070 6173'), Buffer.from([s.seq])]);
    raw.publish('cmd.uc', peer.id, body, { messageId: id, priority: 2, replyTo: 'c', expiration: '5000', headers: { n: '_sess', c: 'fetch', dl: { '!': 'int64', value: Date.now() + 5000 } } });
    const m = await raw.waitResponse(id);
    assert.equal(m.properties.type, 's');
    // fetchResponse{r, a}, keys sorted: {"a": [{"cr":1,"k":"user","ur":1,"v":"bob"}, {"cr":1,"f":true,"k":"id","ur":1,"v":"7"}], "r": 1}
    assert.equal(m.content.toString('hex'), 'a2 6161 82 a4 626372 01 616b 6475736572 627572 01 6176 63626f62 a5 626372 01 6166 f5 616b 626964 627572 01 6176 6137 6172 01'.replace(/\s+/g, ''));
    // a stale update is the failure "stale" with no message
    const id2 = `${raw.id}.0@0#4`;
    // updateRequest{s, r, ns, a}, keys sorted: {"a": [{"k": "user", "v": "ann"}], "ns": "app", "r": 0, "s": seq}
    const upd = Buffer.concat([hexBytes('a4 6161 81 a2 616b 6475736572 6176 63616e6e 626e73 63617070 6172 00 6173'), Buffer.from([s.seq])]);
    raw.publish('cmd.uc', peer.id, upd, { messageId: id2, priority: 2, replyTo: 'c', expiration: '5000', headers: { n: '_sess', c: 'update', dl: { '!': 'int64', value: Date.now() + 5000 } } });
    const m2 = await raw.waitResponse(id2);
    assert.equal(m2.properties.type, 'f');
    assert.equal(m2.properties.headers?.t, 'stale');
    assert.equal(m2.properties.headers?.m, undefined);
    // an update at the current revision returns updateResponse{r, cr}, keys sorted: {"cr": [1], "r": 2}
    const id3 = `${raw.id}.0@0#5`;
    const upd2 = Buffer.concat([hexBytes('a4 6161 81 a2 616b 6475736572 6176 63616e6e 626e73 63617070 6172 01 6173'), Buffer.from([s.seq])]);
    raw.publish('cmd.uc', peer.id, upd2, { messageId: id3, priority: 2, replyTo: 'c', expiration: '5000', headers: { n: '_sess', c: 'update', dl: { '!': 'int64', value: Date.now() + 5000 } } });
    const m3 = await raw.waitResponse(id3);
    assert.equal(m3.content.toString('hex'), 'a2 626372 8101 6172 02'.replace(/ /g, ''));
    assert.equal((await s.currentRevision().get('app', 'user')).value, 'ann');
    s.destroy();
  });

  it('delivers unicast and multicast notifications published as rinq-go does', async () => {
    const nns = net.ns('interop.ntf');
    const s1 = peer.session(), s2 = peer.session();
    await s2.currentRevision().update('app', set('room', 'x'));
    const got: [string, Notification][] = [];
    await s1.listen(nns, (n, s) => { got.push([s.id, n]); });
    await s2.listen(nns, (n, s) => { got.push([s.id, n]); });
    raw.publish('ntf.uc', `${nns}.${peer.id}`, hexBytes('6161'), { messageId: `${raw.id}.1@0#6`, type: 'direct', headers: { n: nns, t: s1.id } });
    // constraint {"o":"ns","t":[{"k":"room","o":"=","v":"x"}],"v":"app"} (keys sorted, as rinq-go writes it)
    const c = hexBytes('a3616f626e73617481a3616b64726f6f6d616f613d61766178617663617070');
    raw.publish('ntf.mc', nns, new Uint8Array(0), { messageId: `${raw.id}.1@0#7`, type: 'many', headers: { n: nns, c } });
    const end = Date.now() + 3000;
    while (got.length < 2 && Date.now() < end) await sleep(5);
    await sleep(50);
    assert.deepEqual(got.map(([id, n]) => [id, n.type, n.payload, n.source.ref]).sort(), [[s1.id, 'direct', 'a', `${raw.id}.1@0`], [s2.id, 'many', null, `${raw.id}.1@0`]].sort());
    s1.destroy(); s2.destroy();
  });

  it('calls a command served by the rinq-go-shaped peer; the request is what rinq-go expects', async () => {
    const sns = net.ns('interop.served');
    await raw.declareBalanced(sns);
    let req: Msg | undefined;
    await raw.ch.consume(`cmd.${sns}`, (m) => {
      if (!m) return;
      req = m;
      raw.ch.ack(m);
      raw.publish('cmd.rsp', m.properties.messageId as string, hexBytes('a1 626f6b f5'), { type: 's' });
    }, { consumerTag: `raw-${sns}` });
    const s = peer.session();
    assert.deepEqual(await s.call(sns, 'ping', { n: 1 }), { ok: true });
    const m = req!;
    assert.equal(m.fields.exchange, 'cmd.bal');
    assert.equal(m.properties.messageId, `${s.id}@0#1`);
    assert.equal(m.properties.priority, 1);
    assert.equal(m.properties.replyTo, 'c');
    assert.equal(m.properties.headers?.n, sns);
    assert.equal(m.properties.headers?.c, 'ping');
    assert.equal(typeof m.properties.headers?.dl, 'number');
    assert.ok(Number(m.properties.expiration) > 4000);
    assert.equal(m.content.toString('hex'), 'a1616e01');
    // float64(): the payload reaches the Go side as a CBOR float64, {"n": 1, "x": 2.0}
    assert.deepEqual(await s.call(sns, 'ping', { n: 1, x: float64(2) }), { ok: true });
    assert.equal(req!.content.toString('hex'), 'a1616e01'.replace('a1', 'a2') + '6178' + 'fb4000000000000000');
    await raw.ch.cancel(`raw-${sns}`);
    s.destroy();
  });
});
