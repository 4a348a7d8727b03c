/**
 * A small client of the graph relay's public wire (/gun, gun's JSON messages) for the dashboard:
 * get a node, stay subscribed, put one field. Browser code: no node:* imports.
 */
import { randomId, wsUrl } from './api.js';

/** A node as the dashboard knows it: field values and their HAM states. */
export interface GunNode { soul: string; values: Record<string, unknown>; states: Record<string, number>; found: boolean }

type Listener = (soul: string) => void;

export class GunLink {
  private ws: WebSocket | undefined;
  private readonly waiting = new Map<string, (msg: Record<string, unknown>) => void>();
  private readonly subscribed = new Set<string>();
  private readonly listeners = new Set<Listener>();
  private readonly statusListeners = new Set<(s: string) => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  readonly nodes = new Map<string, GunNode>();
  status = 'connecting';

  constructor(private readonly path = '/gun') { this.dial(); }

  private setStatus(s: string) { this.status = s; for (const l of this.statusListeners) l(s); }

  private dial() {
    if (this.closed) return;
    const ws = new WebSocket(wsUrl(this.path));
    this.ws = ws;
    ws.onopen = () => {
      this.setStatus('open');
      for (const soul of this.subscribed) this.send({ '#': randomId(), get: { '#': soul } });
    };
    ws.onmessage = (ev) => this.receive(String(ev.data));
    ws.onclose = () => {
      this.setStatus('closed');
      if (!this.closed) this.timer = setTimeout(() => this.dial(), 1000);
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
      if (m.dam === '?' && typeof m['#'] === 'string') this.send({ '#': randomId(), '@': m['#'], dam: '?', pid: randomId() });
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

  private request(msg: Record<string, unknown>, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const id = randomId();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error('no answer from /gun (timeout)')); }, timeoutMs);
      this.waiting.set(id, (m) => { clearTimeout(t); this.waiting.delete(id); resolve(m); });
      this.send({ ...msg, '#': id });
    });
  }

  /** Read a node and stay subscribed to it. */
  async open(soul: string): Promise<GunNode> {
    this.subscribed.add(soul);
    const m = await this.request({ get: { '#': soul } });
    if (m.err) throw new Error(String(m.err));
    // Chunked replies may follow; they merge as they come.
    return this.nodes.get(soul) ?? { soul, values: {}, states: {}, found: false };
  }

  /** Write one field (state = now); resolves on the relay's ack. */
  async put(soul: string, field: string, value: unknown): Promise<void> {
    const state = Date.now();
    const m = await this.request({ put: { [soul]: { _: { '#': soul, '>': { [field]: state } }, [field]: value } } });
    if (m.err) throw new Error(String(m.err));
    this.merge({ [soul]: { _: { '#': soul, '>': { [field]: state } }, [field]: value } });
  }

  onChange(l: Listener): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
  onStatus(l: (s: string) => void): () => void { this.statusListeners.add(l); return () => this.statusListeners.delete(l); }

  close() { this.closed = true; clearTimeout(this.timer); this.ws?.close(); }
}
