// No request lost across a broker reconnect (issue 12): while the broker force-closes the serving
// peer's connection again and again, callers keep calling, executing and notifying. Requests wait in
// the durable cmd.<ns> queue meanwhile; once the peer is back, each is answered (a call exactly once,
// before its deadline), an execute is handled, nothing stays unacknowledged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isPlexusError } from '../../src/errors.js';
import { amqpTestNetwork, forceCloseLoop, queueCounts, rabbitmqctl } from './amqp-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) { if (Date.now() > end) throw new Error(`timed out waiting for ${what}`); await sleep(20); }
}

const RECONNECTS = 20;
const TIMEOUT_MS = 8000;

describe('bus on RabbitMQ: nothing lost across reconnects', () => {
  it(`calls, executes and notifications during ${RECONNECTS} forced reconnects`, { timeout: 120_000 }, async () => {
    assert.ok(rabbitmqctl('status') !== undefined, 'rabbitmqctl is usable');
    const net = await amqpTestNetwork('reconnect-loss');
    try {
      const tag = `plexus-test reconnect-loss ${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      const logs: string[] = [];
      const server = await net.peer({ connectionName: tag, logger: (l, m) => logs.push(`${l} ${m}`) });
      const clientLogs: string[] = [];
      const client = await net.peer({ logger: (l, m) => clientLogs.push(`${l} ${m}`) });
      const ns = net.ns('loss'), ntfNs = net.ns('loss.ntf');
      const handled = new Map<number, number>(), executed = new Map<number, number>();
      await server.listen(ns, async (req, res) => {
        const n = req.payload as number;
        if (req.command === 'exec') { executed.set(n, (executed.get(n) ?? 0) + 1); res.close(); return; }
        handled.set(n, (handled.get(n) ?? 0) + 1);
        // an answer that sometimes comes a little later (across a close, too)
        if (n % 3 === 0) await sleep(n % 40);
        res.done(n);
      });
      const listener = server.session();
      const notes = new Map<number, number>();
      await listener.listen(ntfNs, (note) => { const n = note.payload as number; notes.set(n, (notes.get(n) ?? 0) + 1); });
      const caller = client.session();
      assert.equal(await caller.call(ns, 'echo', -1), -1);
      const status = () => logs.filter((l) => l.includes('reconnected') || l.includes('broker connection lost'));

      // the peer's connection has 3 channels once its setup consumes (control, publishing, consuming);
      // a close that still hits a setup fails that reconnect attempt, so closing goes on until the
      // peer has come back RECONNECTS times
      const reconnects = () => logs.filter((l) => l.includes('reconnected')).length;
      const closes = (async () => {
        let n = 0;
        for (let round = 0; round < 5 && reconnects() < RECONNECTS; round++) {
          n += await forceCloseLoop(tag, RECONNECTS - reconnects(), 120, 3);
          await until(() => status().at(-1)?.includes('reconnected') === true, 20_000, 'a reconnect');
        }
        return n;
      })();
      let stop = false;
      const results = { ok: 0, timeouts: 0, early: 0, wrong: 0, other: [] as string[] };
      let next = 0;
      const worker = async (): Promise<void> => {
        while (!stop) {
          const n = next++;
          const sent = Date.now();
          try {
            const got = await caller.call(ns, 'echo', n, { timeoutMs: TIMEOUT_MS });
            if (got === n) results.ok++; else results.wrong++;
          } catch (err) {
            if (isPlexusError(err, 'TIMEOUT')) { results.timeouts++; if (Date.now() - sent < TIMEOUT_MS) results.early++; }
            else results.other.push(String((err as Error).message));
          }
        }
      };
      let execs = 0, notesSent = 0, notesFailed = 0;
      const sender = async (): Promise<void> => {
        while (!stop) {
          await caller.execute(ns, 'exec', execs++);
          try { await caller.notify(ntfNs, 'n', listener.id, notesSent); } catch { notesFailed++; }
          notesSent++;
          await sleep(10);
        }
      };
      const running = [...Array.from({ length: 16 }, worker), sender()];
      let closed: number;
      try { closed = await closes; } finally { stop = true; await Promise.all(running); }
      assert.ok(closed >= RECONNECTS, `the broker closed the connection ${closed} times`);
      assert.ok(reconnects() >= RECONNECTS, `the peer reconnected ${reconnects()} times`);

      assert.equal(results.wrong, 0, 'no call got another call\'s answer');
      assert.deepEqual(results.other, [], 'no call failed with anything but a timeout');
      assert.equal(results.early, 0, 'no call timed out before its deadline');
      assert.equal(results.timeouts, 0, `no call lost (${results.ok} answered)`);
      assert.ok(results.ok > RECONNECTS * 10, `calls kept flowing (${results.ok})`);
      for (let n = 0; n < next; n++) assert.ok((handled.get(n) ?? 0) >= 1, `call ${n} was handled`);
      await until(() => { for (let n = 0; n < execs; n++) if (!executed.has(n)) return false; return true; }, 10_000, 'every execute handled');
      for (const [n, c] of executed) assert.ok(c <= 2, `execute ${n} handled ${c} times`);
      // notifications: a notification is delivered at most once; those sent while the listener's
      // exclusive queue is gone (connection down) are dropped by the broker, as with rinq-go
      for (const [n, c] of notes) assert.equal(c, 1, `notification ${n} delivered ${c} times`);
      // once the peer is back, notifications all arrive, exactly once
      const base = notesSent;
      for (let i = 0; i < 20; i++) await caller.notify(ntfNs, 'n', listener.id, base + i);
      await until(() => { for (let i = 0; i < 20; i++) if (!notes.has(base + i)) return false; return true; }, 5000, 'notifications after the loop');
      // nothing left behind in the shared queue: no ready and no unacknowledged messages
      await until(() => { const c = queueCounts(`cmd.${ns}`); return c !== undefined && c.ready === 0 && c.unacked === 0; }, 10_000, `cmd.${ns} empty and fully acknowledged`);
      void notesFailed;
    } finally {
      await net.close();
    }
  });
});
