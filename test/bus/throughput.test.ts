// The AMQP transport's throughput measures (bench/bus.ts) must not change what goes on the wire or
// what callers and handlers see: frames written in one turn are coalesced (same bytes, same order),
// acks are batched only over settled deliveries, per-call timers fire as before.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { AckBatcher, coalesceWrites } from '../../src/bus/transport/amqp.js';
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
    const results = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => (i % 2 ? a : b).call(ns, 'echo', { i }, { timeoutMs: 30_000 })));
    // (30 s: this checks routing, not speed; 500 calls took > 5 s when the 2 shared cores were at load 10)
    results.forEach((r, i) => {
      if (i % 11 === 0) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason.message), new RegExp(`no ${i}\\b`));
      } else {
        assert.equal(r.status, 'fulfilled', `call ${i}: ${String((r as PromiseRejectedResult).reason)}`);
        const v = (r as PromiseFulfilledResult<{ i: number; from: string }>).value;
        assert.equal(v.i, i);
        assert.ok(v.from.startsWith((i % 2 ? a : b).id + '@'), `call ${i} came from ${v.from}`);
      }
    });
  });
});

describe('bus AMQP ack batching (AckBatcher against a model of the broker)', () => {
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
  }

  it('every delivery is settled exactly as the peer asked, a multiple ack never covers an unanswered one (200 random cases)', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    console.log(`ack batching seed ${seed}`);
    const r = rng(seed);
    for (let c = 0; c < 200; c++) {
      // the broker's view of one channel: unacked ack-mode deliveries; what happened to each tag
      const unacked = new Set<number>();
      const outcome = new Map<number, string>();
      const wanted = new Map<number, string>();
      const answered = new Set<number>();
      const frames: string[] = [];
      const ch = {
        ack(m: { fields: { deliveryTag: number } }, allUpTo = false) {
          const t = m.fields.deliveryTag;
          assert.ok(unacked.has(t), `case ${c}: ack of unknown delivery tag ${t} (PRECONDITION_FAILED)`);
          frames.push(`ack ${t}${allUpTo ? '+' : ''}`);
          for (const u of [...unacked]) if (u === t || (allUpTo && u < t)) {
            assert.ok(answered.has(u), `case ${c}: tag ${u} acked before its handler answered`);
            unacked.delete(u); outcome.set(u, 'ack');
          }
        },
        reject(m: { fields: { deliveryTag: number } }, requeue = true) {
          const t = m.fields.deliveryTag;
          assert.ok(unacked.has(t), `case ${c}: reject of unknown delivery tag ${t}`);
          frames.push(`reject ${t}`);
          unacked.delete(t); outcome.set(t, requeue ? 'requeue' : 'drop');
        },
      };
      const b = new AckBatcher(ch);
      const n = 1 + Math.floor(r() * 40);
      const open: number[] = [];
      let tag = 0;
      for (let i = 0; i < n; i++) {
        tag++;
        if (r() < 0.2) continue; // a noAck delivery (responses) on the same channel: not tracked
        unacked.add(tag); b.track(tag); open.push(tag);
        // settle some open deliveries in random order, sometimes flushing (= end of a turn)
        while (open.length && r() < 0.5) {
          const t = open.splice(Math.floor(r() * open.length), 1)[0]!;
          answered.add(t);
          const x = r();
          if (x < 0.7) { wanted.set(t, 'ack'); b.ack(t); if (r() < 0.1) b.ack(t); }
          else { const rq = x < 0.85; wanted.set(t, rq ? 'requeue' : 'drop'); b.reject(t, rq); }
          if (r() < 0.3) b.flush();
        }
      }
      for (const t of open) { answered.add(t); wanted.set(t, 'ack'); b.ack(t); }
      await new Promise((res) => queueMicrotask(() => res(undefined))); // the scheduled flush
      b.flush();
      assert.equal(unacked.size, 0, `case ${c}: left unacked: ${[...unacked]}`);
      assert.deepEqual(outcome, wanted, `case ${c}: frames ${frames.join(', ')}`);
      assert.equal(b.outstanding, 0);
    }
  });

  it('acks of one turn go as one multiple ack', async () => {
    const frames: string[] = [];
    const b = new AckBatcher({ ack: (m, all) => frames.push(`ack ${m.fields.deliveryTag}${all ? '+' : ''}`), reject: () => assert.fail() });
    for (let t = 1; t <= 50; t++) b.track(t);
    for (let t = 50; t >= 1; t--) b.ack(t);
    await Promise.resolve();
    assert.deepEqual(frames, ['ack 50+']);
    // an older delivery still being handled: the newer ones are acked one by one, then it alone
    for (let t = 51; t <= 53; t++) b.track(t);
    b.ack(53); b.ack(52);
    await Promise.resolve();
    assert.deepEqual(frames.slice(1), ['ack 53', 'ack 52']);
    b.ack(51);
    await Promise.resolve();
    assert.deepEqual(frames.slice(3), ['ack 51+']);
  });
});
