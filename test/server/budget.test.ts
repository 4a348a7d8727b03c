import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget, SendQueue, type QueueSocket } from '../../src/server/budget.js';

/** A socket that never drains (its peer does not read) unless `drain()` is called. */
function fakeSocket() {
  const pending: { n: number; cb?: (err?: Error) => void }[] = [];
  const s = {
    bufferedAmount: 0, closedWith: undefined as number | undefined, terminated: false,
    send(data: string | Buffer, _o: { binary: boolean }, cb?: (err?: Error) => void) { const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length; s.bufferedAmount += n; pending.push({ n, ...(cb ? { cb } : {}) }); },
    close(code?: number) { s.closedWith = code; },
    terminate() { s.terminated = true; },
    drain() { for (const p of pending.splice(0)) { s.bufferedAmount -= p.n; p.cb?.(); } },
  };
  return s satisfies QueueSocket;
}

describe('MemoryBudget and SendQueue', () => {
  it('a queue is charged until its bytes left, and past its share the socket is closed 1013 and counted', () => {
    const b = new MemoryBudget(1000, 500);
    const ws = fakeSocket();
    const q = new SendQueue(b, ws, 'replies', undefined, 300);
    assert.ok(q.send('x'.repeat(200)));
    assert.equal(b.stats().queuedBytes, 200);
    ws.drain();
    assert.equal(b.stats().usedBytes, 0, 'released once written');
    assert.ok(q.send('x'.repeat(200)));
    assert.equal(q.send('x'.repeat(200)), false, 'past the share: refused');
    assert.equal(ws.closedWith, 1013);
    assert.equal(b.stats().refusedBy.replies, 1);
    q.closed();
    assert.equal(b.stats().usedBytes, 0);
  });

  it('one frame larger than the share still goes to an empty queue', () => {
    const b = new MemoryBudget(1000, 500);
    const q = new SendQueue(b, fakeSocket(), 'replies', undefined, 100);
    assert.ok(q.send('x'.repeat(400)));
  });

  it('when the total runs out the largest queue is cut, and a small one keeps being served', () => {
    const b = new MemoryBudget(1000, 1000);
    const big = fakeSocket(), small = fakeSocket();
    let bigGone = false;
    const qb = new SendQueue(b, big, 'replies', () => { bigGone = true; }, 900);
    const qs = new SendQueue(b, small, 'replies', undefined, 900);
    for (let i = 0; i < 9; i++) assert.ok(qb.send('x'.repeat(100)));
    assert.ok(qs.send('x'.repeat(200)), 'room made by cutting the stalled queue');
    assert.ok(big.terminated && bigGone && !qb.open);
    assert.equal(b.stats().evicted, 1);
    assert.equal(b.stats().usedBytes, 200);
  });

  it('subscriptions take at most their part of the total; the rest stays for work under way', () => {
    const b = new MemoryBudget(1000, 1000, 600);
    const peer = {};
    for (let i = 0; i < 6; i++) assert.ok(b.reserve(peer, 100, 'subs', undefined, true));
    assert.equal(b.reserve(peer, 100, 'subs', undefined, true), false);
    assert.ok(b.reserve({}, 400, 'bodies'));
    b.release(peer, 600);
    assert.equal(b.stats().subscriptionBytes, 600, 'long-lived holdings go only with releaseAll');
    b.releaseAll(peer);
    assert.equal(b.stats().usedBytes, 400);
  });

  it('hold sets a long-lived holding: growth reserved within the subscription part, shrink given back', () => {
    const b = new MemoryBudget(1000, 1000, 500);
    const conn = {};
    assert.ok(b.hold(conn, 300, 'subs'));
    assert.ok(b.hold(conn, 450, 'subs'));
    assert.equal(b.hold(conn, 600, 'subs'), false, 'past the subscription part');
    assert.equal(b.stats().refusedBy.subs, 1);
    assert.ok(b.hold(conn, 100, 'subs'));
    assert.deepEqual([b.stats().usedBytes, b.stats().subscriptionBytes], [100, 100]);
    b.releaseAll(conn);
    assert.deepEqual([b.stats().usedBytes, b.stats().subscriptionBytes], [0, 0]);
  });
});
