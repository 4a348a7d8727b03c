/**
 * A small client of the ledger hub's public wire (/evt, evt frames `subject#token\nbody`) for the
 * dashboard: subscribe to topics, receive updates, publish. Browser code: no node:* imports.
 */
import { applyAction } from '../../ledger/event.js';
import { readAccess, wsUrl } from './api.js';

export interface EvtEvent { id: number; rev: string; top: string; key: string; cmd: 'new' | 'mod' | 'del'; arg?: Record<string, unknown> }
export interface EvtUpdate { rev: string; evs?: EvtEvent[] }

export const ZERO_REV = '0001-01-01T00:00:00Z';

export class EvtLink {
  private ws: WebSocket | undefined;
  private seq = 0;
  private readonly waiting = new Map<string, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly topics = new Set<string>();
  private readonly listeners = new Set<(evs: EvtEvent[]) => void>();
  private readonly statusListeners = new Set<(s: EvtLink['status']) => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private ready: Promise<void>;
  /** Highest revision seen (to resubscribe after a reconnect without gaps). */
  rev = ZERO_REV;
  status: 'connecting' | 'open' | 'closed' | 'token' = 'connecting';

  constructor(private readonly path = '/evt') { this.ready = this.dial(); }

  private setStatus(s: EvtLink['status']) { this.status = s; for (const l of this.statusListeners) l(s); }

  private dial(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const ws = new WebSocket(wsUrl(this.path));
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.setStatus('open');
        resolve();
        if (this.topics.size) void this.request('evt.sub', { rev: this.rev, tops: [...this.topics] }).then((u) => this.deliver(u as EvtUpdate | null), () => {});
      };
      ws.onmessage = (ev) => this.receive(typeof ev.data === 'string' ? ev.data : '');
      ws.onclose = () => {
        resolve();
        for (const [, w] of this.waiting) w.reject(new Error('connection closed'));
        this.waiting.clear();
        if (this.closed) return;
        // Refused before it opened: if reads need a token we do not have, say so instead of redialing forever.
        const retry = () => { this.setStatus('closed'); this.timer = setTimeout(() => { this.ready = this.dial(); }, 1000); };
        if (opened) return retry();
        void readAccess(true).then((ok) => (ok ? retry() : this.setStatus('token')), retry);
      };
    });
  }

  private receive(frame: string) {
    const nl = frame.indexOf('\n');
    const header = nl < 0 ? frame : frame.slice(0, nl);
    const body = nl < 0 ? '' : frame.slice(nl + 1);
    const hash = header.indexOf('#');
    const subject = hash < 0 ? header : header.slice(0, hash);
    const token = hash < 0 ? '' : header.slice(hash + 1);
    let json: unknown = null;
    try { json = body.trim() ? JSON.parse(body) : null; } catch { return; }
    if (token && this.waiting.has(token)) {
      const w = this.waiting.get(token)!;
      this.waiting.delete(token);
      const r = json as { res?: unknown; err?: string } | null;
      if (r && typeof r.err === 'string') w.reject(new Error(r.err)); else w.resolve(r?.res ?? null);
      return;
    }
    if (subject === 'evt.update') this.deliver(json as EvtUpdate | null);
  }

  private deliver(u: EvtUpdate | null) {
    if (!u) return;
    if (u.rev && Date.parse(u.rev) > Date.parse(this.rev)) this.rev = u.rev;
    // `*` (the hub's "every topic") shows everything
    const all = this.topics.has('*');
    const evs = (u.evs ?? []).filter((e) => all || this.topics.has(e.top));
    if (evs.length) for (const l of this.listeners) l(evs);
  }

  private async request(subject: string, body: unknown, timeoutMs = 10_000): Promise<unknown> {
    await this.ready;
    const token = String(++this.seq);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(token); reject(new Error(`${subject}: no answer (timeout)`)); }, timeoutMs);
      this.waiting.set(token, { resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      if (this.ws?.readyState !== WebSocket.OPEN) { this.waiting.delete(token); clearTimeout(t); reject(new Error(this.status === 'token' ? 'reads need a token: enter one above' : 'not connected to /evt')); return; }
      this.ws.send(`${subject}#${token}\n${JSON.stringify(body)}`);
    });
  }

  /** Subscribe to more topics from the start of the ledger; their events arrive through onEvents. */
  async subscribe(tops: string[]): Promise<void> {
    const fresh = tops.filter((t) => !this.topics.has(t));
    if (!fresh.length) return;
    for (const t of fresh) this.topics.add(t);
    const u = await this.request('evt.sub', { rev: ZERO_REV, tops: fresh });
    this.deliver(u as EvtUpdate | null);
  }

  /** Round trip of a publish the dashboard made last (ms), for the health charts. */
  lastPublishMs: number | undefined;

  /** Publish one action; resolves with the published events. */
  async publish(top: string, key: string, cmd: 'new' | 'mod' | 'del', arg?: Record<string, unknown>): Promise<EvtUpdate> {
    const t0 = performance.now();
    const u = await this.request('evt.pub', { acts: [{ top, key, cmd, ...(arg ? { arg } : {}) }] }) as EvtUpdate;
    this.lastPublishMs = performance.now() - t0;
    // The hub answers the publisher with its events instead of pushing them to it.
    this.deliver(u);
    return u;
  }

  onEvents(l: (evs: EvtEvent[]) => void): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
  /** Listen to status changes; the listener is called at once with the current status (no race with the socket). */
  onStatus(l: (s: EvtLink['status']) => void): () => void { this.statusListeners.add(l); l(this.status); return () => this.statusListeners.delete(l); }

  close() { this.closed = true; clearTimeout(this.timer); this.ws?.close(); }
}

/**
 * The state of one record after its events in order, with the ledger's own rules (`applyAction`:
 * new sets, mod applies the delta where `k-` deletes field k, del removes). null = absent.
 */
export function stateOf(events: EvtEvent[]): Record<string, unknown> | null {
  let state: Record<string, unknown> | undefined;
  for (const e of events) {
    try { state = applyAction(state, e); } catch { /* the ledger accepted it; show what applies */ }
  }
  return state ?? null;
}
