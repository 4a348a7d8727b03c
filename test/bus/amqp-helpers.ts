// Shared helpers for the bus tests on the real RabbitMQ.
import amqp from 'amqplib';
import { execFileSync } from 'node:child_process';
import { connect, type Peer, type ConnectOptions } from '../../src/bus/index.js';
import type { BusTestNetwork } from '../conformance/bus-transport.js';

export const AMQP_URL = process.env.PLEXUS_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A test network on the real broker: unique namespaces, and their durable cmd.<ns> queues deleted on close. */
export async function amqpTestNetwork(label: string): Promise<BusTestNetwork & { peer(opts?: ConnectOptions): Promise<Peer>; peers: Peer[]; deleteQueues(names: string[]): Promise<void> }> {
  const run = `t${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const used = new Set<string>();
  const peers: Peer[] = [];
  const deleteQueues = async (names: string[]) => {
    const conn = await amqp.connect(AMQP_URL);
    try {
      for (const q of names) {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        await ch.deleteQueue(q).catch(() => {});
        await ch.close().catch(() => {});
      }
    } finally { await conn.close(); }
  };
  return {
    peers,
    deleteQueues,
    async peer(opts?: ConnectOptions) {
      const p = await connect({ url: AMQP_URL, connectionName: `plexus-test ${label}`, ...opts });
      peers.push(p);
      return p;
    },
    ns(name: string) { const ns = `${run}.${name}`; used.add(ns); return ns; },
    async close() {
      for (const p of peers) await p.stop();
      // cmd._sess stays: it is rinq's shared (empty) queue that every peer declares; deleting it here
      // would race with peers of test files running in parallel
      await deleteQueues([...used].map((ns) => `cmd.${ns}`));
    },
  };
}

/** `rabbitmqctl` output lines, or undefined when rabbitmqctl is not usable here. */
export function rabbitmqctl(...args: string[]): string[] | undefined {
  try {
    return execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean);
  } catch {
    return undefined;
  }
}
