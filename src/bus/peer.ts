/**
 * A peer: serves commands in namespaces, owns sessions, routes responses and notifications. All of
 * rinq's semantics live here; the transport only moves rinq's AMQP messages (memory or RabbitMQ).
 */
import { PlexusError, isPlexusError, toPlexusError } from '../errors.js';
import { BUS_DEFAULT_TIMEOUT_MS, BUS_HANDLER_TIMEOUT_MS } from '../limits.js';
import { validateNamespace } from './attributes.js';
import { constraintFromWire, constraintToWire, matchConstraint, type Constraint } from './constraint.js';
import { Failure, isFailure, serverError } from './failure.js';
import { formatPeerId, parseSessionId, samePeer, type MessageId, type PeerId } from './ids.js';
import { decodePayload, encodePayload } from './payload.js';
import { RemoteSessions, serveSessionRequest } from './remote.js';
import { ClosedRevision, LocalRevision, type Revision } from './revision.js';
import { Session, type AsyncResponse, type CallOptions, type Notification, type SendOptions } from './session.js';
import type { Delivery, Transport, TransportSink, WireMessage } from './transport/transport.js';
import { Deadlines, type Deadline } from './deadlines.js';
import { contextOf, runInContext, type BusContext } from './context.js';
import {
  SESSION_NAMESPACE, buildMulticastNotification, buildRequest, buildResponse, buildUnicastNotification,
  parseNotification, parseRequest, parseResponse, type IncomingRequest, type IncomingResponse, type OutgoingRequest, type ReplyMode, type RequestMode,
} from './wire.js';

/**
 * A command request as a handler sees it. It is also the handler's context (`BusContext`): what the
 * handler sends inherits its trace id and deadline (by itself in Node, else with `{ context: req }`).
 */
export interface Request extends BusContext {
  /** Message id `<caller ref>#<seq>`. */
  readonly id: string;
  /**
   * The trace id: the message id of the root request this one was made for (its CorrelationId), or
   * this request's own id when it is a root.
   */
  readonly traceId: string;
  /** The request's deadline (its `dl` header, ms since the epoch); undefined for an execute without one. */
  readonly deadline: number | undefined;
  /** The calling session at the revision it called from (local or remote). */
  readonly source: Revision;
  readonly namespace: string;
  readonly command: string;
  readonly payload: unknown;
}

/** How a handler answers. The first of done / fail / error / close answers; later ones are ignored (logged). */
export interface Response {
  /** True while the caller still waits for an answer (not closed, a reply wanted, deadline not passed). */
  readonly isRequired: boolean;
  readonly isClosed: boolean;
  /** Answer with a success payload. */
  done(payload?: unknown): void;
  /** Answer with an application failure; returns it (so handlers can `throw res.fail(...)`). */
  fail(type: string, message?: string, payload?: unknown): Failure;
  /** Answer with an error: a Failure is sent as a failure, anything else as a server error (its message). */
  error(err: unknown): void;
  /** Close without payload (success, nil); false when already closed. */
  close(): boolean;
}

export type CommandHandler = (req: Request, res: Response) => void | Promise<void>;

/** Where the bus writes its log lines (default: warnings and errors to stderr). */
export type BusLogger = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface PeerOptions {
  /** Call timeout when a call gives none (ms). */
  defaultTimeoutMs?: number;
  logger?: BusLogger;
}

const defaultLogger: BusLogger = (level, message) => {
  if (level === 'warn' || level === 'error') process.stderr.write(`plexus bus ${level}: ${message}\n`);
};

interface PendingCall { settle(r: IncomingResponse): void }

/**
 * One outgoing call waiting for its response, timeout, abort or a publish failure (whichever comes
 * first ends it). A class, not closures: a call allocates this object and its promise, nothing else
 * (it is also the deadline's `this` and the abort listener, via `handleEvent`).
 */
class OutgoingCall implements PendingCall {
  timer: Deadline | undefined;
  private ended = false;
  constructor(
    private readonly peer: Peer, readonly id: string, private readonly ns: string, private readonly cmd: string,
    private readonly timeoutMs: number, private readonly signal: AbortSignal | undefined,
    private readonly resolve: (v: unknown) => void, private readonly reject: (e: unknown) => void,
  ) {}

  /** Claim the end of the call; false when it ended already. */
  private end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    if (this.timer !== undefined) { this.timer.cancel(); this.timer = undefined; }
    this.signal?.removeEventListener('abort', this);
    this.peer.callEnded(this.id);
    return true;
  }

  settle(r: IncomingResponse): void {
    if (!this.end()) return;
    if ((r as { closed?: boolean }).closed) this.reject(new PlexusError('CLOSED', `peer ${this.peer.id} stopped before ${this.ns}::${this.cmd} answered`));
    else { try { this.resolve(responseValue(r)); } catch (err) { this.reject(err); } }
    this.peer.checkIdle();
  }

  /** The call's deadline passed. */
  expire(): void {
    if (!this.end()) return;
    this.reject(new PlexusError('TIMEOUT', `call to ${this.ns}::${this.cmd} timed out after ${this.timeoutMs} ms`, { detail: { id: this.id } }));
    this.peer.checkIdle();
  }

  /** The call's signal fired. */
  handleEvent(): void {
    if (!this.end()) return;
    this.reject(new PlexusError('ABORTED', `call to ${this.ns}::${this.cmd} aborted`, { cause: this.signal?.reason }));
    this.peer.checkIdle();
  }

  /** Publishing the request failed. */
  failed(err: unknown): void {
    if (!this.end()) return;
    this.reject(isPlexusError(err) ? err : new PlexusError('UNAVAILABLE', `publishing ${this.ns}::${this.cmd}: ${(err as Error).message}`, { cause: err }));
    this.peer.checkIdle();
  }
}

/** Call timeouts and handler deadlines of every peer in this process share one timer. */
const deadlines = new Deadlines();

const utf8 = new TextDecoder();

/** A peer on a rinq network. Create with `connect()` (RabbitMQ) or `memoryNetwork().peer()`. */
export class Peer {
  /** Full peer id, `58AEE146-191C`. */
  readonly id: string;
  readonly peerId: PeerId;
  /** Resolves when the peer has stopped (see `error` for why, when it was not asked to). */
  readonly done: Promise<void>;
  /** Set when the peer stopped because of an error (e.g. the broker could not be reached again). */
  error: Error | undefined;

  private readonly log: BusLogger;
  private readonly defaultTimeoutMs: number;
  private readonly ready: Promise<void>;
  private isReady = false;
  private readonly handlers = new Map<string, CommandHandler>();
  private readonly sessions = new Map<number, Session>();
  private readonly pending = new Map<string, PendingCall>();
  private readonly ntfCounts = new Map<string, number>();
  private readonly remote: RemoteSessions;
  private sessionSeq = 0;
  private zeroSeq = 0;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private resolveDone!: () => void;

  constructor(private readonly transport: Transport, opts: PeerOptions = {}) {
    this.peerId = transport.peerId;
    this.id = formatPeerId(transport.peerId);
    this.log = opts.logger ?? defaultLogger;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? BUS_DEFAULT_TIMEOUT_MS;
    this.done = new Promise((r) => { this.resolveDone = r; });
    this.remote = new RemoteSessions((peer, cmd, payload, opts) => this.invokeSession(peer, cmd, payload, opts));
    this.handlers.set(SESSION_NAMESPACE, (req, res) => this.serveSession(req, res));
    const sink: TransportSink = {
      request: (d) => this.onRequest(d),
      response: (d) => this.onResponse(d),
      notification: (d) => this.onNotification(d),
      status: (s, err) => this.onStatus(s, err),
    };
    this.ready = transport.start(sink).then(() => transport.listen(SESSION_NAMESPACE)).then(() => { this.isReady = true; });
    this.ready.catch((err) => { void this.fail(toPlexusError(err)); });
  }

  /** Resolves once the peer's queues exist (operations wait for it themselves). */
  whenReady(): Promise<void> { return this.ready; }

  private alive(): void {
    if (this.state !== 'running') throw new PlexusError('CLOSED', `peer ${this.id} is ${this.state}`);
  }

  /** Serve commands in ns (replaces an earlier handler for ns). */
  async listen(ns: string, handler: CommandHandler): Promise<void> {
    validateNamespace(ns);
    this.alive();
    await this.ready;
    const first = !this.handlers.has(ns);
    this.handlers.set(ns, handler);
    if (first) await this.transport.listen(ns);
  }

  /** Stop serving ns. */
  async unlisten(ns: string): Promise<void> {
    validateNamespace(ns);
    if (!this.handlers.delete(ns)) return;
    await this.ready;
    await this.transport.unlisten(ns);
  }

  /** A new session owned by this peer. */
  session(): Session {
    this.alive();
    const s = new Session(this, ++this.sessionSeq);
    this.sessions.set(s.seq, s);
    return s;
  }

  /** Stop now: sessions are destroyed, pending calls fail with CLOSED, queues are released. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return this.done;
    this.state = 'stopped';
    for (const s of [...this.sessions.values()]) s.destroy();
    for (const [id, p] of [...this.pending]) { this.pending.delete(id); p.settle({ requestId: id, kind: 'e', body: new Uint8Array(0), closed: true } as IncomingResponse & { closed: true }); }
    try { await this.transport.close(); } catch (err) { this.log('warn', `peer ${this.id}: closing transport: ${(err as Error).message}`); }
    this.resolveDone();
    return this.done;
  }

  /** Stop taking requests, wait for running handlers and this peer's pending calls, then stop. */
  async gracefulStop(): Promise<void> {
    if (this.state !== 'running') return this.state === 'stopping' ? this.done : this.done;
    this.state = 'stopping';
    try { await this.ready; await this.transport.stopRequests(); } catch (err) { this.log('warn', `peer ${this.id}: graceful stop: ${(err as Error).message}`); }
    while (this.inflight > 0 || this.pending.size > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.state = 'running';
    return this.stop();
  }

  private async fail(err: Error): Promise<void> {
    if (this.state === 'stopped') return;
    this.error = err;
    this.log('error', `peer ${this.id} stopped: ${err.message}`);
    await this.stop();
  }

  private onStatus(s: 'down' | 'up' | 'failed', err?: Error): void {
    if (s === 'down') this.log('warn', `peer ${this.id}: broker connection lost (${err?.message ?? 'closed'}), reconnecting`);
    else if (s === 'up') this.log('info', `peer ${this.id}: reconnected`);
    else void this.fail(err ?? new PlexusError('UNAVAILABLE', 'broker connection failed'));
  }

  private idleCheck(): void {
    if (this.inflight === 0 && this.pending.size === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters; this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  // ---- outgoing ----------------------------------------------------------------------------------

  /** A call: publish the request and wait for its response (or the timeout / abort / stop). */
  private invoke(o: { mode: RequestMode; target?: string; ns: string; cmd: string; payload: unknown; messageId: string; replyMode: ReplyMode; opts: CallOptions }): Promise<unknown> {
    try {
      this.alive();
      const body = encodePayload(o.payload);
      // once the peer is ready, calls go out synchronously (no await hop per call)
      if (this.isReady) return this.invokeReady(o, body);
      return this.ready.then(() => { this.alive(); return this.invokeReady(o, body); });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private invokeReady(o: { mode: RequestMode; target?: string; ns: string; cmd: string; messageId: string; replyMode: ReplyMode; opts: CallOptions }, body: Uint8Array): Promise<unknown> {
    const explicit = o.opts.timeoutMs;
    if (explicit !== undefined && !(explicit > 0)) return Promise.reject(new PlexusError('BAD_REQUEST', 'timeoutMs must be positive'));
    const signal = o.opts.signal;
    if (signal?.aborted) return Promise.reject(new PlexusError('ABORTED', 'call aborted', { cause: signal.reason }));
    const ctx = contextOf(o.opts.context);
    const now = Date.now();
    // the deadline: explicit, else the handled request's (as rinq-go's ctx), else the default timeout
    const deadline = explicit !== undefined ? now + explicit : ctx?.deadline ?? now + this.defaultTimeoutMs;
    const timeoutMs = deadline - now;
    if (timeoutMs <= 0) return Promise.reject(new PlexusError('TIMEOUT', `call to ${o.ns}::${o.cmd}: the deadline of the request being handled has passed`, { detail: { id: o.messageId } }));
    let call!: OutgoingCall;
    const promise = new Promise<unknown>((resolve, reject) => { call = new OutgoingCall(this, o.messageId, o.ns, o.cmd, timeoutMs, signal, resolve, reject); });
    this.pending.set(o.messageId, call);
    call.timer = deadlines.after(timeoutMs, call.expire, call);
    signal?.addEventListener('abort', call, { once: true });
    const req: OutgoingRequest = { mode: o.mode, namespace: o.ns, command: o.cmd, messageId: o.messageId, replyMode: o.replyMode, deadline, body };
    if (o.target) req.target = o.target;
    const traceId = o.opts.traceId ?? ctx?.traceId;
    if (traceId) req.traceId = traceId;
    let r: void | Promise<void>;
    try { r = this.transport.publish(buildRequest(req, now)); } catch (err) { call.failed(err); return promise; }
    if (r) r.catch((err: unknown) => call.failed(err));
    return promise;
  }

  /** @internal an outgoing call ended (answered, timed out, aborted, failed). */
  callEnded(id: string): void {
    this.pending.delete(id);
  }

  /** @internal */
  checkIdle(): void { this.idleCheck(); }

  /** Publish, reporting a failure (thrown or rejected) to `onError`. */
  private send(msg: WireMessage, onError: (err: unknown) => void): void {
    let r: void | Promise<void>;
    try { r = this.transport.publish(msg); } catch (err) { onError(err); return; }
    if (r) r.catch(onError);
  }

  /** @internal */
  sessionCall(s: Session, ns: string, cmd: string, payload: unknown, opts: CallOptions): Promise<unknown> {
    return this.invoke({ mode: 'balanced', ns, cmd, payload, messageId: s.nextMessageId(), replyMode: 'c', opts });
  }

  /** @internal */
  async sessionCallAsync(s: Session, ns: string, cmd: string, payload: unknown, opts: CallOptions): Promise<string> {
    this.alive();
    const body = encodePayload(payload);
    await this.ready;
    const messageId = s.nextMessageId();
    const ctx = contextOf(opts.context);
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : ctx?.deadline ?? Date.now() + this.defaultTimeoutMs;
    await this.transport.publish(buildRequest({ mode: 'balanced', namespace: ns, command: cmd, messageId, replyMode: 'u', deadline, body, traceId: opts.traceId ?? ctx?.traceId }));
    return messageId;
  }

  /** @internal */
  async sessionExecute(s: Session, ns: string, cmd: string, payload: unknown, multicast: boolean, opts: SendOptions): Promise<void> {
    this.alive();
    const body = encodePayload(payload);
    await this.ready;
    // inside a handler an execute carries the handled request's deadline too (rinq-go packs the ctx's)
    const ctx = contextOf(opts.context);
    const req: OutgoingRequest = { mode: multicast ? 'multicast' : 'balanced', namespace: ns, command: cmd, messageId: s.nextMessageId(), replyMode: '', body, traceId: opts.traceId ?? ctx?.traceId };
    if (ctx?.deadline !== undefined) {
      if (ctx.deadline <= Date.now()) throw new PlexusError('TIMEOUT', `execute ${ns}::${cmd}: the deadline of the request being handled has passed`);
      req.deadline = ctx.deadline;
    }
    await this.transport.publish(buildRequest(req));
  }

  /** @internal */
  async sessionNotify(s: Session, ns: string, type: string, target: string, payload: unknown, opts: SendOptions): Promise<void> {
    this.alive();
    const sid = parseSessionId(target);
    const body = encodePayload(payload);
    await this.ready;
    const traceId = opts.traceId ?? contextOf(opts.context)?.traceId;
    await this.transport.publish(buildUnicastNotification({ messageId: s.nextMessageId(), namespace: ns, type, target, targetPeer: formatPeerId(sid.peer), body, traceId }));
  }

  /** @internal */
  async sessionNotifyMany(s: Session, ns: string, type: string, c: Constraint, payload: unknown, opts: SendOptions): Promise<void> {
    this.alive();
    const body = encodePayload(payload);
    const constraint = encodePayload(constraintToWire(c));
    await this.ready;
    const traceId = opts.traceId ?? contextOf(opts.context)?.traceId;
    await this.transport.publish(buildMulticastNotification({ messageId: s.nextMessageId(), namespace: ns, type, constraint, body, traceId }));
  }

  /** @internal */
  async sessionListen(_s: Session, ns: string, first: boolean): Promise<void> {
    if (!first) return;
    await this.ready;
    const n = (this.ntfCounts.get(ns) ?? 0) + 1;
    this.ntfCounts.set(ns, n);
    if (n === 1) await this.transport.bindNotifications(ns);
  }

  /** @internal */
  async sessionUnlisten(_s: Session, ns: string): Promise<void> {
    const n = (this.ntfCounts.get(ns) ?? 0) - 1;
    if (n > 0) { this.ntfCounts.set(ns, n); return; }
    this.ntfCounts.delete(ns);
    if (this.state === 'stopped') return;
    await this.ready;
    await this.transport.unbindNotifications(ns).catch((err) => this.log('warn', `peer ${this.id}: unbind ${ns}: ${(err as Error).message}`));
  }

  /** @internal */
  sessionGone(s: Session): void {
    this.sessions.delete(s.seq);
    for (const ns of [...s.handlers.keys()]) { s.handlers.delete(ns); void this.sessionUnlisten(s, ns); }
  }

  /** A `_sess` call to another peer, from this peer's zero session (in the caller's context, as any call). */
  private invokeSession(peer: string, cmd: string, payload: Record<string, unknown>, opts: CallOptions): Promise<unknown> {
    return this.invoke({ mode: 'unicast', target: peer, ns: SESSION_NAMESPACE, cmd, payload, messageId: `${this.id}.0@0#${++this.zeroSeq}`, replyMode: 'c', opts });
  }

  // ---- incoming ----------------------------------------------------------------------------------

  /** The revision a message came from (local session, remote session, or closed). */
  private sourceOf(id: MessageId): Revision {
    const sid = `${formatPeerId(id.ref.session.peer)}.${id.ref.session.seq}`;
    if (samePeer(id.ref.session.peer, this.peerId)) {
      const s = this.sessions.get(id.ref.session.seq);
      if (!s) return new ClosedRevision(sid, id.ref.rev);
      if (id.ref.rev > s.state.rev) throw new PlexusError('BAD_REQUEST', 'revision is from the future');
      return new LocalRevision(s.state, id.ref.rev);
    }
    return this.remote.at(sid, id.ref.rev);
  }

  /** @internal a log line prefixed with this peer's id. */
  logLine(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.log(level, `peer ${this.id}: ${message}`);
  }

  /** @internal reject a delivery, logged. */
  rejectDelivery(d: Delivery, requeue: boolean, why: string): void {
    this.log('warn', `peer ${this.id}: ${requeue ? 'requeued' : 'rejected'} ${why}`);
    try { d.reject(requeue); } catch { /* channel gone: the broker requeues */ }
  }

  private onRequest(d: Delivery): void {
    let req: IncomingRequest;
    try {
      req = parseRequest(d);
    } catch (err) {
      return this.badRequest(d, err);
    }
    const handler = this.handlers.get(req.namespace);
    if (!handler || this.state === 'stopped') {
      // Requeue only a balanced request for a namespace we just stopped serving (another peer may take
      // it); anything else would loop forever, so it is answered (if a reply is wanted) and dropped.
      const raced = req.balanced && !this.handlers.has(d.routingKey) && d.routingKey === req.namespace && !d.redelivered;
      if (raced) return this.rejectDelivery(d, true, `${labelOf(req)}: no longer listening to ${req.namespace}`);
      this.respondError(req, `peer ${this.id} does not listen to namespace '${req.namespace}'`);
      return this.rejectDelivery(d, false, `${labelOf(req)}: not listening to namespace '${req.namespace}'`);
    }
    if (req.balanced && d.routingKey !== req.namespace) {
      this.respondError(req, `namespace header '${req.namespace}' does not match the queue's namespace '${d.routingKey}'`);
      return this.rejectDelivery(d, false, `${labelOf(req)}: namespace header does not match routing key '${d.routingKey}'`);
    }
    if (req.deadline !== undefined && req.deadline <= Date.now()) return this.rejectDelivery(d, false, `${labelOf(req)}: deadline already passed`);
    let source: Revision, payload: unknown;
    try {
      source = this.sourceOf(req.id);
      payload = decodePayload(req.body);
    } catch (err) {
      this.respondError(req, toPlexusError(err).message);
      return this.rejectDelivery(d, false, `${labelOf(req)}: ${toPlexusError(err).message}`);
    }
    this.handle(d, req, handler, { id: req.messageId, traceId: req.traceId, deadline: req.deadline, source, namespace: req.namespace, command: req.command, payload });
  }

  private badRequest(d: Delivery, err: unknown): void {
    const id = typeof d.properties.messageId === 'string' ? d.properties.messageId.slice(0, 100) : '(no message id)';
    this.rejectDelivery(d, false, `malformed request ${id} via ${d.exchange}: ${toPlexusError(err).message}`);
  }

  /** Answer a request we cannot handle with a server error, when its caller waits for one. */
  private respondError(req: IncomingRequest, message: string): void {
    if (req.replyMode === '' || (req.deadline !== undefined && req.deadline <= Date.now())) return;
    const warn = (err: unknown): void => this.log('warn', `peer ${this.id}: response to ${req.messageId} not sent: ${(err as Error).message}`);
    try { this.publishResponse(req, { kind: 'e', body: new TextEncoder().encode(message) })?.catch(warn); } catch (err) { warn(err); }
  }

  /**
   * @internal Publish the response to a request (nothing when no reply is wanted or the deadline
   * passed). Throws, or rejects, when it cannot be published: the caller then leaves the request
   * unacknowledged so that it is delivered again, never acks it.
   */
  publishResponse(req: IncomingRequest, r: { kind: 's' | 'f' | 'e'; body: Uint8Array; failureType?: string; failureMessage?: string }): void | Promise<void> {
    if (req.replyMode === '') return;
    if (req.deadline !== undefined && req.deadline <= Date.now()) return;
    const out: Parameters<typeof buildResponse>[0] = { requestId: req.messageId, ...r };
    if (req.deadline !== undefined) out.deadline = req.deadline;
    out.traceId = req.traceId; // rinq-go sets the trace id (the root message id) on every response
    if (req.replyMode === 'u') out.uncorrelated = { namespace: req.namespace, command: req.command };
    return this.transport.publish(buildResponse(out));
  }

  private handle(d: Delivery, req: IncomingRequest, handler: CommandHandler, request: Request): void {
    this.inflight++;
    const h = new Handling(this, d, req);
    h.timer = deadlines.after(req.deadline !== undefined ? Math.max(0, req.deadline - Date.now()) : BUS_HANDLER_TIMEOUT_MS, h.expire, h);
    let ret: void | Promise<void>;
    try {
      ret = runInContext(request, () => handler(request, h));
    } catch (err) {
      return h.finish(err);
    }
    if (ret && typeof (ret as Promise<void>).then === 'function') (ret as Promise<void>).then(() => h.finish(), (err: unknown) => h.finish(err ?? new Error('handler rejected')));
    else h.finish();
  }

  /** @internal a handler finished (or was given up on). */
  handlerGone(): void {
    this.inflight--;
    this.idleCheck();
  }

  private onResponse(d: Delivery): void {
    let r: IncomingResponse;
    try {
      r = parseResponse(d);
    } catch (err) {
      return this.rejectDelivery(d, false, `malformed response for ${d.routingKey.slice(0, 100)}: ${toPlexusError(err).message}`);
    }
    if (r.uncorrelated) return this.onAsyncResponse(d, r);
    const p = this.pending.get(r.requestId);
    if (!p) {
      this.log('debug', `peer ${this.id}: response for ${r.requestId} arrived after its call ended`);
      try { d.reject(false); } catch { /* ignore */ }
      return;
    }
    try { d.ack(); } catch { /* ignore */ }
    p.settle(r);
  }

  private onAsyncResponse(d: Delivery, r: IncomingResponse): void {
    let session: Session | undefined;
    try {
      const sid = parseSessionIdOfMessage(r.requestId);
      if (samePeer(sid.peer, this.peerId)) session = this.sessions.get(sid.seq);
    } catch (err) {
      return this.rejectDelivery(d, false, `async response with invalid id ${r.requestId.slice(0, 100)}`);
    }
    const handler = session?.asyncHandler;
    if (!session || !handler) { try { d.reject(false); } catch { /* ignore */ } return; }
    let payload: unknown = null, error: PlexusError | undefined;
    try { payload = responseValue(r); } catch (err) { error = toPlexusError(err); if (isFailure(err)) payload = err.payload; }
    try { d.ack(); } catch { /* ignore */ }
    const a: AsyncResponse = error ? { id: r.requestId, namespace: r.uncorrelated!.namespace, command: r.uncorrelated!.command, payload, error } : { id: r.requestId, namespace: r.uncorrelated!.namespace, command: r.uncorrelated!.command, payload };
    // the handler runs in the response's trace (as rinq-go's async handler ctx), without a deadline
    const corr = d.properties.correlationId;
    const ctx: BusContext = { traceId: typeof corr === 'string' && corr !== '' ? corr : r.requestId };
    this.runUserCode(() => runInContext(ctx, () => handler(a, session!)), `async response handler for ${r.requestId}`);
  }

  private onNotification(d: Delivery): void {
    let n: ReturnType<typeof parseNotification>, source: Revision, payload: unknown, constraint: Constraint | undefined;
    try {
      n = parseNotification(d);
      source = this.sourceOf(n.id);
      if (n.constraint) constraint = constraintFromWire(decodePayload(n.constraint));
      payload = decodePayload(n.body);
    } catch (err) {
      const id = typeof d.properties.messageId === 'string' ? d.properties.messageId.slice(0, 100) : '(no message id)';
      return this.rejectDelivery(d, false, `malformed notification ${id} via ${d.exchange}: ${toPlexusError(err).message}`);
    }
    try { d.ack(); } catch { /* ignore */ }
    const targets: Session[] = [];
    if (n.target) {
      const s = samePeer(n.target.peer, this.peerId) ? this.sessions.get(n.target.seq) : undefined;
      if (s) targets.push(s);
    } else {
      for (const s of this.sessions.values()) if (s.handlers.has(n.namespace) && matchConstraint(constraint!, n.namespace, s.state.lookup)) targets.push(s);
    }
    for (const s of targets) {
      const h = s.handlers.get(n.namespace);
      if (!h) continue;
      const note: Notification = constraint
        ? { id: n.messageId, traceId: n.traceId, source, namespace: n.namespace, type: n.type, payload, isMulticast: true, constraint }
        : { id: n.messageId, traceId: n.traceId, source, namespace: n.namespace, type: n.type, payload, isMulticast: false };
      this.runUserCode(() => runInContext(note, () => h(note, s)), `notification handler for ${n.messageId}`);
    }
  }

  private runUserCode(f: () => void | Promise<void>, what: string): void {
    this.inflight++;
    const end = (err?: unknown): void => {
      if (err !== undefined) this.log('warn', `peer ${this.id}: ${what} threw: ${err instanceof Error ? err.message : String(err)}`);
      this.inflight--;
      this.idleCheck();
    };
    try {
      const r = f();
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).then(() => end(), (e: unknown) => end(e ?? new Error('rejected')));
      else end();
    } catch (err) { end(err); }
  }

  /** Owner side of the remote session protocol. */
  private serveSession(req: Request, res: Response): void {
    try {
      const out = serveSessionRequest(req.command, req.payload, (seq) => this.sessions.get(seq)?.state);
      if (out === undefined) res.close(); else res.done(out);
    } catch (err) {
      res.error(err);
    }
  }
}

/**
 * One request being handled: the handler's `Response`, the delivery's settlement and the handler's
 * deadline. A class, not closures: handling a request allocates this object and nothing else.
 */
class Handling implements Response {
  timer: Deadline | undefined;
  private closed = false;
  private settled = false;
  private abandoned = false;
  private counted = true;
  constructor(private readonly peer: Peer, private readonly d: Delivery, private readonly req: IncomingRequest) {}

  private get label(): string { return labelOf(this.req); }
  private expired(): boolean { return this.req.deadline !== undefined && this.req.deadline <= Date.now(); }

  get isRequired(): boolean { return !this.closed && this.req.replyMode !== '' && !this.expired(); }
  get isClosed(): boolean { return this.closed; }

  private settle(how: 'ack' | 'requeue' | 'drop', why?: string): void {
    if (this.settled) return;
    this.settled = true;
    if (how === 'ack') { try { this.d.ack(); } catch { /* channel gone */ } }
    else this.peer.rejectDelivery(this.d, how === 'requeue', `${this.label}: ${why}`);
  }

  /** Send the answer; ack once it is published, else leave the request for redelivery. */
  private answer(r: Parameters<Peer['publishResponse']>[1]): void {
    let p: void | Promise<void>;
    try { p = this.peer.publishResponse(this.req, r); } catch (err) { return this.unsent(err); }
    if (p) p.then(() => this.settle('ack'), (err: unknown) => this.unsent(err));
    else this.settle('ack');
  }

  private unsent(err: unknown): void {
    this.settle('requeue', `response not sent (${err instanceof Error ? err.message : String(err)}), left for redelivery`);
  }

  /** Claim the response; false (logged, nothing sent) when already answered or given up on. */
  private claim(): boolean {
    if (this.closed) {
      this.peer.logLine(this.abandoned ? 'debug' : 'warn', `${this.label}: answer ignored, the response is already ${this.abandoned ? 'abandoned (deadline passed or handler finished)' : 'closed'}`);
      return false;
    }
    this.closed = true;
    return true;
  }

  done(payload: unknown = null): void {
    const body = encodePayload(payload);
    if (!this.claim()) return;
    this.answer({ kind: 's', body });
  }

  fail(type: string, message = '', payload: unknown = null): Failure {
    const f = new Failure(type, message, payload);
    this.error(f);
    return f;
  }

  error(err: unknown): void {
    if (isFailure(err)) {
      const body = encodePayload(err.payload);
      if (!this.claim()) return;
      this.answer({ kind: 'f', body, failureType: err.type, failureMessage: err.failureMessage });
    } else {
      if (!this.claim()) return;
      this.answer({ kind: 'e', body: new TextEncoder().encode(err instanceof Error ? err.message : String(err)) });
    }
  }

  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.answer({ kind: 's', body: new Uint8Array(0) });
    return true;
  }

  private uncount(): void {
    if (!this.counted) return;
    this.counted = false;
    this.peer.handlerGone();
  }

  /** The request's deadline (or BUS_HANDLER_TIMEOUT_MS for an execute) passed before the handler finished. */
  expire(): void {
    this.timer = undefined;
    this.uncount(); // an abandoned handler no longer holds up gracefulStop
    if (this.closed) return;
    this.closed = this.abandoned = true; // a late answer is ignored
    // deadline passed: the caller gave up, so drop (as rinq); an execute handler that hangs is
    // retried once by another consumer, then dropped
    if (this.req.deadline === undefined && this.req.balanced && !this.d.redelivered) this.settle('requeue', `handler did not answer within ${BUS_HANDLER_TIMEOUT_MS} ms`);
    else this.settle('drop', 'handler did not answer before the deadline');
  }

  /** The handler returned, or its promise settled (`err` when it threw / rejected). */
  finish(err?: unknown): void {
    if (this.timer !== undefined) { this.timer.cancel(); this.timer = undefined; }
    if (err !== undefined) {
      this.peer.logLine('warn', `handler for ${this.label} threw: ${err instanceof Error ? err.message : String(err)}`);
      if (!this.closed && this.isRequired) { try { this.error(err); } catch { /* closed meanwhile */ } }
    }
    if (!this.closed) {
      this.closed = this.abandoned = true;
      if (this.req.balanced && !this.expired() && !(err !== undefined && this.d.redelivered)) this.settle('requeue', err !== undefined ? 'handler threw' : 'handler returned without answering');
      else this.settle('drop', err !== undefined ? 'handler threw' : 'handler did not respond');
    }
    this.uncount();
  }
}

function labelOf(req: IncomingRequest): string { return `request ${req.messageId} (${req.namespace}::${req.command})`; }

function parseSessionIdOfMessage(messageId: string): { peer: PeerId; seq: number } {
  const at = messageId.lastIndexOf('@');
  if (at < 0) throw new PlexusError('BAD_REQUEST', 'invalid message id');
  return parseSessionId(messageId.slice(0, at));
}

/** The value of a response: its payload, or the Failure / server error it carries. */
function responseValue(r: IncomingResponse): unknown {
  switch (r.kind) {
    case 's': return decodePayload(r.body);
    case 'f': throw new Failure(r.failureType!, r.failureMessage ?? '', decodePayload(r.body));
    case 'e': throw serverError(utf8.decode(r.body));
  }
}
