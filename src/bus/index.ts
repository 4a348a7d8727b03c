/**
 * plexus/bus: a rinq-compatible command bus and session attribute store. Peers serve commands in
 * namespaces; sessions call them, notify each other and keep versioned attributes. Speaks rinq-go
 * v0.7.0's AMQP protocol (`connect()`), or runs in-process with the same semantics (`memoryNetwork()`).
 */
import { Peer, type PeerOptions } from './peer.js';
import { MemoryNetwork } from './transport/memory.js';
import { AmqpTransport, type AmqpOptions } from './transport/amqp.js';

export { Peer } from './peer.js';
export type { Request, Response, CommandHandler, BusLogger, PeerOptions } from './peer.js';
export { Session } from './session.js';
export type { CallOptions, SendOptions, Notification, NotificationHandler, AsyncResponse, AsyncResponseHandler } from './session.js';
export type { Revision } from './revision.js';
export { set, freeze, validateNamespace } from './attributes.js';
export type { Attr, AttrTable } from './attributes.js';
export { Failure, isFailure, shouldRetry } from './failure.js';
export * as constraint from './constraint.js';
export type { Constraint } from './constraint.js';
export { none, within, equal, notEqual, empty, notEmpty, not, and, or } from './constraint.js';
export * as ids from './ids.js';
export { encodePayload, decodePayload } from './payload.js';
export type { Transport, WireMessage, Delivery } from './transport/transport.js';

/** Options of `connect`. */
export interface ConnectOptions extends PeerOptions, AmqpOptions {
  /** AMQP URL; default env PLEXUS_AMQP, then RINQ_AMQP_DSN, then amqp://localhost (see `amqpUrlFromEnv`). */
  url?: string;
}

let warnedAmqpUrl = false;

/**
 * The AMQP URL the environment names: PLEXUS_AMQP (the server's name too), else PLEXUS_AMQP_URL (the
 * old name: still read, with a one-line deprecation warning on stderr, once per process), else rinq's
 * RINQ_AMQP_DSN.
 */
export function amqpUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PLEXUS_AMQP) return env.PLEXUS_AMQP;
  if (env.PLEXUS_AMQP_URL) {
    if (!warnedAmqpUrl) process.stderr.write('plexus: PLEXUS_AMQP_URL is deprecated, set PLEXUS_AMQP instead\n');
    warnedAmqpUrl = true;
    return env.PLEXUS_AMQP_URL;
  }
  return env.RINQ_AMQP_DSN || undefined;
}

/** Connect a peer to a rinq network on RabbitMQ (reserves a unique peer id, declares its queues). */
export async function connect(opts: ConnectOptions = {}): Promise<Peer> {
  const url = opts.url || amqpUrlFromEnv() || 'amqp://localhost';
  const transport = await AmqpTransport.connect(url, opts);
  const peer = new Peer(transport, opts);
  try {
    await peer.whenReady();
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}

/** An in-process rinq network; every `peer()` joins it. */
export interface MemoryNetworkHandle {
  peer(opts?: PeerOptions): Peer;
}

/** A fresh in-process network (the embedded default): same semantics as RabbitMQ, no broker. */
export function memoryNetwork(): MemoryNetworkHandle {
  const net = new MemoryNetwork();
  return { peer: (opts?: PeerOptions) => new Peer(net.transport(), opts) };
}
