// Reconnect after the broker drops the connection (closed with `rabbitmqctl close_connection`, which
// leaves the shared broker running for everyone else), and queue cleanup when a peer stops.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { shortPeerId } from '../../src/bus/ids.js';
import { set, within, equal } from '../../src/bus/index.js';
import { AMQP_URL, amqpTestNetwork, rabbitmqctl } from './amqp-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) { if (Date.now() > end) throw new Error(`timed out waiting for ${what}`); await sleep(20); }
}

async function queueExists(name: string): Promise<boolean> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try { await ch.checkQueue(name); return true; } catch (err) { return (err as { code?: number }).code !== 404; /* 405: exclusive to its peer */ }
  } finally { await conn.close().catch(() => {}); }
}

describe('bus on RabbitMQ: reconnect and cleanup', () => {
  it('reconnects after its connection is closed by the broker, with the same id, queues and bindings', async () => {
    assert.ok(rabbitmqctl('status') !== undefined, 'rabbitmqctl is usable (the test closes connections with it)');
    const net = await amqpTestNetwork('reconnect');
    try {
      const tag = `plexus-test reconnect ${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      const logs: string[] = [];
      const server = await net.peer({ connectionName: tag, logger: (_l, m) => logs.push(m) });
      const client = await net.peer({ logger: () => {} });
      const ns = net.ns('reconnect');
      await server.listen(ns, (req, res) => res.done(req.payload));
      const listener = server.session();
      await listener.currentRevision().update('app', set('room', 'r'));
      const notes: string[] = [];
      await listener.listen(ns, (n) => { notes.push(n.type); });
      const caller = client.session();
      assert.equal(await caller.call(ns, 'echo', 1), 1);

      const line = rabbitmqctl('list_connections', 'pid', 'client_properties')?.find((l) => l.includes(tag));
      assert.ok(line, 'connection found by its connection_name');
      const pid = line.split(/\s+/)[0]!;
      const id = server.id;
      rabbitmqctl('close_connection', pid, 'plexus reconnect test');
      await until(() => logs.some((l) => l.includes('reconnected')), 20_000, 'reconnect');
      assert.ok(logs.some((l) => l.includes('broker connection lost')));
      assert.equal(server.id, id);
      assert.equal(server.error, undefined);
      assert.equal(await caller.call(ns, 'echo', 2, { timeoutMs: 5000 }), 2);
      await caller.notifyMany(ns, 'after', within('app', equal('room', 'r')));
      await caller.notify(ns, 'direct', listener.id);
      await until(() => notes.length === 2, 5000, 'notifications after reconnect');
      assert.deepEqual(notes.sort(), ['after', 'direct']);
      // the server's own session still calls out (its response queue is back)
      assert.equal(await listener.call(ns, 'echo', 3), 3);
    } finally {
      await net.close();
    }
  });

  it('with reconnect off, a dropped connection stops the peer with an error', async () => {
    assert.ok(rabbitmqctl('status') !== undefined, 'rabbitmqctl is usable (the test closes connections with it)');
    const net = await amqpTestNetwork('no-reconnect');
    try {
      const tag = `plexus-test noreconnect ${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      const p = await net.peer({ connectionName: tag, reconnect: false, logger: () => {} });
      const s = p.session();
      const line = rabbitmqctl('list_connections', 'pid', 'client_properties')?.find((l) => l.includes(tag));
      assert.ok(line);
      rabbitmqctl('close_connection', line.split(/\s+/)[0]!, 'plexus test');
      await p.done;
      assert.match(String(p.error?.message), /CONNECTION_FORCED|closed/);
      await s.done;
      assert.throws(() => p.session(), /stopped/);
    } finally {
      await net.close();
    }
  });

  it('a stopped peer deletes its queues; gracefulStop too', async () => {
    const net = await amqpTestNetwork('cleanup');
    try {
      const p = await net.peer({ logger: () => {} });
      const q = await net.peer({ logger: () => {} });
      const ns = net.ns('cleanup');
      await p.listen(ns, (_r, res) => res.done());
      for (const peer of [p, q]) {
        const s = shortPeerId(peer.peerId);
        assert.equal(await queueExists(`${s}.req`), true);
      }
      await p.stop();
      await q.gracefulStop();
      for (const peer of [p, q]) {
        const s = shortPeerId(peer.peerId);
        for (const name of [s, `${s}.req`, `${s}.rsp`, `${s}.ntf`]) assert.equal(await queueExists(name), false, name);
      }
    } finally {
      await net.close();
    }
  });
});
