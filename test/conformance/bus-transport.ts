// Conformance suite for bus transports: the same peer-level rinq semantics over every transport
// (memory, AMQP). Call `busTransportSuite(name, makeNetwork)` once per transport.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isPlexusError } from '../../src/errors.js';
import {
  Failure, freeze, isFailure, set, shouldRetry, within, equal, notEqual, and, none,
  type Peer, type PeerOptions, type Request, type Response, type Notification, type AsyncResponse,
} from '../../src/bus/index.js';

export interface BusTestNetwork {
  peer(opts?: PeerOptions): Promise<Peer>;
  /** A namespace unique to this run (so shared brokers do not mix tests). */
  ns(name: string): string;
  close(): Promise<void>;
}

const quiet: PeerOptions = { logger: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) { if (Date.now() > end) throw new Error('condition not met in time'); await sleep(5); }
}

export function busTransportSuite(name: string, makeNetwork: () => Promise<BusTestNetwork>): void {
  describe(`bus transport conformance: ${name}`, () => {
    let net: BusTestNetwork;
    let a: Peer, b: Peer;
    before(async () => {
      net = await makeNetwork();
      a = await net.peer(quiet);
      b = await net.peer(quiet);
    });
    after(async () => {
      await a.stop();
      await b.stop();
      await net.close();
    });

    it('peer ids are distinct and in rinq format', () => {
      assert.match(a.id, /^[0-9A-F]+-[0-9A-F]{4}$/);
      assert.notEqual(a.id, b.id);
    });

    it('call: handler sees id, source ref, namespace, command, payload; caller gets the payload', async () => {
      const ns = net.ns('conf.call');
      let seen: Request | undefined;
      await b.listen(ns, (req, res) => { seen = req; res.done({ echo: req.payload }); });
      const s = a.session();
      assert.deepEqual(await s.call(ns, 'echo', { x: [1, 'two'] }), { echo: { x: [1, 'two'] } });
      assert.ok(seen);
      assert.equal(seen.namespace, ns);
      assert.equal(seen.command, 'echo');
      assert.match(seen.id, new RegExp(`^${s.id.replace('.', '\\.')}@0#1$`));
      assert.equal(seen.source.ref, `${s.id}@0`);
      assert.deepEqual(await s.call(ns, 'echo'), { echo: null });
      await b.unlisten(ns);
    });

    it('fail / error / close / throw are typed on the caller', async () => {
      const ns = net.ns('conf.fail');
      await b.listen(ns, (req, res) => {
        if (req.command === 'fail') res.fail('not-allowed', 'you may not', { why: 1 });
        else if (req.command === 'error') res.error(new Error('kaput'));
        else if (req.command === 'close') res.close();
        else if (req.command === 'failure') res.error(new Failure('typed', ''));
        else throw new Error('thrown');
      });
      const s = a.session();
      await assert.rejects(s.call(ns, 'fail'), (e) => isFailure(e, 'not-allowed') && e.failureMessage === 'you may not' && (e.payload as { why: number }).why === 1 && e.code === 'FAILURE');
      await assert.rejects(s.call(ns, 'failure'), (e) => isFailure(e, 'typed') && e.failureMessage === '' && e.payload === null);
      await assert.rejects(s.call(ns, 'error'), (e) => isPlexusError(e, 'SERVER_ERROR') && e.message === 'kaput');
      await assert.rejects(s.call(ns, 'throw'), (e) => isPlexusError(e, 'SERVER_ERROR') && e.message === 'thrown');
      assert.equal(await s.call(ns, 'close'), null);
      await b.unlisten(ns);
    });

    it('timeouts and aborts', async () => {
      const ns = net.ns('conf.slow');
      await b.listen(ns, async (_req, res) => { await sleep(400); if (res.isRequired) res.done('late'); });
      const s = a.session();
      const t0 = Date.now();
      await assert.rejects(s.call(ns, 'x', null, { timeoutMs: 100 }), (e) => isPlexusError(e, 'TIMEOUT'));
      assert.ok(Date.now() - t0 < 350);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(s.call(ns, 'x', null, { signal: ac.signal }), (e) => isPlexusError(e, 'ABORTED'));
      // nobody listening: the request waits in the balanced queue and the call times out
      await assert.rejects(s.call(net.ns('conf.nobody'), 'x', null, { timeoutMs: 100 }), (e) => isPlexusError(e, 'TIMEOUT'));
      await sleep(450);
      await b.unlisten(ns);
    });

    it('execute delivers without a response; callAsync answers to onAsyncResponse', async () => {
      const ns = net.ns('conf.exec');
      const got: unknown[] = [];
      await b.listen(ns, (req, res) => {
        got.push([req.command, req.payload, res.isRequired]);
        if (req.command === 'bad') res.fail('nope', 'no');
        else res.done({ ok: req.payload });
      });
      const s = a.session();
      await s.execute(ns, 'exec', 1);
      await until(() => got.length === 1);
      assert.deepEqual(got[0], ['exec', 1, false]);
      const answers: AsyncResponse[] = [];
      s.onAsyncResponse((r) => { answers.push(r); });
      const id1 = await s.callAsync(ns, 'good', 2);
      const id2 = await s.callAsync(ns, 'bad', 3);
      await until(() => answers.length === 2);
      const byId = new Map(answers.map((r) => [r.id, r]));
      assert.deepEqual(byId.get(id1)?.payload, { ok: 2 });
      assert.equal(byId.get(id1)?.namespace, ns);
      assert.equal(byId.get(id1)?.command, 'good');
      assert.ok(isFailure(byId.get(id2)?.error, 'nope'));
      await b.unlisten(ns);
    });

    it('executeMany reaches every listening peer once', async () => {
      const ns = net.ns('conf.many');
      const got: string[] = [];
      await a.listen(ns, (req, res) => { got.push(`a:${String(req.payload)}:${res.isRequired}`); res.close(); });
      await b.listen(ns, (req, res) => { got.push(`b:${String(req.payload)}:${res.isRequired}`); res.close(); });
      await a.session().executeMany(ns, 'all', 7);
      await until(() => got.length === 2);
      await sleep(50);
      assert.deepEqual(got.sort(), ['a:7:false', 'b:7:false']);
      await a.unlisten(ns);
      await b.unlisten(ns);
    });

    it('queued requests are served by priority: calls before executes', async () => {
      const ns = net.ns('conf.prio');
      const s = a.session();
      for (let i = 0; i < 5; i++) await s.execute(ns, `exec${i}`);
      const call = s.call(ns, 'call', null, { timeoutMs: 4000 });
      await sleep(100);
      const order: string[] = [];
      await b.listen(ns, (req, res) => { order.push(req.command); res.done('ok'); });
      assert.equal(await call, 'ok');
      await until(() => order.length === 6);
      assert.equal(order[0], 'call');
      assert.deepEqual(order.slice(1).sort(), ['exec0', 'exec1', 'exec2', 'exec3', 'exec4']);
      await b.unlisten(ns);
    });

    it('an execute whose handler throws is redelivered once, then dropped', async () => {
      const ns = net.ns('conf.throw');
      let runs = 0;
      await b.listen(ns, () => { runs++; throw new Error('flaky'); });
      await a.session().execute(ns, 'x');
      await until(() => runs >= 2);
      await sleep(200);
      assert.equal(runs, 2);
      await b.unlisten(ns);
    });

    it('a handler that returns without answering gets the balanced request again', async () => {
      const ns = net.ns('conf.redeliver');
      let calls = 0;
      await b.listen(ns, (_req, res) => { calls++; if (calls >= 2) res.done(calls); });
      assert.equal(await a.session().call(ns, 'x', null, { timeoutMs: 3000 }), 2);
      await b.unlisten(ns);
    });

    it('a late answer after the handler finished is ignored, not thrown', async () => {
      const ns = net.ns('conf.late');
      let calls = 0, lateIgnored = false;
      await b.listen(ns, (_req, res) => {
        calls++;
        if (calls === 1) setTimeout(() => { res.done('late'); lateIgnored = res.isClosed; }, 20); // callback style: too late
        else res.done('second');
      });
      assert.equal(await a.session().call(ns, 'x', null, { timeoutMs: 3000 }), 'second');
      await sleep(50);
      assert.equal(lateIgnored, true);
      await b.unlisten(ns);
    });

    it('balanced calls are spread over every listening peer; unlisten stops delivery', async () => {
      const ns = net.ns('conf.balance');
      const seen = new Set<string>();
      await a.listen(ns, (_req, res) => { seen.add('a'); res.done('a'); });
      await b.listen(ns, async (_req, res) => { seen.add('b'); await sleep(2); res.done('b'); });
      const s = a.session();
      await Promise.all(Array.from({ length: 40 }, () => s.call(ns, 'x')));
      assert.deepEqual([...seen].sort(), ['a', 'b']);
      await a.unlisten(ns);
      const res = await Promise.all(Array.from({ length: 10 }, () => s.call(ns, 'x')));
      assert.ok(res.every((r) => r === 'b'));
      await b.unlisten(ns);
    });

    it('notify reaches one session; notifyMany exactly the matching sessions', async () => {
      const ns = net.ns('conf.ntf');
      const got: string[] = [];
      const sessions = [a.session(), a.session(), b.session(), b.session(), b.session()];
      const [s1, s2, s3, s4, s5] = sessions as [ReturnType<Peer['session']>, ReturnType<Peer['session']>, ReturnType<Peer['session']>, ReturnType<Peer['session']>, ReturnType<Peer['session']>];
      const names = new Map(sessions.map((s, i) => [s.id, `s${i + 1}`]));
      const seenNotes: Notification[] = [];
      for (const s of [s2, s3, s4, s5]) await s.listen(ns, (n, sess) => { seenNotes.push(n); got.push(`${names.get(sess.id)}:${n.type}`); });
      await s2.currentRevision().update('app', set('room', 'red'));
      await s3.currentRevision().update('app', set('room', 'red'), set('vip', 'yes'));
      await s4.currentRevision().update('app', set('room', 'blue'));
      await s5.currentRevision().update(ns, set('room', 'red')); // same key, the notification's own namespace

      await s1.notify(ns, 'direct', s4.id, { hi: 1 });
      await until(() => got.length === 1);
      assert.deepEqual(got, ['s4:direct']);
      assert.equal(seenNotes[0]!.source.ref, `${s1.id}@0`);
      assert.deepEqual(seenNotes[0]!.payload, { hi: 1 });
      assert.equal(seenNotes[0]!.isMulticast, false);

      const expect = async (c: Parameters<typeof s1.notifyMany>[2], type: string, want: string[]) => {
        got.length = 0;
        await s1.notifyMany(ns, type, c, null);
        await until(() => got.length >= want.length);
        await sleep(50);
        assert.deepEqual(got.sort(), want.map((w) => `${w}:${type}`).sort(), type);
      };
      await expect(within('app', equal('room', 'red')), 'red', ['s2', 's3']);
      await expect(within('app', and(equal('room', 'red'), notEqual('vip', ''))), 'vip', ['s3']);
      await expect(equal('room', 'red'), 'own-ns', ['s5']);
      await expect(none, 'all', ['s2', 's3', 's4', 's5']);
      await s3.unlisten(ns);
      await expect(within('app', equal('room', 'red')), 'after-unlisten', ['s2']);
      for (const s of sessions) s.destroy();
    });

    it('local attributes: revisions, stale, frozen, clear, destroy', async () => {
      const s = a.session();
      const r0 = s.currentRevision();
      assert.equal(r0.ref, `${s.id}@0`);
      const r1 = await r0.update('app', set('a', '1'), freeze('f', 'x'));
      assert.equal(r1.rev, 1);
      assert.deepEqual(await r1.get('app', 'a'), { key: 'a', value: '1', frozen: false });
      assert.deepEqual(await r0.get('app', 'a'), { key: 'a', value: '', frozen: false });
      await assert.rejects(r0.update('app', set('a', '2')), (e) => isPlexusError(e, 'STALE') && shouldRetry(e));
      await assert.rejects(r1.update('app', set('f', 'y')), (e) => isPlexusError(e, 'FROZEN') && !shouldRetry(e));
      const r2 = await r1.update('app', set('a', '2'), freeze('f', 'x'));
      await assert.rejects(r1.get('app', 'a'), (e) => isPlexusError(e, 'STALE') && shouldRetry(e));
      assert.equal((await r1.get('app', 'f')).value, 'x');
      assert.equal((await r2.getMany('app', 'a', 'f', 'none')).get('none')?.value, '');
      await assert.rejects(r2.clear('app'), (e) => isPlexusError(e, 'FROZEN'));
      const r3 = await r2.update('other', set('z', 'z'));
      const r4 = await r3.clear('other');
      assert.equal((await r4.get('other', 'z')).value, '');
      assert.equal((await r0.refresh()).ref, `${s.id}@4`);
      await assert.rejects(r3.destroy(), (e) => isPlexusError(e, 'STALE'));
      await r4.destroy();
      await s.done;
      await assert.rejects(r4.update('app', set('a', '3')), (e) => isPlexusError(e, 'NOT_FOUND'));
      await assert.rejects(s.call('x', 'y'), (e) => isPlexusError(e, 'NOT_FOUND'));
      assert.throws(() => s.currentRevision(), (e) => isPlexusError(e, 'NOT_FOUND'));
    });

    it('remote attributes: a handler reads and updates the caller session on another peer', async () => {
      const ns = net.ns('conf.remote');
      const s = a.session();
      const r1 = await s.currentRevision().update('app', set('user', 'bob'), freeze('id', '7'));
      await b.listen(ns, async (req, res) => {
        try {
          const src = req.source;
          switch (req.command) {
            case 'read': return res.done({ ref: src.ref, user: (await src.get('app', 'user')).value, many: Object.fromEntries([...(await src.getMany('app', 'user', 'id', 'x'))].map(([k, v]) => [k, v.value])) });
            case 'write': { const next = await (await src.refresh()).update('app', set('seen', 'yes')); return res.done(next.ref); }
            case 'stale': { const cur = await src.refresh(); await cur.update('app', set('seen', 'again')); await cur.update('app', set('seen', 'twice')); return res.done('no'); }
            case 'frozen': { await (await src.refresh()).update('app', set('id', '8')); return res.done('no'); }
            case 'old': { await src.get('app', 'user'); return res.done('no'); }
            case 'clear': { await (await src.refresh()).clear('tmp'); return res.done('ok'); }
            case 'destroy': { await (await src.refresh()).destroy(); return res.done('ok'); }
          }
        } catch (err) {
          res.fail(isPlexusError(err) ? err.code : 'other', (err as Error).message);
        }
      });
      assert.deepEqual(await s.call(ns, 'read'), { ref: r1.ref, user: 'bob', many: { user: 'bob', id: '7', x: '' } });
      assert.equal(await s.call(ns, 'write'), `${s.id}@2`);
      assert.equal((await s.currentRevision().get('app', 'seen')).value, 'yes');
      await assert.rejects(s.call(ns, 'stale'), (e) => isFailure(e, 'STALE'));
      await assert.rejects(s.call(ns, 'frozen'), (e) => isFailure(e, 'FROZEN'));
      await s.currentRevision().update('app', set('user', 'alice'));
      // the caller's revision 3 is current when it calls; a read at @3 is fine
      assert.equal(((await s.call(ns, 'read')) as { user: string }).user, 'alice');
      assert.equal(await s.call(ns, 'clear'), 'ok');
      assert.equal(await s.call(ns, 'destroy'), 'ok');
      await s.done;
      assert.equal(s.isDestroyed, true);
      await b.unlisten(ns);
    });

    it('remote read of a revision whose attribute changed since is STALE', async () => {
      const ns = net.ns('conf.remote2');
      const s = a.session();
      await s.currentRevision().update('app', set('k', 'v1'));
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      await b.listen(ns, async (req, res) => {
        await gate;
        try { res.done((await req.source.get('app', 'k')).value); } catch (err) { res.fail(isPlexusError(err) ? err.code : 'x'); }
      });
      const call = s.call(ns, 'read');
      await sleep(50);
      await s.currentRevision().update('app', set('k', 'v2'));
      release();
      await assert.rejects(call, (e) => isFailure(e, 'STALE'));
      await b.unlisten(ns);
      s.destroy();
    });

    it('gracefulStop waits for running handlers, then the peer is done', async () => {
      const ns = net.ns('conf.graceful');
      const c = await net.peer(quiet);
      await c.listen(ns, async (_req, res) => { await sleep(200); res.done('finished'); });
      const call = a.session().call(ns, 'slow');
      await sleep(80);
      const stopped = c.gracefulStop();
      assert.equal(await call, 'finished');
      await stopped;
      await c.done;
      assert.throws(() => c.session(), (e) => isPlexusError(e, 'CLOSED'));
    });

    it('a handler that never settles is abandoned at the deadline and does not hold up gracefulStop', async () => {
      const ns = net.ns('conf.hang');
      const c = await net.peer(quiet);
      let started = 0;
      await c.listen(ns, () => { started++; return new Promise<void>(() => { /* never settles */ }); });
      const s = a.session();
      await Promise.all(Array.from({ length: 5 }, () => assert.rejects(s.call(ns, 'x', null, { timeoutMs: 150 }), (e) => isPlexusError(e, 'TIMEOUT'))));
      assert.ok(started >= 5);
      await sleep(50);
      const t0 = Date.now();
      await c.gracefulStop();
      assert.ok(Date.now() - t0 < 1000, 'gracefulStop did not wait for abandoned handlers');
    });

    it('stop fails pending calls with CLOSED and destroys sessions', async () => {
      const ns = net.ns('conf.stop');
      await b.listen(ns, () => new Promise<void>(() => { /* never answers */ }));
      const c = await net.peer(quiet);
      const s = c.session();
      const rejected = assert.rejects(s.call(ns, 'x', null, { timeoutMs: 2000 }), (e) => isPlexusError(e, 'CLOSED'));
      await sleep(50);
      await c.stop();
      await rejected;
      await s.done;
      await b.unlisten(ns);
    });
  });
}
