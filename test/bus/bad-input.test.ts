// Bad input on the real broker: malformed requests, responses and notifications are rejected (or
// answered with a clear error), logged once, never crash the peer, never block or loop in the queue.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Peer } from '../../src/bus/index.js';
import { amqpTestNetwork } from './amqp-helpers.js';
import { RawPeer, hexBytes } from './raw-peer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bus bad input (RabbitMQ)', () => {
  let net: Awaited<ReturnType<typeof amqpTestNetwork>>;
  let peer: Peer;
  let raw: RawPeer;
  let ns: string;
  const logs: string[] = [];
  let handled = 0;
  before(async () => {
    net = await amqpTestNetwork('bad-input');
    peer = await net.peer({ logger: (level, msg) => { if (level !== 'debug') logs.push(msg); } });
    raw = await RawPeer.open();
    ns = net.ns('bad');
    await raw.declareBalanced(ns);
    await peer.listen(ns, (req, res) => { handled++; res.done(req.payload); });
  });
  after(async () => {
    await raw.close();
    await net.close();
  });

  const dl = () => ({ '!': 'int64', value: Date.now() + 5000 });
  const count = (marker: string) => logs.filter((l) => l.includes(marker)).length;

  it('rejects each malformed request once, answers where a caller waits, and keeps serving', async () => {
    const cases: { marker: string; key?: string; exchange?: string; body?: Buffer; props: Record<string, unknown>; reply?: RegExp }[] = [
      { marker: '#101', props: { messageId: `${raw.id}.1@0#101`, replyTo: 'c', headers: { c: 'x', dl: dl() } } },
      { marker: '#102', props: { messageId: `${raw.id}.1@0#102`, replyTo: 'c', headers: { n: 42, c: 'x', dl: dl() } } },
      { marker: '#103', props: { messageId: `${raw.id}.1@0#103`, replyTo: 'c', headers: { n: ns, c: 'x', dl: dl() } }, body: hexBytes('a26161'), reply: /invalid CBOR/ },
      { marker: '#104', exchange: 'cmd.uc', key: peer.id, props: { messageId: `${raw.id}.1@0#104`, replyTo: 'c', priority: 2, headers: { n: 'nobody-serves-this', c: 'x', dl: dl() } }, reply: /does not listen to namespace 'nobody-serves-this'/ },
      { marker: '#105', props: { messageId: `${raw.id}.1@0#105`, replyTo: 'c', headers: { n: ns, c: 'x', dl: dl() } }, body: Buffer.alloc(1024 * 1024 + 10, 0x41) },
      { marker: '#106', props: { messageId: `${raw.id}.1@0#106`, replyTo: 'c', headers: { n: ns, c: 'x', dl: { '!': 'int64', value: Date.now() - 1000 } } } },
      { marker: 'no message id', props: { replyTo: 'c', headers: { n: ns, c: 'x', dl: dl() } } },
      { marker: 'invalid message id: "garbage#107"', props: { messageId: 'garbage#107', replyTo: 'c', headers: { n: ns, c: 'x', dl: dl() } } },
      { marker: '#108', props: { messageId: `${raw.id}.1@0#108`, replyTo: 'zz', headers: { n: ns, c: 'x', dl: dl() } } },
      { marker: '#109', props: { messageId: `${raw.id}.1@0#109`, replyTo: 'c', headers: { n: 'other-ns', c: 'x', dl: dl() } }, reply: /does not listen to namespace 'other-ns'/ },
      { marker: '#110', props: { messageId: `${raw.id}.1@0#110`, replyTo: 'c', headers: { n: ns, c: 'x', dl: 'tomorrow' } } },
    ];
    for (const c of cases) raw.publish(c.exchange ?? 'cmd.bal', c.key ?? ns, c.body ?? Buffer.alloc(0), { priority: 1, ...c.props });
    // a good request after the bad ones is still served: the queue is not blocked
    const good = `${raw.id}.1@0#199`;
    raw.publish('cmd.bal', ns, hexBytes('6161'), { messageId: good, priority: 1, replyTo: 'c', headers: { n: ns, c: 'x', dl: dl() } });
    const ok = await raw.waitResponse(good);
    assert.equal(ok.properties.type, 's');
    assert.equal(handled, 1, 'no malformed request reached the handler');
    for (const c of cases.filter((c) => c.reply)) {
      const m = await raw.waitResponse(c.props.messageId as string);
      assert.equal(m.properties.type, 'e');
      assert.match(m.content.toString(), c.reply!);
    }
    await sleep(400); // a poison loop would keep logging
    for (const c of cases) assert.equal(count(c.marker), 1, `logged exactly once: ${c.marker}\n${logs.join('\n')}`);
    assert.equal(handled, 1);
    assert.equal(peer.error, undefined);
  });

  it('rejects malformed responses and notifications once, without crashing', async () => {
    const s = peer.session();
    const nns = net.ns('bad.ntf');
    let notes = 0;
    await s.listen(nns, () => { notes++; });
    raw.publish('cmd.rsp', `${peer.id}.1@0#1`, Buffer.alloc(0), { type: 'zz' });
    raw.publish('cmd.rsp', `${peer.id}.1@0#2`, Buffer.alloc(0), { type: 'f' });
    raw.publish('ntf.mc', nns, Buffer.alloc(0), { messageId: `${raw.id}.1@0#201`, type: 't', headers: { n: nns, c: hexBytes('a1616f613f') } });
    raw.publish('ntf.mc', nns, Buffer.alloc(0), { messageId: `${raw.id}.1@0#202`, type: 't', headers: { n: nns, c: 'not-bytes' } });
    raw.publish('ntf.uc', `${nns}.${peer.id}`, hexBytes('ff'), { messageId: `${raw.id}.1@0#203`, type: 't', headers: { n: nns, t: s.id } });
    raw.publish('ntf.uc', `${nns}.${peer.id}`, Buffer.alloc(0), { messageId: `${raw.id}.1@0#204`, type: 't', headers: { t: s.id } });
    await sleep(400);
    for (const marker of ['message type "zz"', 'failure type must be a non-empty', '#201', '#202', '#203', '#204']) assert.equal(count(marker), 1, `${marker}\n${logs.join('\n')}`);
    assert.equal(notes, 0);
    // and the session still gets a good notification
    raw.publish('ntf.uc', `${nns}.${peer.id}`, Buffer.alloc(0), { messageId: `${raw.id}.1@0#205`, type: 't', headers: { n: nns, t: s.id } });
    const end = Date.now() + 2000;
    while (notes === 0 && Date.now() < end) await sleep(5);
    assert.equal(notes, 1);
    s.destroy();
  });
});
