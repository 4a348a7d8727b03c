/**
 * A small client of the graph relay's public wire (/gun, gun's JSON messages) for the dashboard:
 * get a node and stay subscribed, list souls by prefix (lexical soul query), put or delete one field.
 * Browser code: no node:* imports.
 */
import { randomId, readAccess, wsUrl } from './api.js';

/** A node as the dashboard knows it: field values and their HAM states. */
export interface GunNode { soul: string; values: Record<string, unknown>; states: Record<string, number>; found: boolean }

/** `open` = connected; `token` = the server needs a token for reads and none (or a wrong one) is set. */
export type LinkStatus = 'connecting' | 'open' | 'closed' | 'token';

type Listener = (soul: string) => void;

/** A relation `{ '#': soul }`, or undefined. */
export function linkOf(v: unknown): string | undefined {
  return typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['#'] === 'string' && Object.keys(v).length === 1 ? (v as Record<string, string>)['#'] : undefined;
}

export class GunLink {
  private ws: WebSocket | undefined;
  private readonly waiting = new Map<string, (msg: Record<string, unknown>) => void>();
  private readonly subscribed = new Set<string>();
  private readonly listeners = new Set<Listener>();
  private readonly statusListeners = new Set<(s: LinkStatus) => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  readonly nodes = new Map<string, GunNode>();
  status: LinkStatus = 'connecting';
  /** Round trip of the last get (ms), for the health charts. */
  lastRoundTripMs: number | undefined;

  constructor(private readonly path = '/gun') { this.dial(); }

  private setStatus(s: LinkStatus) { this.status = s; for (const l of this.statusListeners) l(s); }

  private dial() {
    if (this.closed) return;
    const ws = new WebSocket(wsUrl(this.path));
    let opened = false;
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.setStatus('open');
      for (const soul of this.subscribed) this.send({ '#': randomId(), get: { '#': soul } });
    };
    ws.onmessage = (ev) => this.receive(String(ev.data));
    ws.onclose = () => {
      if (this.closed) return;
      // Refused before it opened: if reads need a token we do not have, say so instead of redialing forever.
      const retry = () => { this.setStatus('closed'); this.timer = setTimeout(() => this.dial(), 1000); };
      if (opened) return retry();
      void readAccess(true).then((ok) => (ok ? retry() : this.setStatus('token')), retry);
    };
  }

  private send(msg: unknown) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private receive(text: string) {
    let data: unknown;
    try { data = JSON.parse(text); } catch { return; }
    for (const msg of Array.isArray(data) ? data : [data]) {
      if (typeof msg !== 'object' || msg === null) continue;
      const m = msg as Record<string, unknown>;
      if (m.dam === '?' && typeof m['#'] === 'string' && m['@'] === undefined) this.send({ '#': randomId(), '@': m['#'], dam: '?', pid: randomId() });
      if (m.put && typeof m.put === 'object') this.merge(m.put as Record<string, unknown>);
      if (typeof m['@'] === 'string') this.waiting.get(m['@'])?.(m);
    }
  }

  /** HAM-lite for display: a field takes the value with the greater state. */
  private merge(put: Record<string, unknown>) {
    for (const [soul, raw] of Object.entries(put)) {
      if (typeof raw !== 'object' || raw === null) continue;
      const node = raw as Record<string, unknown>;
      const meta = node._ as { '>'?: Record<string, number> } | undefined;
      const n = this.nodes.get(soul) ?? { soul, values: {}, states: {}, found: true };
      n.found = true;
      for (const [k, v] of Object.entries(node)) {
        if (k === '_') continue;
        const st = meta?.['>']?.[k] ?? 0;
        if (n.states[k] === undefined || st >= n.states[k]!) { n.values[k] = v; n.states[k] = st; }
      }
      this.nodes.set(soul, n);
      for (const l of this.listeners) l(soul);
    }
  }

  /** Send a message; resolve with every reply that arrives until `settleMs` passes without one. */
  private request(msg: Record<string, unknown>, opts: { timeoutMs?: number; settleMs?: number } = {}): Promise<Record<string, unknown>[]> {
    const id = randomId();
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const replies: Record<string, unknown>[] = [];
      let settle: ReturnType<typeof setTimeout> | undefined;
      const done = () => { clearTimeout(t); this.waiting.delete(id); resolve(replies); };
      const t = setTimeout(() => { this.waiting.delete(id); clearTimeout(settle); if (replies.length) resolve(replies); else reject(new Error(this.status === 'token' ? 'reads need a token: enter one above' : 'no answer from /gun (timeout)')); }, opts.timeoutMs ?? 5000);
      this.waiting.set(id, (m) => {
        if (!replies.length) this.lastRoundTripMs = performance.now() - t0;
        replies.push(m);
        clearTimeout(settle);
        if (!opts.settleMs || m.err) return done();
        settle = setTimeout(done, opts.settleMs);
      });
      if (this.ws?.readyState !== WebSocket.OPEN) { clearTimeout(t); this.waiting.delete(id); reject(new Error(this.status === 'token' ? 'reads need a token: enter one above' : 'not connected to /gun')); return; }
      this.send({ ...msg, '#': id });
    });
  }

  /** Wait until the socket is open (or fail after timeoutMs). */
  async ready(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.ws?.readyState !== WebSocket.OPEN) {
      if (this.status === 'token') throw new Error('reads need a token: enter one above');
      if (Date.now() > end) throw new Error('not connected to /gun');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Read a node and stay subscribed to it. */
  async open(soul: string): Promise<GunNode> {
    await this.ready();
    this.subscribed.add(soul);
    const [m] = await this.request({ get: { '#': soul } }, { settleMs: 40 });
    if (m?.err) throw new Error(String(m.err));
    return this.nodes.get(soul) ?? { soul, values: {}, states: {}, found: false };
  }

  /** Souls starting with `prefix` (a lexical soul query), sorted; at most `limit`. */
  async souls(prefix: string, limit = 200): Promise<string[]> {
    await this.ready();
    const replies = await this.request({ get: { '#': { '*': prefix } } }, { settleMs: 120 });
    const err = replies.find((m) => m.err);
    if (err) throw new Error(String(err.err));
    const out = new Set<string>();
    for (const m of replies) for (const s of Object.keys((m.put ?? {}) as object)) out.add(s);
    return [...out].sort().slice(0, limit);
  }

  /** Round trip of a tiny get (a soul nobody writes), in ms. */
  async ping(): Promise<number> {
    const t0 = performance.now();
    await this.request({ get: { '#': 'plexus/dashboard/ping', '.': 'x' } }, { timeoutMs: 3000 });
    return performance.now() - t0;
  }

  /** Write one field (state = now; null deletes it); resolves on the relay's ack. */
  async put(soul: string, field: string, value: unknown): Promise<void> {
    const state = Date.now();
    const [m] = await this.request({ put: { [soul]: { _: { '#': soul, '>': { [field]: state } }, [field]: value } } });
    if (m?.err) throw new Error(String(m.err));
    this.merge({ [soul]: { _: { '#': soul, '>': { [field]: state } }, [field]: value } });
  }

  onChange(l: Listener): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
  /** Listen to status changes; the listener is called at once with the current status (no race with the socket). */
  onStatus(l: (s: LinkStatus) => void): () => void { this.statusListeners.add(l); l(this.status); return () => this.statusListeners.delete(l); }

  close() { this.closed = true; clearTimeout(this.timer); this.ws?.close(); }
}
