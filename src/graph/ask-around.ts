import { GRAPH_ASK_AFTER_DIALER_LOST_MS, GRAPH_ASK_AFTER_START_MS, GRAPH_ASK_BACK_MS, GRAPH_ASK_INTERVAL_MS, GRAPH_ASK_MAX_SOULS_PER_PEER, GRAPH_GET_FANOUT } from '../limits.js';
import { messageId } from './wire.js';

/** What the relay's get forwarding needs to know of a connection. */
export interface AskablePeer {
  readonly readOnly: boolean;
  readonly open: boolean;
  readonly mesh: boolean;
  /** The connection took part in gun's DAM handshake (`dam: "?"`): a gun peer, which answers gets. */
  readonly greeted: boolean;
  readonly since: number;
  /** Souls this connection was asked back for. */
  readonly asked: Set<string>;
  /** Souls this connection wrote. */
  readonly wrote: Set<string>;
}

export interface AskAroundHooks<P> {
  /** Mark a message id as ours, so an echo is dropped as a duplicate. */
  remember(id: string): void;
  /** Queue a message, already serialised, for a connection (flushed by the relay with the rest of the batch). */
  send(peer: P, text: string): void;
  /** Whether a connection is subscribed to a whole soul. */
  subscribed(peer: P, soul: string): boolean;
  /** The relay peers (the set is live). */
  mesh: Iterable<P>;
  /** Every connection (the set is live). */
  peers: Iterable<P>;
  /** Whole souls some connection subscribed to (the relay's subscription keys). */
  subscribedSouls(): Iterable<string>;
  /** Souls changed last in the store (read once when the relay starts). */
  recentSouls(): readonly string[];
}

/**
 * Get forwarding: a client's get is also asked of the connections that may hold newer data than the
 * store: relay peers, connections that wrote the soul, and the requester itself while its connection is
 * fresh (a gun client that reconnects re-reads the souls it holds, and answers a get for them from
 * memory, edits made while the relay was away included). Their answers come back as puts with `@`, which
 * the relay merges by HAM, stores and forwards like any write. Only connections that took part in gun's
 * DAM handshake are asked (a bare WebSocket client that never said hello is never sent a get). A gun relay
 * that dialed this one counts as a relay peer once it shows itself (see `heard`). Fan-out and repeats are
 * bounded (GRAPH_GET_FANOUT, GRAPH_ASK_INTERVAL_MS, GRAPH_ASK_MAX_SOULS_PER_PEER, GRAPH_ASK_BACK_MS).
 */
export class AskAround<P extends AskablePeer> {
  readonly #hooks: AskAroundHooks<P>;
  /** peer → soul → when it was last asked (insertion-ordered, so the oldest is evicted first). */
  readonly #last = new WeakMap<P, Map<string, number>>();
  readonly #started = Date.now();
  /** Connections that dialed us and showed they relay for others (gun's `><`); removed by `closed`. */
  readonly #dialers = new Set<P>();
  /** soul → the open connections that wrote it (each peer's `wrote`, indexed by soul): a get looks up only its soul's writers. */
  readonly #writers = new Map<string, Set<P>>();

  constructor(hooks: AskAroundHooks<P>) {
    this.#hooks = hooks;
  }

  /** When a dialer (see `heard`) was last lost. */
  #dialerLost = -Infinity;

  /**
   * Shortly after the relay started, or after a gun relay that dialed it went away, it asks every
   * connection, not only the ones it saw write: the relay (or the gun relay) forgot what the other holds.
   */
  #afterStart(now: number): boolean {
    return now - this.#started < GRAPH_ASK_AFTER_START_MS || now - this.#dialerLost < GRAPH_ASK_AFTER_DIALER_LOST_MS;
  }

  /** A connection closed. */
  closed(peer: P): void {
    if (this.#dialers.delete(peer)) this.#dialerLost = Date.now();
    for (const soul of peer.wrote) {
      const w = this.#writers.get(soul);
      if (w?.delete(peer) && w.size === 0) this.#writers.delete(soul);
    }
  }

  /** A connection said hello: shortly after a restart (or a dialer's loss), ask it for the souls changed last and those others read (it is flushed by the caller). */
  hello(peer: P): void {
    const now = Date.now();
    if (peer.readOnly || !this.#afterStart(now)) return;
    for (const soul of [...this.#hooks.recentSouls(), ...this.#hooks.subscribedSouls()]) {
      if (peer.asked.size >= GRAPH_ASK_MAX_SOULS_PER_PEER) break;
      if (peer.asked.has(soul)) continue;
      peer.asked.add(soul);
      this.#send(peer, soul, undefined, now);
    }
  }

  /**
   * A message from `peer` listed the peers its sender relays to (gun's `><`, which gun adds once it has two
   * or more): it is a gun relay (or a client bridging relays) that dialed us. gun's AXE relays forward a
   * client's write only to the peers that asked them for that soul, so from now on it is asked on clients'
   * gets like a relay peer, and at once for the souls our connections subscribed to (after it restarted it
   * has forgotten who asked). Answers and routed writes come back as puts. The caller flushes `peer`.
   */
  heard(peer: P, via: readonly string[]): void {
    if (via.length < 2 || peer.mesh || peer.readOnly || this.#dialers.has(peer)) return;
    this.#dialers.add(peer);
    const now = Date.now();
    for (const soul of this.#hooks.subscribedSouls()) {
      if (peer.asked.size >= GRAPH_ASK_MAX_SOULS_PER_PEER) break;
      if (peer.asked.has(soul)) continue;
      peer.asked.add(soul);
      this.#send(peer, soul, undefined, now);
    }
  }

  /** Remember that `peer` wrote `soul` (bounded). */
  wrote(peer: P, soul: string): void {
    // a put acked after its connection closed is not indexed: `closed` already ran
    if (!peer.open || peer.wrote.size >= GRAPH_ASK_MAX_SOULS_PER_PEER || peer.wrote.has(soul)) return;
    peer.wrote.add(soul);
    let w = this.#writers.get(soul);
    if (!w) this.#writers.set(soul, (w = new Set()));
    w.add(peer);
  }

  /** After `from`'s get of `soul` (or one field of it) was answered from the store: ask the others; the peers asked are added to `touched`. */
  around(from: P, soul: string, field: string | undefined, touched: Set<P>): void {
    const now = Date.now();
    const targets: P[] = [];
    if (!from.mesh) {
      for (const p of this.#hooks.mesh) if (p !== from && targets.length < GRAPH_GET_FANOUT) targets.push(p);
      for (const p of this.#dialers) if (p !== from && targets.length < GRAPH_GET_FANOUT) targets.push(p);
      const writers = this.#writers.get(soul);
      if (writers) for (const p of writers) {
        if (targets.length >= GRAPH_GET_FANOUT) break;
        if (p !== from && !p.mesh && !p.readOnly && p.greeted && !targets.includes(p) && this.#hooks.subscribed(p, soul)) targets.push(p);
      }
      if (this.#afterStart(now)) for (const p of this.#hooks.peers) {
        if (targets.length >= GRAPH_GET_FANOUT) break;
        if (p !== from && !p.mesh && !p.readOnly && p.greeted && !targets.includes(p) && this.#due(p, soul, now, false)) targets.push(p);
      }
    }
    if (!from.readOnly && from.greeted && now - from.since < GRAPH_ASK_BACK_MS && from.asked.size < GRAPH_ASK_MAX_SOULS_PER_PEER && !from.asked.has(soul)) {
      from.asked.add(soul);
      targets.push(from);
    }
    for (const p of targets) this.#send(p, soul, field, now, touched);
  }

  #send(p: P, soul: string, field: string | undefined, now: number, touched?: Set<P>): void {
    if (!p.open || !this.#due(p, field === undefined ? soul : `${soul}\u0000${field}`, now)) return;
    const id = messageId();
    this.#hooks.remember(id);
    // as JSON.stringify({ '#': id, get: { '#': soul, '.': field } }) gives it (messageId is alphanumeric)
    this.#hooks.send(p, `{"#":"${id}","get":{"#":${JSON.stringify(soul)}${field === undefined ? '' : ',".":' + JSON.stringify(field)}}}`);
    touched?.add(p);
  }

  /** Whether `p` may be asked for `key` now (and, with `mark`, that it is being asked). */
  #due(p: P, key: string, now: number, mark = true): boolean {
    let m = this.#last.get(p);
    if (!m) this.#last.set(p, (m = new Map()));
    const t = m.get(key);
    if (t !== undefined && now - t < GRAPH_ASK_INTERVAL_MS) return false;
    if (!mark) return true;
    m.delete(key);
    m.set(key, now);
    if (m.size > GRAPH_ASK_MAX_SOULS_PER_PEER) m.delete(m.keys().next().value!);
    return true;
  }
}
