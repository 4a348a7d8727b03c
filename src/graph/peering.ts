import WebSocket from 'ws';
import { GRAPH_MAX_FRAME_BYTES, GRAPH_PEER_MAX_DELAY_MS, GRAPH_PEER_MIN_DELAY_MS } from '../limits.js';
import type { GraphRelay, RelayPeer } from './relay.js';

/** Options of relay peering. */
export interface PeeringOptions {
  log?(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
  /** First and largest redial delay (ms). Defaults GRAPH_PEER_MIN_DELAY_MS / GRAPH_PEER_MAX_DELAY_MS. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /**
   * The send side of each link, e.g. charged to the server's memory budget (plexus serve: a link whose
   * peer stops reading is closed with 1013 once its share is full, and redialed). Default: `ws.send`.
   */
  queue?: (ws: WebSocket) => LinkQueue;
}

/** What a link sends through (`SendQueue` of the server fits). */
export interface LinkQueue {
  send(text: string): unknown;
  /** The link's socket closed: give back what it held. */
  closed(): void;
}

/** A URL as it may be logged: password and `token` query parameter hidden. */
export function peerUrlForLog(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('token')) u.searchParams.set('token', '***');
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** Check a peer URL: ws(s):// or http(s):// (gun's convention; dialed as ws(s)://). Returns the URL to dial. */
export function parsePeerUrl(url: string): string {
  let u: URL;
  try { u = new URL(url); } catch { throw new TypeError(`invalid peer URL ${JSON.stringify(peerUrlForLog(url))}`); }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`peer URL must start with ws://, wss://, http:// or https://: ${peerUrlForLog(url)}`);
  return u.toString();
}

interface Link {
  url: string;
  ws?: WebSocket;
  peer?: RelayPeer;
  delay: number;
  timer?: ReturnType<typeof setTimeout>;
  up: boolean;
}

/**
 * Relay peering: dial other relays (plexus or gun) and sync with them both ways, live. Each link is a
 * `mesh` connection of the relay: it gets every accepted change and is asked on clients' gets; HAM makes a
 * change stop where it changes nothing, so a triangle of relays does not loop, and message ids are deduped.
 * Links redial with doubling, jittered backoff; a link to this relay itself is dropped for good.
 */
export class RelayPeering {
  readonly #relay: GraphRelay;
  readonly #links: Link[];
  readonly #log: NonNullable<PeeringOptions['log']>;
  readonly #min: number;
  readonly #max: number;
  readonly #queue: NonNullable<PeeringOptions['queue']>;
  #closed = false;

  constructor(relay: GraphRelay, urls: readonly string[], opts: PeeringOptions = {}) {
    this.#relay = relay;
    this.#log = opts.log ?? (() => {});
    this.#min = opts.minDelayMs ?? GRAPH_PEER_MIN_DELAY_MS;
    this.#max = opts.maxDelayMs ?? GRAPH_PEER_MAX_DELAY_MS;
    this.#queue = opts.queue ?? ((ws) => ({ send: (t) => ws.send(t), closed() {} }));
    this.#links = [...new Set(urls.map(parsePeerUrl))].map((url) => ({ url, delay: this.#min, up: false }));
    for (const l of this.#links) this.#dial(l);
  }

  /** Each peer URL (credentials hidden) and whether its link is up. */
  get status(): { url: string; up: boolean }[] {
    return this.#links.map((l) => ({ url: peerUrlForLog(l.url), up: l.up }));
  }

  #dial(l: Link): void {
    if (this.#closed) return;
    const ws = new WebSocket(l.url, { maxPayload: GRAPH_MAX_FRAME_BYTES, perMessageDeflate: false, handshakeTimeout: 10_000 });
    l.ws = ws;
    let self = false;
    let queue: LinkQueue | undefined;
    ws.on('open', () => {
      l.up = true;
      l.delay = this.#min;
      this.#log('info', 'graph: peer link up', { peer: peerUrlForLog(l.url) });
      const q = queue = this.#queue(ws);
      l.peer = this.#relay.connect({
        send: (t) => { q.send(t); },
        close: (code, reason) => { if (reason === 'dialed itself') self = true; ws.close(code, reason); },
      }, { mesh: true });
    });
    ws.on('message', (data, isBinary) => { if (!isBinary) l.peer?.receive(data.toString()); });
    ws.on('error', (err) => this.#log('debug', 'graph: peer link error', { peer: peerUrlForLog(l.url), err: err.message }));
    ws.on('close', (_code, reason) => {
      const wasUp = l.up;
      l.up = false;
      queue?.closed();
      l.peer?.closed();
      l.peer = undefined;
      l.ws = undefined;
      if (self || reason.toString() === 'dialed itself') { this.#log('warn', 'graph: peer is this relay itself; not redialing', { peer: peerUrlForLog(l.url) }); return; }
      if (this.#closed) return;
      if (wasUp) this.#log('warn', 'graph: peer link down; redialing', { peer: peerUrlForLog(l.url) });
      const wait = Math.round(l.delay * (0.5 + Math.random() / 2));
      l.delay = Math.min(this.#max, l.delay * 2);
      l.timer = setTimeout(() => this.#dial(l), wait);
      l.timer.unref?.();
    });
  }

  /** Close every link and stop redialing. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#links.map((l) => new Promise<void>((resolve) => {
      clearTimeout(l.timer);
      const ws = l.ws;
      if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate(); else ws.close(1001, 'relay closing');
    })));
  }
}
