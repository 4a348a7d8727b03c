/**
 * rinq's AMQP 0-9-1 topology on RabbitMQ via amqplib, exactly as rinq-go v0.7.0 declares it:
 * non-durable exchanges cmd.bal / cmd.uc / cmd.mc (direct), cmd.rsp (topic), ntf.uc / ntf.mc (direct);
 * per peer the exclusive queues `<short>` (id reservation), `<short>.req` (x-max-priority 3),
 * `<short>.rsp`, `<short>.ntf`; per namespace the shared durable `cmd.<ns>` (x-max-priority 3).
 * Reconnects after the connection drops (same peer id, queues and bindings restored).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import amqp from 'amqplib';
import { maskSecrets, PlexusError } from '../../errors.js';
import { BUS_PREFETCH, BUS_RECONNECT_MAX_DELAY_MS, BUS_RECONNECT_MIN_DELAY_MS } from '../../limits.js';
import { formatPeerId, newPeerId, shortPeerId, type PeerId } from '../ids.js';
import { EXCHANGES, PRIORITY_COUNT, balancedQueue } from '../wire.js';
import { encodePublish } from './frames.js';
import type { Delivery, Transport, TransportSink, WireMessage } from './transport.js';

type ChannelModel = Awaited<ReturnType<typeof amqp.connect>>;
type Channel = Awaited<ReturnType<ChannelModel['createChannel']>>;
type ConsumeMessage = NonNullable<Parameters<Parameters<Channel['consume']>[1]>[0]>;

export interface AmqpOptions {
  /** `connection_name` client property (shown by `rabbitmqctl list_connections`); default `plexus-bus <peer id>`. */
  connectionName?: string;
  /** Unacked deliveries per consumer (default BUS_PREFETCH). */
  prefetch?: number;
  /** Reconnect after the connection drops (default true). */
  reconnect?: boolean;
  /** Give up reconnecting after this many failed attempts (default Infinity). */
  maxReconnectAttempts?: number;
}

const RESOURCE_LOCKED = 405;

function isResourceLocked(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === RESOURCE_LOCKED;
}

/**
 * amqplib's muxer writes every pending frame to the socket with its own `write()` (one syscall each:
 * a call costs a publish on one side and a publish plus an ack on the other). Corking the socket for
 * the duration of one muxer pass turns all frames of an event-loop turn into ONE `writev`. The bytes
 * and their order are unchanged; only the syscalls are fewer. Skipped (no-op) if amqplib's internals
 * are not what this expects.
 */
export function coalesceWrites(model: unknown): boolean {
  const c = (model as { connection?: { stream?: unknown; muxer?: { _readIncoming?: unknown } } }).connection;
  const sock = c?.stream as { cork?: unknown; uncork?: unknown } | undefined, mux = c?.muxer;
  if (!mux || typeof mux._readIncoming !== 'function' || typeof sock?.cork !== 'function' || typeof sock.uncork !== 'function') return false;
  const pass = mux._readIncoming as (this: unknown) => void;
  const cork = sock.cork as () => void, uncork = sock.uncork as () => void;
  mux._readIncoming = function (this: unknown): void {
    cork.call(sock);
    try { pass.call(this); } finally { uncork.call(sock); }
  };
  return true;
}

/** The amqplib internals `framePublisher` writes through. */
interface RawChannel {
  ch?: unknown;
  connection?: { channels?: unknown; frameMax?: unknown; sentSinceLastCheck?: boolean };
}
type ChannelRecord = { channel?: unknown; buffer?: { write?: unknown } } | null | undefined;

/**
 * The amqplib version whose `publish` output and internals `encodePublish`/`framePublisher` were
 * checked against (test/bus/frames.test.ts); with any other installed version plexus publishes through
 * amqplib's own `publish`. package.json pins this exact version.
 */
export const FRAMES_VERIFIED_WITH = '2.3.1';
let installedAmqplib: string | undefined;
/** The installed amqplib's version ('' when it cannot be read). */
export function amqplibVersion(): string {
  if (installedAmqplib === undefined) {
    try {
      const main = createRequire(import.meta.url).resolve('amqplib');
      installedAmqplib = String((JSON.parse(readFileSync(join(dirname(main), 'package.json'), 'utf8')) as { version?: unknown }).version ?? '');
    } catch { installedAmqplib = ''; }
  }
  return installedAmqplib;
}

/**
 * A publisher that writes a message's frames, encoded by `encodePublish` (byte-identical to
 * amqplib's), straight into the channel's outgoing frame buffer: where amqplib's own `publish` would
 * put the same bytes, so ordering with acks and other frames and flow control (`false` = buffer full,
 * wait for 'drain') are unchanged. Returns undefined (the caller then uses amqplib's `publish`) when
 * the message is not one `encodePublish` handles, the channel is closed (amqplib's publish throws the
 * proper error), or amqplib's internals are not what this expects (then `framePublisher` itself
 * returns undefined).
 */
export function framePublisher(channel: unknown): ((m: WireMessage) => boolean | undefined) | undefined {
  if (amqplibVersion() !== FRAMES_VERIFIED_WITH) return undefined;
  const c = channel as RawChannel, conn = c.connection;
  if (typeof c.ch !== 'number' || !conn || !Array.isArray(conn.channels) || typeof conn.frameMax !== 'number') return undefined;
  const n = c.ch, channels = conn.channels as ChannelRecord[];
  const rec0 = channels[n];
  if (!rec0 || rec0.channel !== channel || typeof rec0.buffer?.write !== 'function' || Object.hasOwn(c, 'sendMessage')) return undefined;
  return (m) => {
    // a closed channel has its send methods replaced by throwing ones (own properties)
    if (Object.hasOwn(c, 'sendMessage')) return undefined;
    const rec = channels[n];
    if (!rec || rec.channel !== channel) return undefined;
    const frames = encodePublish(n, m, conn.frameMax as number);
    if (!frames) return undefined;
    conn.sentSinceLastCheck = true;
    return (rec.buffer as { write(b: Buffer): boolean }).write(frames);
  };
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The amqplib publish options of a rinq message (exported for the byte-level fixture tests). */
export function publishOptions(m: WireMessage): Record<string, unknown> {
  const p = m.properties;
  const o: Record<string, unknown> = {};
  if (p.messageId !== undefined) o.messageId = p.messageId;
  if (p.correlationId !== undefined) o.correlationId = p.correlationId;
  if (p.type !== undefined) o.type = p.type;
  if (p.replyTo !== undefined) o.replyTo = p.replyTo;
  if (p.priority !== undefined) o.priority = p.priority;
  if (p.expiration !== undefined) o.expiration = p.expiration;
  if (p.deliveryMode !== undefined) o.deliveryMode = p.deliveryMode;
  const ph = p.headers;
  if (ph) {
    const h: Record<string, unknown> = {};
    for (const k in ph) {
      const v = ph[k];
      if (typeof v === 'string') h[k] = v;
      else if (k === 'dl' && typeof v === 'number') h[k] = { '!': 'int64', value: v };
      else if (v instanceof Uint8Array) h[k] = toBuffer(v);
      else h[k] = v;
    }
    o.headers = h;
  }
  return o;
}

/** The part of an amqplib channel the ack batcher uses. */
interface AckChannel {
  ack(m: { fields: { deliveryTag: number } }, allUpTo?: boolean): void;
  reject(m: { fields: { deliveryTag: number } }, requeue?: boolean): void;
}

const PENDING = 0, ACKED = 1, SENT = 2;

/**
 * The acks of one consuming channel, sent at the end of the current microtask batch instead of one
 * Basic.Ack frame each: all deliveries acked in a turn that are the oldest outstanding ones go as ONE
 * `multiple` ack (up to the newest of them), the rest (an older delivery still being handled) one by
 * one. Nothing is held back past the turn (the frames leave in the same socket write as before), a
 * `multiple` ack never covers a delivery whose handler has not answered, and a reject first flushes the
 * acks called before it, so the broker sees acks and rejects in the order the peer made them.
 */
export class AckBatcher {
  /** Delivery tags of this channel's ack-mode deliveries, ascending; `head` = oldest still tracked. */
  private tags: number[] = [];
  private head = 0;
  private readonly state = new Map<number, number>();
  private acked: number[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  constructor(private readonly ch: AckChannel, private readonly live: () => boolean = () => true) {}

  /** A delivery that will be acked or rejected (deliveries of noAck consumers are not tracked). */
  track(tag: number): void {
    this.tags.push(tag);
    this.state.set(tag, PENDING);
  }

  ack(tag: number): void {
    if (this.state.get(tag) !== PENDING) return;
    this.state.set(tag, ACKED);
    this.acked.push(tag);
    if (!this.scheduled) { this.scheduled = true; queueMicrotask(this.flushNow); }
  }

  reject(tag: number, requeue: boolean): void {
    if (this.state.get(tag) !== PENDING) return;
    this.flush();
    this.state.set(tag, SENT);
    if (this.live()) this.send(() => this.ch.reject({ fields: { deliveryTag: tag } }, requeue));
  }

  /** A channel closed meanwhile throws: the broker requeues what was not acked, nothing to do. */
  private send(f: () => void): void {
    try { f(); } catch { /* channel closed */ }
  }

  /** Number of tracked deliveries not yet settled on the wire (for tests). */
  get outstanding(): number { let n = 0; for (const v of this.state.values()) if (v !== SENT) n++; return n; }

  flush(): void {
    this.scheduled = false;
    if (this.acked.length === 0) return;
    const acked = this.acked;
    this.acked = [];
    // the oldest tracked deliveries that are all settled: one multiple ack up to the newest acked one
    let upTo = -1;
    while (this.head < this.tags.length) {
      const t = this.tags[this.head]!;
      const st = this.state.get(t);
      if (st === PENDING) break;
      if (st === ACKED) upTo = t;
      this.state.delete(t);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.tags.length) { this.tags = this.tags.slice(this.head); this.head = 0; }
    const live = this.live();
    if (upTo >= 0 && live) this.send(() => this.ch.ack({ fields: { deliveryTag: upTo } }, true));
    // acked behind an older delivery that is still being handled: one by one
    for (const t of acked) {
      if (this.state.get(t) !== ACKED) continue;
      this.state.set(t, SENT);
      if (live) this.send(() => this.ch.ack({ fields: { deliveryTag: t } }, false));
    }
  }
}

/** A delivery from amqplib, settled through the channel's AckBatcher (none for noAck consumers). */
class AmqpDelivery implements Delivery {
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: Delivery['properties'];
  readonly body: Uint8Array;
  readonly redelivered: boolean;
  private readonly tag: number;
  private settled = false;

  constructor(m: ConsumeMessage, private readonly acks: AckBatcher | undefined) {
    this.exchange = m.fields.exchange;
    this.routingKey = m.fields.routingKey;
    // amqplib's properties object has exactly rinq's field names (absent ones undefined)
    this.properties = m.properties as unknown as Delivery['properties'];
    this.body = m.content;
    this.redelivered = m.fields.redelivered;
    this.tag = m.fields.deliveryTag;
    acks?.track(this.tag);
  }

  ack(): void {
    if (this.settled) return;
    this.settled = true;
    try { this.acks?.ack(this.tag); } catch { /* channel closed meanwhile: the broker requeues */ }
  }

  reject(requeue: boolean): void {
    if (this.settled) return;
    this.settled = true;
    try { this.acks?.reject(this.tag, requeue); } catch { /* channel closed meanwhile */ }
  }
}

/** One peer's connection to RabbitMQ. */
export class AmqpTransport implements Transport {
  readonly peerId: PeerId;
  private readonly full: string;
  private readonly short: string;
  private conn: ChannelModel | undefined;
  private ctl: Channel | undefined;
  private pub: Channel | undefined;
  private fastPublish: ((m: WireMessage) => boolean | undefined) | undefined;
  private cons: Channel | undefined;
  private acks: AckBatcher | undefined;
  private sink: TransportSink | undefined;
  private generation = 0;
  private closing = false;
  private serving = true;
  private up = false;
  private reconnecting = false;
  private readonly listening = new Set<string>();
  private readonly ntfNamespaces = new Set<string>();
  private readonly declared = new Set<string>();
  private drainWaiters: (() => void)[] = [];

  private constructor(private readonly url: string, private readonly opts: AmqpOptions, id: PeerId) {
    this.peerId = id;
    this.full = formatPeerId(id);
    this.short = shortPeerId(id);
  }

  /** Dial and reserve a unique peer id (a new one while `<short>` is locked by another peer). */
  static async connect(url: string, opts: AmqpOptions = {}): Promise<AmqpTransport> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const t = new AmqpTransport(url, opts, newPeerId());
      try {
        await t.dial();
        return t;
      } catch (err) {
        await t.teardown();
        if (!isResourceLocked(err)) throw new PlexusError('UNAVAILABLE', `cannot connect to ${redact(url)}: ${(err as Error).message}`, { cause: err });
      }
    }
    throw new PlexusError('UNAVAILABLE', 'could not reserve a peer id');
  }

  private async dial(): Promise<void> {
    const conn = await amqp.connect(this.url, { noDelay: true, clientProperties: { connection_name: this.opts.connectionName ?? `plexus-bus ${this.full}`, product: 'plexus', version: 'plexus-bus/0.1.0 (rinq-go/0.7.0 compatible)' } });
    this.conn = conn;
    coalesceWrites(conn);
    const gen = ++this.generation;
    conn.on('error', () => { /* 'close' follows */ });
    conn.on('close', (err?: Error) => this.onConnectionClose(gen, err));
    this.ctl = await conn.createChannel();
    this.ctl.on('error', () => { /* a channel error closes the connection handling below */ });
    this.ctl.on('close', () => this.onChannelClose(gen));
    // reserve the id: an exclusive queue named after the short id (405 RESOURCE_LOCKED = taken)
    await this.ctl.assertQueue(this.short, { durable: false, autoDelete: false, exclusive: true });
    this.pub = await conn.createChannel();
    this.pub.on('error', () => {});
    this.pub.on('close', () => this.onChannelClose(gen));
    this.fastPublish = process.env.PLEXUS_BUS_AMQPLIB_PUBLISH ? undefined : framePublisher(this.pub);
    this.pub.on('drain', () => { const w = this.drainWaiters; this.drainWaiters = []; for (const f of w) f(); });
    for (const [name, { kind }] of Object.entries(EXCHANGES)) await this.ctl.assertExchange(name, kind, { durable: false, autoDelete: false, internal: false });
  }

  private onChannelClose(gen: number): void {
    // a channel closed by the broker (e.g. a failed declare) leaves the peer half-working: start over
    if (gen !== this.generation || this.closing) return;
    void this.conn?.close().catch(() => {});
  }

  private onConnectionClose(gen: number, err?: Error): void {
    if (gen !== this.generation || this.closing) return;
    this.up = false;
    this.generation++;
    this.conn = this.ctl = this.pub = this.cons = this.acks = undefined;
    this.declared.clear();
    // lost during a reconnect attempt: that attempt sees the new generation and dials again
    if (this.reconnecting) return;
    this.sink?.status?.('down', err);
    if (this.opts.reconnect === false) { this.sink?.status?.('failed', err ?? new Error('connection closed')); return; }
    void this.reconnect();
  }

  /** The one reconnect loop (a connection lost while it runs does not start another). */
  private async reconnect(): Promise<void> {
    this.reconnecting = true;
    try {
      let delay = BUS_RECONNECT_MIN_DELAY_MS;
      const max = this.opts.maxReconnectAttempts ?? Infinity;
      for (let attempt = 1; !this.closing; attempt++) {
        await new Promise((r) => setTimeout(r, delay));
        if (this.closing) return;
        try {
          await this.dial();
          const gen = this.generation;
          await this.setup();
          if (gen !== this.generation) throw new PlexusError('UNAVAILABLE', 'broker connection lost during setup');
          this.sink?.status?.('up');
          return;
        } catch (err) {
          if (process.env.BUS_DEBUG) console.error('reconnect attempt failed', err);
          await this.teardown();
          if (attempt >= max) { this.sink?.status?.('failed', new PlexusError('UNAVAILABLE', `reconnect failed: ${(err as Error).message}`)); return; }
          delay = Math.min(BUS_RECONNECT_MAX_DELAY_MS, delay * 2);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private async teardown(): Promise<void> {
    const conn = this.conn;
    this.up = false;
    this.generation++;
    this.conn = this.ctl = this.pub = this.cons = this.acks = undefined;
    if (conn) await conn.close().catch(() => {});
  }

  async start(sink: TransportSink): Promise<void> {
    this.sink = sink;
    await this.setup();
  }

  /**
   * Declare the peer's queues, bindings and consumers (again after a reconnect). Consuming starts
   * last, once the peer counts as up: a request delivered during setup must be able to publish its
   * response (else it would be answered into the void and acked).
   */
  private async setup(): Promise<void> {
    const ctl = this.ctl!, conn = this.conn!;
    const gen = this.generation;
    const prefetch = this.opts.prefetch ?? BUS_PREFETCH;
    const cons = await conn.createChannel();
    cons.on('error', () => {});
    cons.on('close', () => this.onChannelClose(gen));
    await cons.prefetch(prefetch);
    const req = `${this.short}.req`, rsp = `${this.short}.rsp`, ntf = `${this.short}.ntf`;
    await ctl.assertQueue(req, { durable: false, autoDelete: false, exclusive: true, arguments: { 'x-max-priority': PRIORITY_COUNT } });
    await ctl.assertQueue(rsp, { durable: false, autoDelete: false, exclusive: true });
    await ctl.bindQueue(rsp, 'cmd.rsp', `${this.full}.*`);
    await ctl.assertQueue(ntf, { durable: false, autoDelete: false, exclusive: true });
    for (const ns of this.ntfNamespaces) await this.bindNtf(ns);
    if (this.serving) await ctl.bindQueue(req, 'cmd.uc', this.full);
    if (gen !== this.generation) throw new PlexusError('UNAVAILABLE', 'broker connection lost during setup');
    const acks = new AckBatcher(cons, () => gen === this.generation);
    this.cons = cons;
    this.acks = acks;
    this.up = true;
    // from here on `listen(ns)` consumes ns itself; the namespaces listened to so far are done here
    const serving = this.serving ? [...this.listening] : [];
    // responses are consumed without acks: they are for this peer only, a late one is dropped anyway
    await cons.consume(rsp, (m) => this.deliver(gen, undefined, 'response', m), { consumerTag: rsp, noAck: true, exclusive: true });
    await cons.consume(ntf, (m) => this.deliver(gen, acks, 'notification', m), { consumerTag: ntf, noAck: false, exclusive: true });
    if (this.serving) {
      await cons.consume(req, (m) => this.deliver(gen, acks, 'request', m), { consumerTag: req, noAck: false, exclusive: true });
      for (const ns of serving) if (this.listening.has(ns)) await this.consumeNamespace(ns);
    }
  }

  private deliver(gen: number, acks: AckBatcher | undefined, kind: 'request' | 'response' | 'notification', m: ConsumeMessage | null): void {
    if (!m || gen !== this.generation || !this.sink) return; // consumer cancelled by the broker
    this.sink[kind](new AmqpDelivery(m, acks));
  }

  private ready(): { ctl: Channel; cons: Channel; pub: Channel } {
    if (this.closing) throw new PlexusError('CLOSED', 'peer transport is closed');
    if (!this.up || !this.ctl || !this.cons || !this.pub) throw new PlexusError('UNAVAILABLE', 'broker connection is down (reconnecting)');
    return { ctl: this.ctl, cons: this.cons, pub: this.pub };
  }

  private async declareBalanced(ctl: Channel, ns: string): Promise<string> {
    const q = balancedQueue(ns);
    if (this.declared.has(q)) return q;
    await ctl.assertQueue(q, { durable: true, autoDelete: false, exclusive: false, arguments: { 'x-max-priority': PRIORITY_COUNT } });
    await ctl.bindQueue(q, 'cmd.bal', ns);
    this.declared.add(q);
    return q;
  }

  private async consumeNamespace(ns: string): Promise<void> {
    const ctl = this.ctl, cons = this.cons, acks = this.acks;
    if (!ctl || !cons || !acks) throw new PlexusError('UNAVAILABLE', 'broker connection is down (reconnecting)');
    const gen = this.generation;
    await ctl.bindQueue(`${this.short}.req`, 'cmd.mc', ns);
    const q = await this.declareBalanced(ctl, ns);
    await cons.consume(q, (m) => this.deliver(gen, acks, 'request', m), { consumerTag: q, noAck: false, exclusive: false });
  }

  async listen(ns: string): Promise<void> {
    if (this.listening.has(ns)) return;
    this.listening.add(ns);
    // while down, the reconnect's setup consumes it
    if (this.serving && this.up) await this.consumeNamespace(ns);
  }

  async unlisten(ns: string): Promise<void> {
    if (!this.listening.delete(ns)) return;
    if (!this.serving || !this.up) return;
    const { ctl, cons } = this.ready();
    await ctl.unbindQueue(`${this.short}.req`, 'cmd.mc', ns);
    await cons.cancel(balancedQueue(ns));
  }

  private async bindNtf(ns: string): Promise<void> {
    const ctl = this.ctl!;
    await ctl.bindQueue(`${this.short}.ntf`, 'ntf.uc', `${ns}.${this.full}`);
    await ctl.bindQueue(`${this.short}.ntf`, 'ntf.mc', ns);
  }

  async bindNotifications(ns: string): Promise<void> {
    this.ready();
    this.ntfNamespaces.add(ns);
    await this.bindNtf(ns);
  }

  async unbindNotifications(ns: string): Promise<void> {
    if (!this.ntfNamespaces.delete(ns) || !this.up) return;
    const { ctl } = this.ready();
    await ctl.unbindQueue(`${this.short}.ntf`, 'ntf.uc', `${ns}.${this.full}`);
    await ctl.unbindQueue(`${this.short}.ntf`, 'ntf.mc', ns);
  }

  publish(msg: WireMessage): void | Promise<void> {
    const { ctl, pub } = this.ready();
    // a balanced request declares cmd.<ns> first (as rinq does); once declared, publishing is synchronous
    if (msg.exchange === 'cmd.bal' && !this.declared.has(balancedQueue(msg.routingKey))) return this.declareBalanced(ctl, msg.routingKey).then(() => this.write(pub, msg));
    return this.write(pub, msg);
  }

  private write(pub: Channel, msg: WireMessage): void | Promise<void> {
    let ok = pub === this.pub ? this.fastPublish?.(msg) : undefined;
    if (ok === undefined) ok = pub.publish(msg.exchange, msg.routingKey, toBuffer(msg.body), publishOptions(msg));
    if (!ok) return new Promise<void>((r) => this.drainWaiters.push(r));
  }

  async stopRequests(): Promise<void> {
    if (!this.serving) return;
    this.serving = false;
    if (!this.up) return;
    const { ctl, cons } = this.ready();
    const req = `${this.short}.req`;
    await ctl.unbindQueue(req, 'cmd.uc', this.full);
    await cons.cancel(req);
    for (const ns of this.listening) {
      await ctl.unbindQueue(req, 'cmd.mc', ns);
      await cons.cancel(balancedQueue(ns));
    }
  }

  /** Delete this peer's queues and close the connection (unacked requests go back to their queues). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const { ctl, conn, cons } = this;
    if (this.up && ctl && cons) {
      try {
        // close the consuming channel first: its unacked balanced requests are requeued for other peers
        await cons.close();
        for (const q of [`${this.short}.req`, `${this.short}.rsp`, `${this.short}.ntf`, this.short]) await ctl.deleteQueue(q);
      } catch { /* the connection close below releases exclusive queues anyway */ }
    }
    this.up = false;
    this.generation++;
    if (conn) await conn.close().catch(() => {});
    this.conn = this.ctl = this.pub = this.cons = this.acks = undefined;
  }
}

const redact = (url: string): string => maskSecrets(url);
