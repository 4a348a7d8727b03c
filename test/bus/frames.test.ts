// The AMQP transport encodes rinq's publishes itself (src/bus/transport/frames.ts) and writes them where
// amqplib would: the bytes must be exactly amqplib's for every message the bus sends (checked against
// amqplib's own publish on a real channel, whose output is captured before it reaches the socket).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { encodePublish, SINGLE_CHUNK_LIMIT } from '../../src/bus/transport/frames.js';
import { FRAMES_VERIFIED_WITH, amqplibVersion, framePublisher, publishOptions } from '../../src/bus/transport/amqp.js';
import { buildMulticastNotification, buildRequest, buildResponse, buildUnicastNotification } from '../../src/bus/wire.js';
import type { WireMessage } from '../../src/bus/transport/transport.js';
import { AMQP_URL } from './amqp-helpers.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
}

function messages(r: () => number, n: number): WireMessage[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const str = (max: number) => Array.from({ length: Math.floor(r() * max) }, () => pick(['a', 'Z', '9', '.', '-', 'é', '漢', '😀', '#', '@'])).join('');
  const bytes = (max: number) => new Uint8Array(Array.from({ length: Math.floor(r() * max) }, () => Math.floor(r() * 256)));
  const id = () => `6553F100-${pick(['191C', 'AAAA', '0001'])}.${Math.floor(r() * 99)}@${Math.floor(r() * 9)}#${1 + Math.floor(r() * 9999)}`;
  const now = 1_700_000_000_000;
  const out: WireMessage[] = [];
  for (let i = 0; i < n; i++) {
    const body = r() < 0.2 ? new Uint8Array(0) : bytes(r() < 0.1 ? 3000 : 200);
    switch (i % 5) {
      case 0: out.push(buildRequest({ mode: pick(['balanced', 'unicast', 'multicast'] as const), target: '6553F100-AAAA', namespace: str(30) || 'ns', command: str(20), messageId: id(), traceId: r() < 0.5 ? id() : undefined, replyMode: pick(['', 'c', 'u'] as const), deadline: r() < 0.8 ? now + Math.floor(r() * 1e7) : undefined, body }, now)); break;
      case 1: out.push(buildResponse({ requestId: id(), kind: 's', body, deadline: r() < 0.8 ? now + Math.floor(r() * 5000) - 100 : undefined, traceId: r() < 0.9 ? id() : undefined }, now)); break;
      case 2: out.push(buildResponse({ requestId: id(), kind: pick(['f', 'e'] as const), body, failureType: str(20) || 'x', failureMessage: str(60), traceId: id(), uncorrelated: r() < 0.3 ? { namespace: str(10), command: str(10) } : undefined }, now)); break;
      case 3: out.push(buildUnicastNotification({ messageId: id(), traceId: r() < 0.5 ? id() : undefined, namespace: str(20), type: str(20), target: '6553F100-AAAA.3', targetPeer: '6553F100-AAAA', body })); break;
      default: out.push(buildMulticastNotification({ messageId: id(), namespace: str(20), type: str(20), constraint: bytes(80), body }));
    }
  }
  return out;
}

describe('bus AMQP publish frames', () => {
  it('the installed amqplib is the version the encoder was verified with (an upgrade must re-verify it)', () => {
    assert.equal(amqplibVersion(), FRAMES_VERIFIED_WITH);
  });
  it("encodePublish writes exactly amqplib's bytes for rinq's messages (400 random cases), and declines large ones", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    console.log(`frames seed ${seed}`);
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createChannel();
      const internals = ch as unknown as { ch: number; connection: { frameMax: number; channels: { buffer: { write(b: unknown): boolean } }[] } };
      const buffer = internals.connection.channels[internals.ch]!.buffer;
      const realWrite = buffer.write;
      let captured: Buffer[] = [];
      buffer.write = (b: unknown) => { captured.push(Buffer.from(b as Buffer)); return true; }; // nothing reaches the broker
      try {
        let fast = 0;
        for (const m of messages(rng(seed), 400)) {
          captured = [];
          ch.publish(m.exchange, m.routingKey, Buffer.from(m.body), publishOptions(m));
          const amqplibBytes = Buffer.concat(captured);
          const mine = encodePublish(internals.ch, m, internals.connection.frameMax);
          if (mine === undefined) {
            assert.ok(amqplibBytes.length >= SINGLE_CHUNK_LIMIT || captured.length > 1, 'declined only what amqplib writes in several chunks');
            continue;
          }
          fast++;
          assert.equal(captured.length, 1, 'amqplib wrote one chunk too');
          assert.deepEqual(mine, amqplibBytes, `message ${JSON.stringify({ ...m, body: m.body.length })}`);
        }
        assert.ok(fast > 300, `only ${fast} of 400 took the fast path`);
        // the publisher writes the same bytes into the same buffer
        const pub = framePublisher(ch);
        assert.ok(pub, "amqplib's channel internals changed: the frame publisher is off");
        // (the first of another run's messages that takes the fast path: a large one is declined, as above)
        const m = messages(rng(seed + 1), 50).find((x) => encodePublish(internals.ch, x, internals.connection.frameMax) !== undefined)!;
        captured = [];
        assert.equal(pub(m), true);
        assert.deepEqual(Buffer.concat(captured), encodePublish(internals.ch, m, internals.connection.frameMax));
      } finally {
        buffer.write = realWrite;
      }
      // a closed channel: the publisher declines (amqplib's publish then throws as before)
      const pub = framePublisher(ch)!;
      await ch.close();
      assert.equal(pub(messages(rng(seed), 1)[0]!), undefined);
    } finally {
      await conn.close();
    }
  });
});
