import { PlexusError, toPlexusError } from '../errors.js';
import { HubClient, type HubClientOptions, type WebSocketCtor, type WebSocketLike } from './client.js';
import type { Action, Status, Trans, TransInput, Update } from './event.js';
import { Hub, type HubConn } from './hub.js';
import type { PublishResult, StoreLedger } from './ledger.js';
import { now, ZERO_TIME } from './time.js';

export interface SatelliteOptions {
  /** URL of the central hub, e.g. ws://host:8765/evt. */
  hub: string;
  /** The local ledger (SqliteLedger in Node, MemoryLedger in a browser). */
  ledger: StoreLedger;
  /** Topics to replicate. */
  tops: readonly string[];
  /** May these actions be published locally while the hub is unreachable? Default: always. */
  authority?: (acts: readonly Action[]) => boolean;
  /** Told about local transactions the hub rejected (conflict, authority) or that no longer apply; they were rolled back locally. */
  onReject?: (trans: Trans, error: PlexusError) => void;
  /** Told when the link to the hub goes up or down. */
  onLink?: (online: boolean) => void;
  /** WebSocket constructor (Node 20: `WebSocket` from 'ws'); token for the hub. */
  WebSocket?: WebSocketCtor;
  token?: string;
  /** Push batching window for local subscribers (ms). */
  batchMs?: number;
  mig?: string;
}

/** A result of a satellite publish: `local` when it was published offline (pending until the hub accepts it). */
export interface SatellitePublishResult extends PublishResult { local: boolean; tid: string }

function newTid(): string {
  const b = new Uint8Array(12);
  globalThis.crypto.getRandomValues(b);
  return 'sat-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** An in-process WebSocket-like link from a HubClient to a Hub. */
class LocalSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private conn?: HubConn;
  constructor(hub: Hub) {
    queueMicrotask(() => {
      this.conn = hub.connect({ send: (t) => queueMicrotask(() => this.onmessage?.({ data: t })), close: () => this.close() });
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  send(data: string): void { this.conn?.receive(data); }
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.conn?.closed();
    queueMicrotask(() => this.onclose?.({}));
  }
}

/**
 * A satellite: replicates `tops` from the hub into a local ledger, serves local clients (`client()`),
 * publishes locally while the hub is unreachable, and on reconnect sends its pending transactions
 * (idempotent by tid); accepted ones become hub events, rejected ones are rolled back and reported.
 */
export class Satellite {
  readonly ledger: StoreLedger;
  private readonly link: HubClient;
  private readonly local: Hub;
  private readonly authority: (acts: readonly Action[]) => boolean;
  private queue: Promise<unknown> = Promise.resolve();
  private on = ZERO_TIME;
  private off = now();
  private syncing?: Promise<void>;
  private closed = false;

  constructor(private readonly opts: SatelliteOptions) {
    this.ledger = opts.ledger;
    this.authority = opts.authority ?? (() => true);
    this.local = new Hub(opts.ledger, {
      ...(opts.batchMs === undefined ? {} : { batchMs: opts.batchMs }),
      publish: async (t) => this.publish(t),
      status: async () => this.status(),
    });
    const lo: HubClientOptions = { onLink: (up) => this.linkChanged(up) };
    if (opts.WebSocket) lo.WebSocket = opts.WebSocket;
    if (opts.token) lo.token = opts.token;
    this.link = new HubClient(opts.hub, lo);
    this.link.onUpdate = (u) => { void this.serial(() => this.apply(u, [])); };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** True while the link to the hub is up and the pending transactions were sent. */
  get online(): boolean { return this.link.online && this.off === ZERO_TIME; }

  private linkChanged(up: boolean): void {
    if (up) {
      this.syncing = this.serial(() => this.signon()).catch(() => { /* retried on the next reconnect */ });
    } else {
      this.off = now();
      this.opts.onLink?.(false);
    }
  }

  private async signon(): Promise<void> {
    const sent = new Set<string>();
    for (let round = 0; round < 5; round++) {
      const locals = await this.ledger.locals();
      if (round > 0 && locals.every((t) => sent.has(t.tid!))) break;
      for (const t of locals) sent.add(t.tid!);
      await this.sendPending(locals);
    }
    this.on = now();
    this.off = ZERO_TIME;
    this.opts.onLink?.(true);
  }

  private async sendPending(locals: Trans[]): Promise<void> {
    const rev = await this.ledger.rev();
    const reply = await this.link.sat(rev, locals, this.opts.tops);
    const settled = reply.sat.map((r) => r.tid);
    const byTid = new Map(locals.map((t) => [t.tid, t]));
    for (const r of reply.sat) {
      if (r.err === undefined) continue;
      const t = byTid.get(r.tid);
      if (t) this.report(t, new PlexusError((r.code as never) ?? 'CONFLICT', r.err));
    }
    await this.apply(reply.update, settled);
  }

  private report(t: Trans, e: PlexusError): void {
    try { this.opts.onReject?.(t, e); } catch { /* the application's problem */ }
  }

  /** Replicate an update from the hub, settle the given tids, tell local subscribers. */
  private async apply(u: Update, settled: readonly string[]): Promise<void> {
    const res = await this.ledger.replicate(u.rev, u.evs ?? [], settled);
    for (const r of res.rejected) this.report(r.trans, r.error);
    void this.local.refresh(); // not awaited: a local publish may be holding the local hub's queue
  }

  /** Publish: through the hub when online; locally (pending) when offline and `authority` allows. */
  async publish(t: TransInput): Promise<SatellitePublishResult> {
    if (this.closed) throw new PlexusError('CLOSED', 'satellite closed');
    const tid = t.tid ?? newTid();
    const trans: TransInput = { ...t, tid };
    if (this.online) {
      try {
        const r = await this.link.publish(trans);
        await this.serial(() => this.apply({ rev: r.rev, evs: r.evs }, []));
        return { ...r, local: false, tid };
      } catch (err) {
        const e = toPlexusError(err);
        if (e.code !== 'UNAVAILABLE' && e.code !== 'TIMEOUT') throw e;
        // the link broke mid-request: keep it locally (same tid, so the hub applies it at most once)
      }
    }
    if (!this.authority(t.acts)) throw new PlexusError('UNAVAILABLE', 'not connected');
    return this.serial(async () => {
      const r = await this.ledger.publishLocal(trans);
      this.local.pushLocal(r.evs, r.rev);
      // the link came back while this waited: send it now rather than at the next reconnect
      if (this.online) void this.serial(async () => { if (this.online) await this.sendPending(await this.ledger.locals()); }).catch(() => undefined);
      return { rev: r.rev, evs: r.evs, local: true, tid };
    });
  }

  /** Status: replicated hub revision, connected-since / disconnected-since. */
  async status(): Promise<Status> {
    return { rev: await this.ledger.rev(), mig: this.opts.mig ?? '', on: this.on, off: this.off };
  }

  /** A hub client for local subscribers (same API as connectHub), linked in-process. */
  client(): Promise<HubClient> {
    const hub = this.local;
    const c = new HubClient('local:', { WebSocket: class extends LocalSocket { constructor() { super(hub); } } as unknown as WebSocketCtor, reconnect: false });
    return c.ready().then(() => c);
  }

  /** Resolves when the satellite is online with nothing pending (tests, shutdown). */
  async settled(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.online) {
        await this.queue;
        if (this.online && (await this.ledger.locals()).length === 0) return;
      }
      if (Date.now() > deadline) throw new PlexusError('TIMEOUT', 'satellite did not settle');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.link.close();
    await this.syncing;
    await this.queue;
    await this.local.close();
    await this.ledger.close();
  }
}

/** Start a satellite of the hub at `opts.hub`. */
export function satellite(opts: SatelliteOptions): Satellite {
  return new Satellite(opts);
}
