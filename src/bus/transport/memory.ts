/**
 * In-process network with rinq's AMQP semantics: the same exchanges and routing keys, a shared
 * priority queue per balanced namespace with ack / reject(requeue) and redelivery when a consumer goes
 * away, per-message expiration, exclusive short-id reservation. The embedded default and the reference
 * the AMQP transport is tested against.
 */
import { PlexusError } from '../../errors.js';
import { formatPeerId, newPeerId, shortPeerId, type PeerId } from '../ids.js';
import type { Delivery, Transport, TransportSink, WireMessage } from './transport.js';

interface Queued { msg: WireMessage; expiresAt: number; redelivered: boolean; seq: number }

class BalancedQueue {
  readonly items: Queued[] = [];
  readonly consumers: MemoryTransport[] = [];
  next = 0;
}

/** A network of in-process peers; create peers with `memoryNetwork().peer()` (see index.ts). */
export class MemoryNetwork {
  readonly peers = new Map<string, MemoryTransport>();
  readonly shortIds = new Set<number>();
  readonly balanced = new Map<string, BalancedQueue>();
  readonly multicast = new Map<string, Set<MemoryTransport>>();
  readonly ntfUnicast = new Map<string, MemoryTransport>();
  readonly ntfMulticast = new Map<string, Set<MemoryTransport>>();
  private seq = 0;
  private pumping = new Set<string>();

  /** Reserve a short id and create a transport. */
  transport(): MemoryTransport {
    let id: PeerId;
    do id = newPeerId(); while (this.shortIds.has(id.rand));
    this.shortIds.add(id.rand);
    return new MemoryTransport(this, id);
  }

  route(msg: WireMessage): void {
    const exp = msg.properties.expiration;
    const expiresAt = exp === undefined ? Infinity : Date.now() + Number(exp);
    const q: Queued = { msg, expiresAt, redelivered: false, seq: this.seq++ };
    switch (msg.exchange) {
      case 'cmd.bal': this.enqueue(msg.routingKey, q); break;
      case 'cmd.uc': { const t = this.peers.get(msg.routingKey); if (t?.serving) t.deliverLater('request', q); break; }
      case 'cmd.mc': for (const t of this.multicast.get(msg.routingKey) ?? []) t.deliverLater('request', q); break;
      case 'cmd.rsp': {
        const dot = msg.routingKey.indexOf('.');
        const t = dot > 0 ? this.peers.get(msg.routingKey.slice(0, dot)) : undefined;
        if (t) t.deliverLater('response', q);
        break;
      }
      case 'ntf.uc': { const t = this.ntfUnicast.get(msg.routingKey); if (t) t.deliverLater('notification', q); break; }
      case 'ntf.mc': for (const t of this.ntfMulticast.get(msg.routingKey) ?? []) t.deliverLater('notification', q); break;
    }
  }

  queue(ns: string): BalancedQueue {
    let q = this.balanced.get(ns);
    if (!q) { q = new BalancedQueue(); this.balanced.set(ns, q); }
    return q;
  }

  enqueue(ns: string, item: Queued, front = false): void {
    const q = this.queue(ns);
    if (front) q.items.unshift(item); else q.items.push(item);
    this.pump(ns);
  }

  /** Hand queued balanced requests to consumers (highest priority first, round robin). */
  pump(ns: string): void {
    if (this.pumping.has(ns)) return;
    this.pumping.add(ns);
    setImmediate(() => {
      this.pumping.delete(ns);
      const q = this.balanced.get(ns);
      if (!q) return;
      const now = Date.now();
      while (q.items.length > 0 && q.consumers.length > 0) {
        let best = 0;
        for (let i = 1; i < q.items.length; i++) if ((q.items[i]!.msg.properties.priority ?? 0) > (q.items[best]!.msg.properties.priority ?? 0)) best = i;
        const [item] = q.items.splice(best, 1);
        if (item!.expiresAt <= now) continue; // the broker drops expired messages
        const t = q.consumers[q.next++ % q.consumers.length]!;
        t.deliverNow('request', item!, ns);
      }
    });
  }
}

/** One peer's attachment to a MemoryNetwork. */
export class MemoryTransport implements Transport {
  readonly peerId: PeerId;
  private readonly full: string;
  private sink: TransportSink | undefined;
  serving = false;
  private closed = false;
  private readonly listening = new Set<string>();
  private readonly ntfNamespaces = new Set<string>();
  /** Unacked balanced deliveries, requeued if this transport closes. */
  private readonly unacked = new Set<{ item: Queued; ns: string }>();

  constructor(private readonly net: MemoryNetwork, id: PeerId) {
    this.peerId = id;
    this.full = formatPeerId(id);
  }

  async start(sink: TransportSink): Promise<void> {
    this.sink = sink;
    this.serving = true;
    this.net.peers.set(this.full, this);
  }

  deliverLater(kind: 'request' | 'response' | 'notification', item: Queued): void {
    setImmediate(() => {
      if (this.closed || (kind === 'request' && !this.serving)) return;
      if (item.expiresAt <= Date.now()) return;
      this.deliverNow(kind, item);
    });
  }

  deliverNow(kind: 'request' | 'response' | 'notification', item: Queued, balancedNs?: string): void {
    const sink = this.sink;
    if (!sink) return;
    let settled = false;
    const tracked = balancedNs === undefined ? undefined : { item, ns: balancedNs };
    if (tracked) this.unacked.add(tracked);
    const settle = (requeue: boolean): void => {
      if (settled) return;
      settled = true;
      if (tracked) {
        this.unacked.delete(tracked);
        if (requeue) this.net.enqueue(tracked.ns, { ...item, redelivered: true }, true);
      }
    };
    const m = item.msg;
    const d: Delivery = {
      exchange: m.exchange, routingKey: m.routingKey, properties: { ...m.properties, headers: m.properties.headers ? { ...m.properties.headers } : undefined },
      body: m.body, redelivered: item.redelivered, ack: () => settle(false), reject: (requeue) => settle(requeue),
    };
    sink[kind](d);
  }

  private check(): void { if (this.closed) throw new PlexusError('CLOSED', 'peer transport is closed'); }

  async listen(ns: string): Promise<void> {
    this.check();
    if (this.listening.has(ns)) return;
    this.listening.add(ns);
    let set = this.net.multicast.get(ns);
    if (!set) { set = new Set(); this.net.multicast.set(ns, set); }
    set.add(this);
    this.net.queue(ns).consumers.push(this);
    this.net.pump(ns);
  }

  async unlisten(ns: string): Promise<void> {
    if (!this.listening.delete(ns)) return;
    this.net.multicast.get(ns)?.delete(this);
    const q = this.net.balanced.get(ns);
    if (q) { const i = q.consumers.indexOf(this); if (i >= 0) q.consumers.splice(i, 1); }
  }

  async bindNotifications(ns: string): Promise<void> {
    this.check();
    this.ntfNamespaces.add(ns);
    this.net.ntfUnicast.set(`${ns}.${this.full}`, this);
    let set = this.net.ntfMulticast.get(ns);
    if (!set) { set = new Set(); this.net.ntfMulticast.set(ns, set); }
    set.add(this);
  }

  async unbindNotifications(ns: string): Promise<void> {
    this.ntfNamespaces.delete(ns);
    this.net.ntfUnicast.delete(`${ns}.${this.full}`);
    this.net.ntfMulticast.get(ns)?.delete(this);
  }

  async publish(msg: WireMessage): Promise<void> {
    this.check();
    if (msg.exchange === 'cmd.bal') this.net.queue(msg.routingKey);
    this.net.route(msg);
  }

  async stopRequests(): Promise<void> {
    for (const ns of [...this.listening]) await this.unlisten(ns);
    this.serving = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.stopRequests();
    for (const ns of [...this.ntfNamespaces]) await this.unbindNotifications(ns);
    this.closed = true;
    this.net.peers.delete(this.full);
    this.net.shortIds.delete(this.peerId.rand);
    // a closed channel returns its unacked balanced requests to the queue
    for (const u of [...this.unacked]) { this.unacked.delete(u); this.net.enqueue(u.ns, { ...u.item, redelivered: true }, true); }
  }

  /** Queue names this peer would hold on AMQP (for tests and diagnostics). */
  get queueNames(): string[] { const s = shortPeerId(this.peerId); return [s, `${s}.req`, `${s}.rsp`, `${s}.ntf`]; }
}
