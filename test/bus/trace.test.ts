// Trace ids (rinq.md: CorrelationId = the trace id, set only when it differs from the message id).
// rinq-go ties every request a handler makes to the root request: the handler's context carries the
// incoming request's trace id (its CorrelationId, or its message id when it is a root), and calls,
// executes and notifications made with that context publish it as their CorrelationId. In plexus the
// handler's work inherits it by itself (test/bus/context.test.ts), or is given `{ traceId: req.traceId }`
// explicitly as here; these tests check it end to end, on the wire.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { memoryNetwork, none, type Peer, type Notification } from '../../src/bus/index.js';
import { amqpTestNetwork } from './amqp-helpers.js';
import { RawPeer } from './raw-peer.js';

const quiet = { logger: () => {} };

interface Net { a: Peer; b: Peer; ns(n: string): string; close(): Promise<void> }

function suite(name: string, make: () => Promise<Net>): void {
  describe(`bus trace ids: ${name}`, () => {
    let net: Net;
    before(async () => { net = await make(); });
    after(async () => { await net.close(); });

    it("a handler's nested call, execute and notification carry the root request's trace id", async () => {
      const outer = net.ns('trace.outer'), inner = net.ns('trace.inner'), exec = net.ns('trace.exec'), ntf = net.ns('trace.ntf');
      const seen: { id: string; traceId: string }[] = [];
      let executed: { id: string; traceId: string } | undefined;
      let notified: Notification | undefined;
      const listener = net.a.session();
      await listener.listen(ntf, (n) => { notified = n; });
      await net.a.listen(inner, (req, res) => { seen.push({ id: req.id, traceId: req.traceId }); res.done(req.traceId); });
      await net.a.listen(exec, (req, res) => { executed = { id: req.id, traceId: req.traceId }; res.close(); });
      const worker = net.b.session();
      await net.b.listen(outer, async (req, res) => {
        seen.push({ id: req.id, traceId: req.traceId });
        const t = { traceId: req.traceId };
        const got = await worker.call(inner, 'x', null, t);
        await worker.execute(exec, 'x', null, t);
        await worker.notifyMany(ntf, 'n', none, null, t);
        // a call detached from the handler's context is a root of its own
        await worker.call(inner, 'untraced', null, { context: null });
        res.done(got);
      });
      const caller = net.a.session();
      const answer = await caller.call(outer, 'go', null);
      for (let i = 0; i < 300 && (!executed || !notified); i++) await new Promise((r) => setTimeout(r, 10));
      const [root, nested, untraced] = seen;
      assert.ok(root && nested && untraced && executed && notified);
      assert.equal(root.traceId, root.id, 'a root request is its own trace');
      assert.notEqual(nested.id, root.id);
      assert.equal(nested.traceId, root.id, 'the nested call carries the root id');
      assert.equal(answer, root.id);
      assert.equal(executed.traceId, root.id, 'the nested execute carries the root id');
      assert.equal(notified.traceId, root.id, 'the nested notification carries the root id');
      assert.notEqual(notified.id, root.id);
      assert.equal(untraced.traceId, untraced.id, 'a call with context: null starts a new trace');
    });
  });
}

suite('memory', async () => {
  const n = memoryNetwork();
  const a = n.peer(quiet), b = n.peer(quiet);
  return { a, b, ns: (x) => x, close: async () => { await a.stop(); await b.stop(); } };
});

suite('amqp', async () => {
  const n = await amqpTestNetwork('trace');
  const a = await n.peer(quiet), b = await n.peer(quiet);
  return { a, b, ns: (x) => n.ns(x), close: () => n.close() };
});

describe('bus trace ids on the wire (rinq-go shaped caller)', () => {
  let net: Awaited<ReturnType<typeof amqpTestNetwork>>;
  let raw: RawPeer;
  before(async () => { net = await amqpTestNetwork('trace-wire'); raw = await RawPeer.open(); });
  after(async () => { await raw.close(); await net.close(); });

  it("a request's CorrelationId is the handler's trace id, is passed on by nested calls, and is set on the response", async () => {
    const server = await net.peer(quiet), helper = await net.peer(quiet);
    const outer = net.ns('wire.outer'), inner = net.ns('wire.inner');
    let innerTrace = '';
    await helper.listen(inner, (req, res) => { innerTrace = req.traceId; res.done(1); });
    const s = server.session();
    await server.listen(outer, async (req, res) => { res.done(await s.call(inner, 'x', null, { traceId: req.traceId })); });
    await raw.declareBalanced(outer);
    const id = `${raw.id}.1@0#7`, trace = `${raw.id}.1@0#3`;
    raw.publish('cmd.bal', outer, Buffer.alloc(0), { messageId: id, correlationId: trace, priority: 1, replyTo: 'c', expiration: '5000', headers: { n: outer, c: 'go', dl: { '!': 'int64', value: Date.now() + 5000 } } });
    const rsp = await raw.waitResponse(id, 5000);
    assert.equal(rsp.properties.type, 's');
    assert.equal(rsp.properties.correlationId, trace, 'the response carries the trace id');
    assert.equal(innerTrace, trace, 'the nested call carried the incoming CorrelationId');
  });
});
