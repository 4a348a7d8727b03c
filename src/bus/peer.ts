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
import { Session, type AsyncResponse, type CallOptions, type Notification } from './session.js';
import type { Delivery, Transport, TransportSink, WireMessage } from './transport/transport.js';
import { Deadlines, type Deadline } from './deadlines.js';
import {
  SESSION_NAMESPACE, buildMulticastNotification, buildRequest, buildResponse, buildUnicastNotification,
  parseNotification, parseRequest, parseResponse, type IncomingRequest, type IncomingResponse, type ReplyMode, type RequestMode,
} from './wire.js';

/** A command request as a handler sees it. */
export interface Request {
  /** Message id `<caller ref>#<seq>`. */
  readonly id: string;
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
    this.remote = new RemoteSessions((peer, cmd, payload) => this.invokeSession(peer, cmd, payload));
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
    const timeoutMs = o.opts.timeoutMs ?? this.defaultTimeoutMs;
    if (!(timeoutMs > 0)) return Promise.reject(new PlexusError('BAD_REQUEST', 'timeoutMs must be positive'));
    const signal = o.opts.signal;
    if (signal?.aborted) return Promise.reject(new PlexusError('ABORTED', 'call aborted', { cause: signal.reason }));
    const deadline = Date.now() + timeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      let timer: Deadline | undefined;
      const onAbort = (): void => done(() => reject(new PlexusError('ABORTED', `call to ${o.ns}::${o.cmd} aborted`, { cause: signal?.reason })));
      const done = (f: () => void): void => {
        if (!this.pending.delete(o.messageId) && timer === undefined) return;
        if (timer !== undefined) timer.cancel();
        timer = undefined;
        signal?.removeEventListener('abort', onAbort);
        f();
        this.idleCheck();
      };
      this.pending.set(o.messageId, {
        settle: (r) => done(() => {
          if ((r as { closed?: boolean }).closed) return reject(new PlexusError('CLOSED', `peer ${this.id} stopped before ${o.ns}::${o.cmd} answered`));
          try { resolve(responseValue(r)); } catch (err) { reject(err); }
        }),
      });
      timer = deadlines.after(timeoutMs, () => done(() => reject(new PlexusError('TIMEOUT', `call to ${o.ns}::${o.cmd} timed out after ${timeoutMs} ms`, { detail: { id: o.messageId } }))));
      signal?.addEventListener('abort', onAbort, { once: true });
      const req = { mode: o.mode, namespace: o.ns, command: o.cmd, messageId: o.messageId, replyMode: o.replyMode, deadline, body } as Parameters<typeof buildRequest>[0];
      if (o.target) req.target = o.target;
      this.send(buildRequest(req), (err) => done(() => reject(isPlexusError(err) ? err : new PlexusError('UNAVAILABLE', `publishing ${o.ns}::${o.cmd}: ${(err as Error).message}`, { cause: err }))));
    });
  }

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
    const deadline = Date.now() + (opts.timeoutMs ?? this.defaultTimeoutMs);
    await this.transport.publish(buildRequest({ mode: 'balanced', namespace: ns, command: cmd, messageId, replyMode: 'u', deadline, body }));
    return messageId;
  }

  /** @internal */
  async sessionExecute(s: Session, ns: string, cmd: string, payload: unknown, multicast: boolean): Promise<void> {
    this.alive();
    const body = encodePayload(payload);
    await this.ready;
    await this.transport.publish(buildRequest({ mode: multicast ? 'multicast' : 'balanced', namespace: ns, command: cmd, messageId: s.nextMessageId(), replyMode: '', body }));
  }

  /** @internal */
  async sessionNotify(s: Session, ns: string, type: string, target: string, payload: unknown): Promise<void> {
    this.alive();
    const sid = parseSessionId(target);
    const body = encodePayload(payload);
    await this.ready;
    await this.transport.publish(buildUnicastNotification({ messageId: s.nextMessageId(), namespace: ns, type, target, targetPeer: formatPeerId(sid.peer), body }));
  }

  /** @internal */
  async sessionNotifyMany(s: Session, ns: string, type: string, c: Constraint, payload: unknown): Promise<void> {
    this.alive();
    const body = encodePayload(payload);
    const constraint = encodePayload(constraintToWire(c));
    await this.ready;
    await this.transport.publish(buildMulticastNotification({ messageId: s.nextMessageId(), namespace: ns, type, constraint, body }));
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

  /** A `_sess` call to another peer, from this peer's zero session. */
  private invokeSession(peer: string, cmd: string, payload: Record<string, unknown>): Promise<unknown> {
    return this.invoke({ mode: 'unicast', target: peer, ns: SESSION_NAMESPACE, cmd, payload, messageId: `${this.id}.0@0#${++this.zeroSeq}`, replyMode: 'c', opts: {} });
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

  private reject(d: Delivery, requeue: boolean, why: string): void {
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
    const label = `request ${req.messageId} (${req.namespace}::${req.command})`;
    const handler = this.handlers.get(req.namespace);
    if (!handler || this.state === 'stopped') {
      // Requeue only a balanced request for a namespace we just stopped serving (another peer may take
      // it); anything else would loop forever, so it is answered (if a reply is wanted) and dropped.
      const raced = req.balanced && !this.handlers.has(d.routingKey) && d.routingKey === req.namespace && !d.redelivered;
      if (raced) return this.reject(d, true, `${label}: no longer listening to ${req.namespace}`);
      this.respondError(req, `peer ${this.id} does not listen to namespace '${req.namespace}'`);
      return this.reject(d, false, `${label}: not listening to namespace '${req.namespace}'`);
    }
    if (req.balanced && d.routingKey !== req.namespace) {
      this.respondError(req, `namespace header '${req.namespace}' does not match the queue's namespace '${d.routingKey}'`);
      return this.reject(d, false, `${label}: namespace header does not match routing key '${d.routingKey}'`);
    }
    if (req.deadline !== undefined && req.deadline <= Date.now()) return this.reject(d, false, `${label}: deadline already passed`);
    let source: Revision, payload: unknown;
    try {
      source = this.sourceOf(req.id);
      payload = decodePayload(req.body);
    } catch (err) {
      this.respondError(req, toPlexusError(err).message);
      return this.reject(d, false, `${label}: ${toPlexusError(err).message}`);
    }
    this.handle(d, req, handler, { id: req.messageId, source, namespace: req.namespace, command: req.command, payload }, label);
  }

  private badRequest(d: Delivery, err: unknown): void {
    const id = typeof d.properties.messageId === 'string' ? d.properties.messageId.slice(0, 100) : '(no message id)';
    this.reject(d, false, `malformed request ${id} via ${d.exchange}: ${toPlexusError(err).message}`);
  }

  /** Answer a request we cannot handle with a server error, when its caller waits for one. */
  private respondError(req: IncomingRequest, message: string): void {
    if (req.replyMode === '' || (req.deadline !== undefined && req.deadline <= Date.now())) return;
    this.publishResponse(req, { kind: 'e', body: new TextEncoder().encode(message) });
  }

  private publishResponse(req: IncomingRequest, r: { kind: 's' | 'f' | 'e'; body: Uint8Array; failureType?: string; failureMessage?: string }): void {
    if (req.replyMode === '') return;
    if (req.deadline !== undefined && req.deadline <= Date.now()) return;
    const out: Parameters<typeof buildResponse>[0] = { requestId: req.messageId, ...r };
    if (req.deadline !== undefined) out.deadline = req.deadline;
    out.traceId = req.traceId; // rinq-go sets the trace id (the root message id) on every response
    if (req.replyMode === 'u') out.uncorrelated = { namespace: req.namespace, command: req.command };
    this.send(buildResponse(out), (err) => this.log('warn', `peer ${this.id}: response to ${req.messageId} not sent: ${(err as Error).message}`));
  }

  private handle(d: Delivery, req: IncomingRequest, handler: CommandHandler, request: Request, label: string): void {
    let closed = false, settled = false;
    const settle = (how: 'ack' | 'requeue' | 'drop', why?: string): void => {
      if (settled) return;
      settled = true;
      if (how === 'ack') { try { d.ack(); } catch { /* channel gone */ } }
      else this.reject(d, how === 'requeue', `${label}: ${why}`);
    };
    let abandoned = false;
    /** Claim the response; false (logged, nothing sent) when already answered or given up on. */
    const close = (): boolean => {
      if (closed) {
        this.log(abandoned ? 'debug' : 'warn', `peer ${this.id}: ${label}: answer ignored, the response is already ${abandoned ? 'abandoned (deadline passed or handler finished)' : 'closed'}`);
        return false;
      }
      closed = true;
      return true;
    };
    const expired = (): boolean => req.deadline !== undefined && req.deadline <= Date.now();
    const res: Response = {
      get isRequired() { return !closed && req.replyMode !== '' && !expired(); },
      get isClosed() { return closed; },
      done: (payload: unknown = null) => {
        const body = encodePayload(payload);
        if (!close()) return;
        this.publishResponse(req, { kind: 's', body });
        settle('ack');
      },
      fail: (type: string, message = '', payload: unknown = null) => {
        const f = new Failure(type, message, payload);
        res.error(f);
        return f;
      },
      error: (err: unknown) => {
        if (isFailure(err)) {
          const body = encodePayload(err.payload);
          if (!close()) return;
          this.publishResponse(req, { kind: 'f', body, failureType: err.type, failureMessage: err.failureMessage });
        } else {
          if (!close()) return;
          this.publishResponse(req, { kind: 'e', body: new TextEncoder().encode(err instanceof Error ? err.message : String(err)) });
        }
        settle('ack');
      },
      close: () => {
        if (closed) return false;
        close();
        this.publishResponse(req, { kind: 's', body: new Uint8Array(0) });
        settle('ack');
        return true;
      },
    };

    this.inflight++;
    let counted = true;
    const uncount = (): void => {
      if (!counted) return;
      counted = false;
      this.inflight--;
      this.idleCheck();
    };
    const limit = req.deadline !== undefined ? Math.max(0, req.deadline - Date.now()) : BUS_HANDLER_TIMEOUT_MS;
    let timer: Deadline | undefined = deadlines.after(limit, () => {
      timer = undefined;
      uncount(); // an abandoned handler no longer holds up gracefulStop
      if (closed) return;
      closed = abandoned = true; // a late answer is ignored
      // deadline passed: the caller gave up, so drop (as rinq); an execute handler that hangs is
      // retried once by another consumer, then dropped
      if (req.deadline === undefined && req.balanced && !d.redelivered) settle('requeue', `handler did not answer within ${limit} ms`);
      else settle('drop', `handler did not answer before the deadline`);
    });
    const finish = (err?: unknown): void => {
      if (timer !== undefined) { timer.cancel(); timer = undefined; }
      if (err !== undefined) {
        this.log('warn', `peer ${this.id}: handler for ${label} threw: ${err instanceof Error ? err.message : String(err)}`);
        if (!closed && res.isRequired) { try { res.error(err); } catch { /* closed meanwhile */ } }
      }
      if (!closed) {
        closed = abandoned = true;
        if (req.balanced && !expired() && !(err !== undefined && d.redelivered)) settle('requeue', err !== undefined ? 'handler threw' : 'handler returned without answering');
        else settle('drop', err !== undefined ? 'handler threw' : 'handler did not respond');
      }
      uncount();
    };
    let ret: void | Promise<void>;
    try {
      ret = handler(request, res);
    } catch (err) {
      return finish(err);
    }
    if (ret && typeof (ret as Promise<void>).then === 'function') (ret as Promise<void>).then(() => finish(), (err: unknown) => finish(err ?? new Error('handler rejected')));
    else finish();
  }

  private onResponse(d: Delivery): void {
    let r: IncomingResponse;
    try {
      r = parseResponse(d);
    } catch (err) {
      return this.reject(d, false, `malformed response for ${d.routingKey.slice(0, 100)}: ${toPlexusError(err).message}`);
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
      return this.reject(d, false, `async response with invalid id ${r.requestId.slice(0, 100)}`);
    }
    const handler = session?.asyncHandler;
    if (!session || !handler) { try { d.reject(false); } catch { /* ignore */ } return; }
    let payload: unknown = null, error: PlexusError | undefined;
    try { payload = responseValue(r); } catch (err) { error = toPlexusError(err); if (isFailure(err)) payload = err.payload; }
    try { d.ack(); } catch { /* ignore */ }
    const a: AsyncResponse = error ? { id: r.requestId, namespace: r.uncorrelated!.namespace, command: r.uncorrelated!.command, payload, error } : { id: r.requestId, namespace: r.uncorrelated!.namespace, command: r.uncorrelated!.command, payload };
    this.runUserCode(() => handler(a, session!), `async response handler for ${r.requestId}`);
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
      return this.reject(d, false, `malformed notification ${id} via ${d.exchange}: ${toPlexusError(err).message}`);
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
        ? { id: n.messageId, source, namespace: n.namespace, type: n.type, payload, isMulticast: true, constraint }
        : { id: n.messageId, source, namespace: n.namespace, type: n.type, payload, isMulticast: false };
      this.runUserCode(() => h(note, s), `notification handler for ${n.messageId}`);
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
