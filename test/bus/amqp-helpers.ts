// Shared helpers for the bus tests on the real RabbitMQ.
import amqp from 'amqplib';
import { execFile, execFileSync } from 'node:child_process';
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
      try {
        for (const p of peers) await p.stop();
      } finally {
        // the test's durable cmd.<ns> queues go even when a peer failed to stop
        await deleteQueues([...used].map((ns) => `cmd.${ns}`));
      }
      // cmd._sess stays: it is rinq's shared (empty) queue that every peer declares; deleting it here
      // would race with peers of test files running in parallel
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

/**
 * Let the broker force-close (CONNECTION_FORCED, as `rabbitmqctl close_connection` does) the connection
 * named `connectionName` `times` times: each time it waits for a NEW connection of that name (the
 * peer's reconnect) with at least `minChannels` open channels, lets it live `upMs`, then closes it. Runs inside the broker (one `rabbitmqctl eval`
 * for the whole loop: a rabbitmqctl call costs ~2 s), so a loop of 20 closes takes seconds. Resolves the
 * number of connections closed. The name must be plain text (it is put into an Erlang binary).
 */
export function forceCloseLoop(connectionName: string, times: number, upMs: number, minChannels = 1): Promise<number> {
  if (!/^[\w .:-]+$/.test(connectionName)) throw new Error('connection name must be plain text');
  const erl = `
    Name = <<"${connectionName}">>, MinChannels = ${minChannels},
    Named = fun(P) -> try
        Info = rabbit_networking:connection_info(P, [client_properties, channels]),
        Props = proplists:get_value(client_properties, Info, []),
        is_list(Props) andalso lists:keyfind(<<"connection_name">>, 1, Props) =:= {<<"connection_name">>, longstr, Name}
          andalso proplists:get_value(channels, Info, 0) >= MinChannels
      catch _:_ -> false end end,
    Wait = fun W(_, T) when T =< 0 -> [];
               W(Old, T) -> case [P || P <- rabbit_networking:connections(), not lists:member(P, Old), Named(P)] of
                 [] -> timer:sleep(10), W(Old, T - 10);
                 Ps -> Ps end end,
    Loop = fun L(0, _, Done) -> Done;
               L(N, Old, Done) -> case Wait(Old, 20000) of
                 [] -> Done;
                 Ps -> timer:sleep(${upMs}), [rabbit_networking:close_connection(P, "plexus test: forced close") || P <- Ps], L(N - 1, Old ++ Ps, Done + 1) end end,
    Loop(${times}, [], 0).`;
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', ['-q', '-t', '300', 'eval', erl], { encoding: 'utf8', timeout: 300_000 }, (err, out) => {
      if (err) reject(err); else resolve(Number(out.trim()));
    });
  });
}

/** Ready and unacknowledged message counts of a queue, from the broker (undefined when it does not exist). */
export function queueCounts(name: string): { ready: number; unacked: number } | undefined {
  const line = rabbitmqctl('list_queues', 'name', 'messages_ready', 'messages_unacknowledged')?.map((l) => l.split('\t')).find((f) => f[0] === name);
  return line ? { ready: Number(line[1]), unacked: Number(line[2]) } : undefined;
}
