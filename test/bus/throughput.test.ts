// The AMQP transport's throughput measures (bench/bus.ts) must not change what goes on the wire or
// what callers and handlers see: frames written in one turn are coalesced (same bytes, same order),
// acks are batched only over settled deliveries, per-call timers fire as before.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { coalesceWrites } from '../../src/bus/transport/amqp.js';
import { AMQP_URL, amqpTestNetwork } from './amqp-helpers.js';

describe('bus on RabbitMQ: write coalescing', () => {
  it('amqplib internals are as expected, and one turn of publishes is one writev with every frame, in order', async () => {
    const conn = await amqp.connect(AMQP_URL, { noDelay: true });
    try {
      assert.equal(coalesceWrites(conn), true, 'amqplib muxer/socket internals changed: write coalescing is off');
      const sock = (conn as unknown as { connection: { stream: { _writev: (chunks: unknown[], ...a: unknown[]) => void; _write: (...a: unknown[]) => void } } }).connection.stream;
      const writes: number[] = [];
      const wv = sock._writev, w = sock._write;
      sock._writev = function (this: unknown, chunks: unknown[], ...rest: unknown[]) { writes.push(chunks.length); return wv.call(this, chunks, ...rest); };
      sock._write = function (this: unknown, ...a: unknown[]) { writes.push(1); return w.apply(this, a); };
      const ch = await conn.createChannel();
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      writes.length = 0;
      const N = 50;
      for (let i = 0; i < N; i++) ch.sendToQueue(q, Buffer.from(String(i)), { messageId: `m${i}` });
      const got: string[] = [];
      await new Promise<void>((resolve) => {
        void ch.consume(q, (m) => { if (!m) return; got.push(m.content.toString()); if (got.length === N) resolve(); }, { noAck: true });
      });
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => String(i)));
      // the N publishes went out in (far) fewer writes than one per frame group
      assert.ok(writes[0]! >= N, `first write carried ${writes[0]} chunks, expected all ${N}`);
    } finally {
      await conn.close();
    }
  });
});

describe('bus on RabbitMQ: many concurrent calls', () => {
  let net: Awaited<ReturnType<typeof amqpTestNetwork>>;
  before(async () => { net = await amqpTestNetwork('throughput'); });
  after(async () => { await net.close(); });

  it('500 concurrent calls from two sessions each get their own answer; failures stay failures', async () => {
    const server = await net.peer(), client = await net.peer();
    const ns = net.ns('echo');
    await server.listen(ns, async (req, res) => {
      const p = req.payload as { i: number };
      if (p.i % 7 === 0) { await new Promise((r) => setTimeout(r, p.i % 5)); }
      if (p.i % 11 === 0) return void res.fail('odd', `no ${p.i}`);
      res.done({ i: p.i, from: req.source.ref });
    });
    const a = client.session(), b = client.session();
    const results = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => (i % 2 ? a : b).call(ns, 'echo', { i })));
    results.forEach((r, i) => {
      if (i % 11 === 0) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason.message), new RegExp(`no ${i}\\b`));
      } else {
        assert.equal(r.status, 'fulfilled', `call ${i}`);
        const v = (r as PromiseFulfilledResult<{ i: number; from: string }>).value;
        assert.equal(v.i, i);
        assert.ok(v.from.startsWith((i % 2 ? a : b).id + '@'), `call ${i} came from ${v.from}`);
      }
    });
  });
});
