/**
 * What the bus needs from a network: rinq's AMQP topology, abstracted to "publish a message to an
 * exchange with a routing key" and "deliver the messages routed to this peer". The AMQP transport maps
 * it 1:1 onto RabbitMQ; the memory transport emulates the same exchanges, queues and acks in-process,
 * so both give the peer identical semantics (and pass one conformance suite).
 */
import type { PeerId } from '../ids.js';

/** rinq's exchanges. */
export type Exchange = 'cmd.bal' | 'cmd.uc' | 'cmd.mc' | 'cmd.rsp' | 'ntf.uc' | 'ntf.mc';

/** A header value as rinq uses them: strings, the int64 deadline, the CBOR constraint bytes. */
export type HeaderValue = string | number | Uint8Array;

/** AMQP basic properties rinq sets (absent = not set). */
export interface WireProperties {
  messageId?: string;
  correlationId?: string;
  type?: string;
  replyTo?: string;
  priority?: number;
  expiration?: string;
  /** 2 = persistent (rinq sets it on balanced executes). */
  deliveryMode?: 2;
  headers?: Record<string, HeaderValue>;
}

/** One message as published: exactly what goes on the wire. */
export interface WireMessage {
  exchange: Exchange;
  routingKey: string;
  properties: WireProperties;
  body: Uint8Array;
}

/** A message delivered to this peer. Exactly one of ack/reject must be called. */
export interface Delivery {
  exchange: string;
  routingKey: string;
  /** Properties as received; untrusted: any field may be missing or of the wrong type. */
  properties: { [K in keyof WireProperties]?: unknown } & { headers?: Record<string, unknown> | undefined };
  body: Uint8Array;
  redelivered: boolean;
  ack(): void;
  reject(requeue: boolean): void;
}

/** Where a transport hands its deliveries. */
export interface TransportSink {
  /** From `<short>.req` (unicast, multicast) and `cmd.<ns>` (balanced). */
  request(d: Delivery): void;
  /** From `<short>.rsp`. */
  response(d: Delivery): void;
  /** From `<short>.ntf`. */
  notification(d: Delivery): void;
  /** Connection lost (`down`), re-established with queues/bindings restored (`up`), or given up (`failed`). */
  status?(s: 'down' | 'up' | 'failed', err?: Error): void;
}

/** A peer's attachment to a network. */
export interface Transport {
  readonly peerId: PeerId;
  /** Declare the peer's queues and start consuming into `sink`. */
  start(sink: TransportSink): Promise<void>;
  /** Serve ns: bind `<short>.req` to `cmd.mc`/ns, declare+consume the shared `cmd.<ns>`. */
  listen(ns: string): Promise<void>;
  unlisten(ns: string): Promise<void>;
  /** Receive notifications for ns: bind `<short>.ntf` to `ntf.uc`/`<ns>.<peer>` and `ntf.mc`/ns. */
  bindNotifications(ns: string): Promise<void>;
  unbindNotifications(ns: string): Promise<void>;
  /** Publish one message (for balanced requests, declares `cmd.<ns>` first as rinq does). */
  publish(msg: WireMessage): void | Promise<void>;
  /** Stop receiving requests (graceful stop); responses and notifications still flow. */
  stopRequests(): Promise<void>;
  /** Tear down: delete/release the peer's queues, close connections. Idempotent. */
  close(): Promise<void>;
}
