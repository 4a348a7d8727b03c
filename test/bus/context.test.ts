// The context of the request being handled (issue 12): what a handler sends (calls, callAsync,
// executes, notifications, and the `_sess` calls of revision operations on a remote session) carries
// the handled request's trace id (CorrelationId) and deadline (`dl` = the same deadline, Expiration =
// the remaining ms), as rinq-go does with the handler's ctx. Found by itself in Node (AsyncLocalStorage),
// given as `{ context: req }` without it; explicit traceId / timeoutMs / signal override.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isPlexusError } from '../../src/errors.js';
import { memoryNetwork, none, set, encodePayload, type Peer, type Request, type Notification } from '../../src/bus/index.js';
import { contextStore, setContextStore } from '../../src/bus/context.js';
import { amqpTestNetwork } from './amqp-helpers.js';
import { RawPeer, type Msg } from './raw-peer.js';

const quiet = { logger: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) { if (Date.now() > end) throw new Error(`timed out waiting for ${what}`); await sleep(5); }
}

interface Net { a: Peer; b: Peer; ns(n: string): string; close(): Promise<void> }

function suite(name: string, make: () => Promise<Net>): void {
  describe(`bus handler context: ${name}`, () => {
    let net: Net;
    before(async () => { net = await make(); });
    after(async () => { await net.close(); });

    for (const mode of ['implicit (AsyncLocalStorage)', 'explicit { context: req }'] as const) {
      it(`nested call, callAsync, execute, notification and remote revision read inherit trace id and deadline: ${mode}`, async () => {
        const explicit = mode !== 'implicit (AsyncLocalStorage)';
        const saved = contextStore();
        if (explicit) setContextStore(undefined); // as where no AsyncLocalStorage exists
        try {
          const outer = net.ns(`ctx.outer.${explicit ? 'x' : 'i'}`), inner = net.ns(`ctx.inner.${explicit ? 'x' : 'i'}`), ntf = net.ns(`ctx.ntf.${explicit ? 'x' : 'i'}`);
          const seen: Request[] = [];
          let notified: Notification | undefined;
          const listener = net.a.session();
          await listener.listen(ntf, (n) => { notified = n; });
          await net.a.listen(inner, (req, res) => { seen.push(req); res.done(req.command); });
          const worker = net.b.session();
          let root: Request | undefined, readBack = '';
          await net.b.listen(outer, async (req, res) => {
            root = req;
            const c = explicit ? { context: req } : {};
            await sleep(20); // the context survives awaits
            await worker.call(inner, 'call', null, c);
            await worker.callAsync(inner, 'async', null, c);
            await worker.execute(inner, 'exec', null, c);
            await worker.notifyMany(ntf, 'n', none, null, c);
            readBack = (await req.source.get('app', 'who', c)).value;
            res.done('ok');
          });
          const caller = net.a.session();
          await caller.currentRevision().update('app', set('who', 'ann'));
          const t0 = Date.now();
          assert.equal(await caller.call(outer, 'go', null, { timeoutMs: 4000 }), 'ok');
          await until(() => seen.length === 3 && notified !== undefined, 3000, 'nested requests');
          assert.ok(root);
          assert.equal(readBack, 'ann');
          assert.ok(root.deadline! >= t0 + 4000 && root.deadline! <= Date.now() + 4000, 'the handled request has the caller\'s deadline');
          for (const r of seen) {
            assert.equal(r.traceId, root.id, `${r.command} carries the root's trace id`);
            assert.equal(r.deadline, root.deadline, `${r.command} carries the handled request's deadline`);
          }
          assert.equal(notified!.traceId, root.id, 'the notification carries the trace id');
        } finally {
          if (explicit) setContextStore(saved);
        }
      });
    }

    it('explicit traceId, timeoutMs and signal override the context; context: null detaches', async () => {
      const outer = net.ns('ctx.over.outer'), inner = net.ns('ctx.over.inner');
      const seen: Request[] = [];
      await net.a.listen(inner, async (req, res) => { seen.push(req); if (req.command === 'hang') await sleep(300); res.done(); });
      const worker = net.b.session();
      const results: Record<string, string> = {};
      await net.b.listen(outer, async (req, res) => {
        await worker.call(inner, 'trace', null, { traceId: 'custom-trace' });
        const t = Date.now();
        await worker.call(inner, 'timeout', null, { timeoutMs: 9000 });
        results.timeoutDelta = String(seen.at(-1)!.deadline! - t);
        await worker.call(inner, 'detached', null, { context: null });
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 50);
        try { await worker.call(inner, 'hang', null, { signal: ac.signal }); } catch (err) { results.signal = isPlexusError(err, 'ABORTED') ? 'ABORTED' : String(err); }
        res.done();
      });
      await net.a.session().call(outer, 'go', null, { timeoutMs: 3000 });
      const [trace, timeout, detached] = seen;
      assert.equal(trace!.traceId, 'custom-trace');
      assert.ok(Number(results.timeoutDelta) >= 8990, `explicit timeoutMs replaces the inherited deadline (${results.timeoutDelta})`);
      assert.notEqual(timeout!.traceId, timeout!.id, 'still in the trace');
      assert.equal(detached!.traceId, detached!.id, 'context: null starts a new trace');
      assert.ok(detached!.deadline! - Date.now() > 3500, 'and gets the default timeout, not the handler\'s deadline');
      assert.equal(results.signal, 'ABORTED');
    });

    it('an onAsyncResponse handler runs in the response\'s trace, not in the answering handler\'s', async () => {
      const ns = net.ns('ctx.async'), inner = net.ns('ctx.async.inner');
      const seen: Request[] = [];
      await net.a.listen(ns, async (_req, res) => { await sleep(10); res.done(1); });
      await net.a.listen(inner, (req, res) => { seen.push(req); res.done(); });
      const s = net.b.session();
      const done = new Promise<void>((resolve) => s.onAsyncResponse(async () => { await s.call(inner, 'from-async'); resolve(); }));
      const id = await s.callAsync(ns, 'x');
      await done;
      assert.equal(seen[0]!.traceId, id, 'the async request (a root) is the trace');
      assert.ok(seen[0]!.deadline! - Date.now() > 3000, 'no deadline inherited: the default timeout');
    });

    it('a call made after the handled request\'s deadline fails at once with TIMEOUT', async () => {
      const outer = net.ns('ctx.late.outer'), inner = net.ns('ctx.late.inner');
      let innerCalls = 0, outcome = '';
      await net.a.listen(inner, (_req, res) => { innerCalls++; res.done(); });
      const worker = net.b.session();
      await net.b.listen(outer, async (_req, res) => {
        await sleep(400);
        const t = Date.now();
        try { await worker.call(inner, 'x'); outcome = 'answered'; } catch (err) { outcome = `${(err as { code?: string }).code} after ${Date.now() - t} ms`; }
        res.done();
      });
      await assert.rejects(net.a.session().call(outer, 'go', null, { timeoutMs: 200 }), (e) => isPlexusError(e, 'TIMEOUT'));
      await until(() => outcome !== '', 3000, 'the late call');
      assert.match(outcome, /^TIMEOUT after \d+ ms$/);
      assert.ok(Number(outcome.split(' ')[2]) < 100, `at once, without waiting: ${outcome}`);
      assert.equal(innerCalls, 0, 'nothing was sent');
    });

    it('revision operations on a session whose owner is gone fail at the deadline (TIMEOUT), or on abort, not after 5 s', async () => {
      const extra = await (net as Net & { extra(): Promise<Peer> }).extra();
      const outer = net.ns('ctx.dead.outer');
      const out: Record<string, string> = {};
      const time = async (what: string, f: () => Promise<unknown>): Promise<void> => {
        const t = Date.now();
        try { await f(); out[what] = 'ok'; } catch (err) { out[what] = `${(err as { code?: string }).code} ${Date.now() - t}`; }
      };
      await net.b.listen(outer, async (req, res) => {
        res.done(); // answer first: the owner stops next
        await sleep(100);
        const src = req.source;
        await time('inherited', () => src.get('app', 'k'));
        await time('explicit', () => src.getMany('app', 'k', 'l', { timeoutMs: 150, context: null }));
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 100);
        await time('signal', () => src.update('app', set('k', 'v'), { signal: ac.signal, context: null }));
        await time('refresh', () => src.refresh({ timeoutMs: 100, context: null }));
      });
      const s = extra.session();
      await s.currentRevision().update('app', set('k', '1'));
      const rev = await s.currentRevision().update('app', set('k', '2'));
      assert.equal(rev.rev, 2);
      await s.call(outer, 'go', null, { timeoutMs: 700 });
      await extra.stop();
      await until(() => out.refresh !== undefined, 5000, 'the revision operations');
      const [iCode, iMs] = out.inherited!.split(' ');
      assert.equal(iCode, 'TIMEOUT', out.inherited);
      assert.ok(Number(iMs) < 1000, `inherited: failed at the handled request's deadline (${iMs} ms), not after 5 s`);
      assert.match(out.explicit!, /^TIMEOUT \d+$/);
      assert.ok(Number(out.explicit!.split(' ')[1]) < 600, out.explicit);
      assert.match(out.signal!, /^ABORTED \d+$/);
      assert.match(out.refresh!, /^TIMEOUT \d+$/);
    });
  });
}

suite('memory', async () => {
  const n = memoryNetwork();
  const a = n.peer(quiet), b = n.peer(quiet);
  const extras: Peer[] = [];
  return { a, b, ns: (x) => x, extra: async () => { const p = n.peer(quiet); extras.push(p); return p; }, close: async () => { await a.stop(); await b.stop(); for (const p of extras) await p.stop(); } } as Net;
});

suite('amqp', async () => {
  const n = await amqpTestNetwork('context');
  const a = await n.peer(quiet), b = await n.peer(quiet);
  return { a, b, ns: (x) => n.ns(x), extra: () => n.peer(quiet), close: () => n.close() } as Net;
});

describe('bus handler context on the wire (rinq-go shaped caller)', () => {
  let net: Awaited<ReturnType<typeof amqpTestNetwork>>;
  let raw: RawPeer;
  before(async () => { net = await amqpTestNetwork('context-wire'); raw = await RawPeer.open(); });
  after(async () => { await raw.close(); await net.close(); });

  it('CorrelationId = the trace id, dl = the handled deadline, Expiration = the remaining ms', async () => {
    const server = await net.peer(quiet);
    const outer = net.ns('wire.ctx.outer'), inner = net.ns('wire.ctx.inner'), ntf = net.ns('wire.ctx.ntf');
    // the raw peer takes the nested balanced requests, the _sess fetch (unicast to it) and the notification
    const got: Msg[] = [];
    const capture = async (q: string, bind: [string, string][]): Promise<void> => {
      await raw.ch.assertQueue(q, { exclusive: true, durable: false, arguments: { 'x-max-priority': 3 } });
      for (const [ex, key] of bind) await raw.ch.bindQueue(q, ex, key);
      await raw.ch.consume(q, (m) => {
        if (!m) return;
        got.push(m);
        raw.ch.ack(m);
        if (m.properties.replyTo === 'c') {
          // answer nested calls (a _sess fetch with rinq-go's fetchResponse)
          const body = m.properties.headers?.n === '_sess' ? Buffer.from(encodePayload({ a: [{ cr: 1, k: 'who', ur: 1, v: 'ann' }], r: 2 })) : Buffer.alloc(0);
          raw.ch.publish('cmd.rsp', m.properties.messageId as string, body, { type: 's' });
        }
      });
    };
    await raw.declareBalanced(inner);
    await capture(`${raw.short}.cap.req`, [['cmd.uc', raw.id]]);
    await capture(`${raw.short}.cap.ntf`, [['ntf.mc', ntf]]);
    await raw.ch.consume(`cmd.${inner}`, (m) => {
      if (!m) return;
      got.push(m);
      raw.ch.ack(m);
      if (m.properties.replyTo === 'c') raw.ch.publish('cmd.rsp', m.properties.messageId as string, Buffer.alloc(0), { type: 's' });
    });
    const s = server.session();
    let who = '';
    await server.listen(outer, async (req, res) => {
      await s.call(inner, 'call');
      await s.execute(inner, 'exec');
      await s.notifyMany(ntf, 'n', none);
      who = (await req.source.get('app', 'who')).value;
      res.done();
    });
    await raw.declareBalanced(outer);
    const id = `${raw.id}.1@2#7`, trace = `${raw.id}.1@0#3`;
    const dl = Date.now() + 4000;
    raw.publish('cmd.bal', outer, Buffer.alloc(0), { messageId: id, correlationId: trace, priority: 1, replyTo: 'c', expiration: '4000', headers: { n: outer, c: 'go', dl: { '!': 'int64', value: dl } } });
    const rsp = await raw.waitResponse(id, 5000);
    assert.equal(rsp.properties.type, 's');
    assert.equal(who, 'ann', 'the _sess fetch was answered');
    const byCmd = new Map(got.map((m) => [m.fields.exchange === 'ntf.mc' ? String(m.properties.type) : `${m.properties.headers?.n === '_sess' ? '_sess.' : ''}${String(m.properties.headers?.c)}`, m]));
    for (const what of ['call', 'exec', '_sess.fetch']) {
      const m = byCmd.get(what);
      assert.ok(m, `${what} seen on the wire (${[...byCmd.keys()].join(', ')})`);
      assert.equal(m.properties.correlationId, trace, `${what}: CorrelationId is the trace id`);
      assert.equal(Number(m.properties.headers?.dl), dl, `${what}: dl is the handled request's deadline`);
      const exp = Number(m.properties.expiration);
      assert.ok(exp > 0 && exp <= 4000 && exp >= 4000 - 2000, `${what}: Expiration ${exp} = the remaining ms`);
    }
    const note = byCmd.get('n');
    assert.ok(note, 'the notification seen on the wire');
    assert.equal(note.properties.correlationId, trace, 'notification: CorrelationId is the trace id');
    assert.equal(note.properties.expiration, undefined, 'a notification has no deadline (as rinq-go)');
  });
});
